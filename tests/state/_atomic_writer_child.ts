// Child process for atomic_test.ts: rewrites one file forever with alternating full contents, printing
// "ready" after the first complete write, until it is killed.
import { writeFileAtomic } from "../../src/state/mod.ts";

const [path] = Deno.args;
const size = 512 * 1024;
const a = new Uint8Array(size).fill(0x41);
const b = new Uint8Array(size).fill(0x42);
let i = 0;
while (true) {
  await writeFileAtomic(path, i % 2 === 0 ? a : b);
  if (i === 0) console.log("ready");
  i++;
}
