import assert from "node:assert/strict";
import { COMMANDS, runCli } from "../../src/cli/mod.ts";
import { runAgent } from "../_support/cli.ts";
import { recordingIo } from "../_support/io.ts";
import { tempDir } from "../_support/temp_dir.ts";
import { snapshotTree } from "../_support/tree_snapshot.ts";

Deno.test("agent --help lists every registered command and exits 0", async () => {
  const r = await runAgent(["--help"]);
  assert.equal(r.code, 0);
  for (const c of COMMANDS) assert.match(r.stdout, new RegExp(`^  ${c.name} `, "m"));
});

Deno.test("agent --version prints the version from deno.json", async () => {
  const meta = JSON.parse(await Deno.readTextFile(new URL("../../deno.json", import.meta.url)));
  const io = recordingIo();
  assert.equal(await runCli(["--version"], io), 0);
  assert.equal(io.outText(), `agent ${meta.version}\n`);
});

Deno.test("every subcommand's --help exits 0 and shows its usage", async () => {
  for (const c of COMMANDS) {
    const io = recordingIo();
    assert.equal(await runCli([c.name, "--help"], io), 0, c.name);
    assert.match(io.outText(), new RegExp(`Usage:\\n  agent ${c.name}`), c.name);
    assert.equal(io.errText(), "");
  }
});

const BAD: { argv: string[]; message: RegExp; hint?: RegExp }[] = [
  { argv: [], message: /^$/ },
  { argv: ["frobnicate"], message: /Unknown command "frobnicate"/, hint: /agent --help/ },
  { argv: ["int"], message: /Unknown command "int"/, hint: /Did you mean 'agent init'/ },
  { argv: ["--state", "/tmp/x", "init"], message: /Expected a command before "--state"/ },
  {
    argv: ["init", "--nmae", "x"],
    message: /Unknown option "--nmae" for 'agent init'/,
    hint: /Did you mean --name/,
  },
  { argv: ["init", "--name"], message: /Option --name needs a value/ },
  { argv: ["init", "--force=yes"], message: /Option --force does not take a value/ },
  {
    argv: ["init", "extra"],
    message: /Unexpected argument "extra" for 'agent init'/,
    hint: /Usage: agent init/,
  },
  {
    argv: ["init", "--log-level", "loud"],
    message: /--log-level "loud" is not one of debug, info, warn, error/,
  },
  { argv: ["init", "--name", "has space"], message: /Option --name "has space" is not valid/ },
  { argv: ["init", "--model", "UPPER"], message: /Option --model "UPPER" is not valid/ },
  { argv: ["init", "--state", ""], message: /Option --state needs a non-empty value/ },
];

Deno.test("bad invocations exit 2 with a one-line error naming the input and a hint", async () => {
  for (const { argv, message, hint } of BAD) {
    const io = recordingIo();
    const code = await runCli(argv, io);
    assert.equal(code, 2, `exit code of ${JSON.stringify(argv)}`);
    if (argv.length === 0) {
      assert.match(io.outText(), /Usage: agent <command>/);
      continue;
    }
    const [first, second] = io.errText().split("\n");
    assert.match(first, /^agent: error: /, JSON.stringify(argv));
    assert.match(first, message, JSON.stringify(argv));
    if (hint) assert.match(second, hint, JSON.stringify(argv));
  }
});

Deno.test("agent init creates the state dir and a valid commented config, then is idempotent", async () => {
  await using dir = await tempDir();
  const state = `${dir.path}/s`;
  const first = await runAgent(["init", "--state", state, "--name", "board-1"]);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /Initialised/);
  const text = await Deno.readTextFile(`${state}/agent.yaml`);
  assert.match(text, /^ {2}name: board-1$/m);
  assert.match(text, /# UDP port every peer listens/);
  assert.equal((await Deno.stat(state)).mode! & 0o777, 0o700);

  const before = await snapshotTree(state);
  const again = await runAgent(["init", "--state", state]);
  assert.equal(again.code, 0);
  assert.match(again.stdout, /nothing changed/);
  assert.deepEqual(await snapshotTree(state), before);

  const conflict = await runAgent(["init", "--state", state, "--name", "board-2"]);
  assert.equal(conflict.code, 2);
  assert.match(conflict.stderr, /different node\.name than "board-2"/);
  assert.match(conflict.stderr, /--force/);
  assert.deepEqual(await snapshotTree(state), before);

  const forced = await runAgent(["init", "--state", state, "--name", "board-2", "--force", "--json"]);
  assert.equal(forced.code, 0, forced.stderr);
  assert.equal(JSON.parse(forced.stdout).changed, true);
  assert.match(await Deno.readTextFile(`${state}/agent.yaml`), /^ {2}name: board-2$/m);
});

Deno.test("a bad config file is reported with key path and line, and exits 2", async () => {
  await using dir = await tempDir();
  const cfg = `${dir.path}/agent.yaml`;
  await Deno.writeTextFile(cfg, "gossip:\n  port: 41234\n  maxDatagram: 9000\n");
  const io = recordingIo();
  // `init` validates an existing config before saying it is kept.
  const code = await runCli(["init", "--state", dir.path, "--config", cfg], io);
  assert.equal(code, 2);
  assert.match(
    io.errText(),
    /gossip\.maxDatagram: 9000 is out of range 512\.\.4096 \(.*agent\.yaml line 3\)/,
  );
});
