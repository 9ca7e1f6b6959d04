import assert from "node:assert/strict";
import { fileURLToPath as fromFileUrl } from "node:url";
import { CorruptStateError } from "../../src/errors.ts";
import {
  acquireStateLock,
  readChecked,
  readCheckedJson,
  removeStaleTempFiles,
  verifyChecked,
  writeChecked,
  writeCheckedJson,
  writeFileAtomic,
} from "../../src/state/mod.ts";
import { SeededRandom } from "../../src/time.ts";
import { tempDir } from "../_support/temp_dir.ts";

Deno.test("writeFileAtomic() replaces content and sets the exact mode", async () => {
  await using dir = await tempDir();
  const p = `${dir.path}/f`;
  await writeFileAtomic(p, "one");
  await writeFileAtomic(p, "two", { mode: 0o600 });
  assert.equal(await Deno.readTextFile(p), "two");
  assert.equal((await Deno.stat(p)).mode! & 0o777, 0o600);
  assert.deepEqual([...Deno.readDirSync(dir.path)].map((e) => e.name), ["f"]);
});

Deno.test("writeFileAtomic() leaves the old content when the writer fails at any step before rename", async () => {
  await using dir = await tempDir();
  const p = `${dir.path}/f`;
  await writeFileAtomic(p, "old");
  for (const failAt of ["written", "synced"] as const) {
    await assert.rejects(
      writeFileAtomic(p, "new", {
        onStep: (s) => {
          if (s === failAt) throw new Error(`crash at ${s}`);
        },
      }),
      /crash at/,
    );
    assert.equal(await Deno.readTextFile(p), "old", failAt);
  }
  // The crashes left temp files behind, as a real crash would; startup cleans them.
  assert.equal(await removeStaleTempFiles(dir.path), 2);
  assert.deepEqual([...Deno.readDirSync(dir.path)].map((e) => e.name), ["f"]);
});

Deno.test("writeFileAtomic() removes its temp file when a step fails (here: the rename)", async () => {
  await using dir = await tempDir();
  // The target is a non-empty directory: the file is written and synced, then rename() fails.
  const p = `${dir.path}/f`;
  await Deno.mkdir(`${p}/inside`, { recursive: true });
  for (let i = 0; i < 3; i++) {
    await assert.rejects(writeFileAtomic(p, new Uint8Array(4096)), Deno.errors.IsADirectory);
  }
  assert.deepEqual([...Deno.readDirSync(dir.path)].map((e) => e.name), ["f"]);
  assert.equal(await removeStaleTempFiles(dir.path), 0);
});

