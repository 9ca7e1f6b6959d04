/**
 * Paths that are the wrong kind of thing (a directory for a file, a file for a directory, a device) get
 * one line and exit 2, never a stack trace, and leave nothing behind. Runs the real program.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runAgent } from "../_support/cli.ts";
import { tempDir } from "../_support/temp_dir.ts";
import { snapshotTree } from "../_support/tree_snapshot.ts";

function assertOneLineUsageError(r: { code: number; stderr: string }, message: RegExp) {
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, message);
  assert.doesNotMatch(r.stderr, /\n\s+at |Uncaught|error: Uncaught/);
  const lines = r.stderr.trim().split("\n");
  assert.ok(lines.length <= 2, `at most an error line and a hint: ${r.stderr}`);
}

Deno.test("paths of the wrong kind get one line and exit 2, and nothing is left behind", async () => {
  await using tmp = await tempDir();
  const state = join(tmp.path, "state");
  assert.equal((await runAgent(["init", "--state", state])).code, 0);
  const file = join(tmp.path, "a-file");
  await Deno.writeTextFile(file, "x");
  const dir = join(tmp.path, "a-dir");
  await Deno.mkdir(dir);
  const before = await snapshotTree(tmp.path);

  const cases: { argv: string[]; message: RegExp; stdin?: string }[] = [
    { argv: ["status", "--state", state, "--config", dir], message: /Config file ".*a-dir" is a directory/ },
    {
      argv: ["status", "--state", state, "--config", "/dev/stdin"],
      stdin: "logging: {level: info}\n",
      message: /Config file "\/dev\/stdin" is not a regular file/,
    },
    { argv: ["status", "--state", file], message: /State directory ".*a-file" is not a directory/ },
    { argv: ["init", "--state", file], message: /State directory ".*a-file" is not a directory/ },
    { argv: ["infer", "--state", state, "--input", dir], message: /Input ".*a-dir" is a directory/ },
    { argv: ["id", "--state", state, "--png", dir], message: /Cannot write ".*a-dir": it is a directory/ },
    { argv: ["id", "--state", state, "--svg", dir], message: /Cannot write ".*a-dir": it is a directory/ },
  ];
  for (const c of cases) {
    const r = await runAgent(c.argv, c.stdin === undefined ? {} : { stdin: c.stdin });
    assertOneLineUsageError(r, c.message);
  }
  assert.deepEqual(await snapshotTree(tmp.path), before, "nothing written, no temp file left");
});