Deno.test("a process killed with SIGKILL mid-write leaves either the old or the new content", async () => {
  await using dir = await tempDir();
  const p = `${dir.path}/state.bin`;
  const child = fromFileUrl(new URL("./fixtures/atomic_writer_child.ts", import.meta.url));
  const rng = new SeededRandom(7);
  for (let round = 0; round < 8; round++) {
    const proc = new Deno.Command(Deno.execPath(), {
      args: ["run", "--quiet", "--allow-read", "--allow-write", child, p],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const reader = proc.stdout.getReader();
    const first = await reader.read();
    assert.match(new TextDecoder().decode(first.value), /ready/);
    // Let it run a random while (it rewrites the file continuously), then kill it without warning.
    await new Promise((r) => setTimeout(r, 20 + rng.next() * 200));
    proc.kill("SIGKILL");
    await proc.status;
    reader.releaseLock();
    await proc.stdout.cancel();
    const bytes = await Deno.readFile(p);
    assert.equal(bytes.length, 512 * 1024, `round ${round}: size`);
    assert.ok(
      bytes.every((b) => b === bytes[0]) && (bytes[0] === 0x41 || bytes[0] === 0x42),
      `round ${round}: mixed content`,
    );
    await removeStaleTempFiles(dir.path);
  }
});

Deno.test("writeChecked() given parts writes the same file as given their concatenation", async () => {
  await using dir = await tempDir();
  const payload = new Uint8Array(70_000).map((_, i) => (i * 31) >> 3);
  const parts = [
    payload.subarray(0, 10),
    payload.subarray(10, 10),
    payload.subarray(10, 65_537),
    payload.subarray(65_537),
  ];
  await writeChecked(`${dir.path}/whole.bin`, payload);
  await writeChecked(`${dir.path}/parts.bin`, parts, { mode: 0o600 });
  assert.deepEqual(
    await Deno.readFile(`${dir.path}/parts.bin`),
    await Deno.readFile(`${dir.path}/whole.bin`),
  );
  assert.deepEqual(await readChecked(`${dir.path}/parts.bin`), payload);
  assert.equal((await Deno.stat(`${dir.path}/parts.bin`)).mode! & 0o777, 0o600);
  await writeChecked(`${dir.path}/empty.bin`, []);
  assert.deepEqual(await readChecked(`${dir.path}/empty.bin`), new Uint8Array(0));
});

Deno.test("readChecked() detects truncation, bit flips and foreign files", async () => {
  await using dir = await tempDir();
  const p = `${dir.path}/ck.bin`;
  const payload = new Uint8Array(1000).map((_, i) => i * 7);
  await writeChecked(p, payload);
  assert.deepEqual(await readChecked(p), payload);
  assert.equal(await readChecked(`${dir.path}/missing`), undefined);
  // The streamed check reads the file in 64 KiB pieces and keeps only the head asked for.
  assert.deepEqual(await verifyChecked(p, 10), { length: 1000, head: payload.subarray(0, 10) });
  assert.deepEqual(await verifyChecked(p, 5000), { length: 1000, head: payload });
  assert.equal(await verifyChecked(`${dir.path}/missing`, 10), undefined);
  const big = new Uint8Array(200_000).map((_, i) => i % 251);
  await writeChecked(`${dir.path}/big.bin`, big);
  assert.deepEqual(await verifyChecked(`${dir.path}/big.bin`, 70_000), {
    length: 200_000,
    head: big.subarray(0, 70_000),
  });
  const flipped = await Deno.readFile(`${dir.path}/big.bin`);
  flipped[150_000] ^= 1;
  await Deno.writeFile(`${dir.path}/big.bin`, flipped);
  await assert.rejects(verifyChecked(`${dir.path}/big.bin`, 10), /checksum mismatch/);
  const good = await Deno.readFile(p);
  const cases: [string, Uint8Array, RegExp][] = [
    ["truncated", good.subarray(0, good.length - 1), /truncated/],
    ["header only", good.subarray(0, 20), /shorter than the 44-byte header/],
    ["flipped", good.map((b, i) => i === 500 ? b ^ 1 : b), /checksum mismatch/],
    ["foreign", new TextEncoder().encode("x".repeat(100)), /bad magic/],
  ];
  for (const [name, bytes, msg] of cases) {
    await Deno.writeFile(p, bytes);
    // Each read starts only when its rejection is awaited: a promise made early and rejected while
    // another is awaited would be an unhandled rejection.
    for (const read of [() => readChecked(p), () => verifyChecked(p, 10)]) {
      await assert.rejects(read, (e: unknown) => {
        assert.ok(e instanceof CorruptStateError, name);
        assert.match(e.message, msg, name);
        assert.match(e.message, /ck\.bin/);
        return true;
      });
    }
    // The corrupt file is reported, never silently replaced.
    assert.deepEqual(await Deno.readFile(p), bytes);
  }
});

Deno.test("readCheckedJson() detects hand edits and wrong formats", async () => {
  await using dir = await tempDir();
  const p = `${dir.path}/t.json`;
  await writeCheckedJson(p, "trust/v1", { peers: [{ name: "a" }] });
  assert.deepEqual(await readCheckedJson(p, "trust/v1"), { peers: [{ name: "a" }] });
  await assert.rejects(readCheckedJson(p, "other/v1"), /format is "trust\/v1", expected "other\/v1"/);
  const text = await Deno.readTextFile(p);
  await Deno.writeTextFile(p, text.replace('"a"', '"b"'));
  await assert.rejects(readCheckedJson(p, "trust/v1"), /checksum mismatch/);
  await Deno.writeTextFile(p, text.slice(0, 30));
  await assert.rejects(readCheckedJson(p, "trust/v1"), /not valid JSON/);
});

Deno.test("acquireStateLock() lets one holder in and names its PID to the second", async () => {
  await using dir = await tempDir();
  const lockPath = `${dir.path}/agent.lock`;
  const lock = await acquireStateLock(lockPath);
  // A second process must be refused with our PID in the message.
  const code = `import { acquireStateLock } from ${
    JSON.stringify(new URL("../../src/state/mod.ts", import.meta.url).href)
  };
    try { await acquireStateLock(${
    JSON.stringify(lockPath)
  }); console.log("acquired"); } catch (e) { console.log(e.message); }`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", code],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assert.match(text, new RegExp(`locked by PID ${Deno.pid}`));
  lock.release();
  lock.release();
  const again = await new Deno.Command(Deno.execPath(), { args: ["eval", code], stdout: "piped" }).output();
  assert.match(new TextDecoder().decode(again.stdout), /acquired/);
});
