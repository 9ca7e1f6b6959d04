import assert from "node:assert/strict";
import { UsageError } from "../../src/errors.ts";
import { CloneFailure } from "../../src/replicate/errors.ts";
import {
  checkSshOption,
  classifySshFailure,
  describeTarget,
  parseTarget,
  shQuote,
  sshArgs,
} from "../../src/replicate/ssh.ts";

Deno.test("parseTarget() reads user@host, bare hosts and bracketed IPv6", () => {
  const cases: [string, { user?: string; host: string }][] = [
    ["pi@raspberrypi.local", { user: "pi", host: "raspberrypi.local" }],
    ["root@127.0.0.1", { user: "root", host: "127.0.0.1" }],
    ["board7", { user: undefined, host: "board7" }],
    ["pi@[::1]", { user: "pi", host: "::1" }],
    ["admin@fe80::1%eth0", { user: "admin", host: "fe80::1%eth0" }],
  ];
  for (const [text, want] of cases) assert.deepEqual(parseTarget(text), want, text);
});

Deno.test("parseTarget() rejects bad targets with a UsageError naming the value", () => {
  for (
    const bad of ["", "pi@", "pi@host name", "-oProxyCommand=x", "pi@-oProxyCommand=x", "bad user@h", "p;i@h"]
  ) {
    assert.throws(() => parseTarget(bad), (e) => e instanceof UsageError, bad);
  }
  assert.throws(
    () => parseTarget("pi@board:2222"),
    (e) => e instanceof UsageError && /--port/.test(e.hint ?? ""),
  );
});

Deno.test("sshArgs() always checks host keys and never prompts", () => {
  const strict = sshArgs({ target: { host: "h" }, acceptNewHostKey: false });
  assert.ok(strict.includes("BatchMode=yes"));
  assert.ok(strict.includes("StrictHostKeyChecking=yes"));
  const acceptNew = sshArgs({
    target: { host: "h" },
    port: 2222,
    identity: "/k",
    knownHosts: "/kh",
    sshConfig: "/dev/null",
    acceptNewHostKey: true,
    extraOptions: ["ServerAliveInterval=10"],
  });
  assert.ok(acceptNew.includes("StrictHostKeyChecking=accept-new"));
  assert.deepEqual(acceptNew.slice(0, 4), ["-F", "/dev/null", "-p", "2222"]);
  assert.ok(acceptNew.includes("IdentitiesOnly=yes"));
  assert.ok(acceptNew.includes("UserKnownHostsFile=/kh"));
  assert.ok(acceptNew.includes("ServerAliveInterval=10"));
  for (const args of [strict, acceptNew]) {
    assert.ok(!args.some((a) => /StrictHostKeyChecking=no/i.test(a)));
  }
});

Deno.test("checkSshOption() refuses options that weaken host key checking or allow prompts", () => {
  for (
    const bad of [
      "StrictHostKeyChecking=no",
      "stricthostkeychecking no",
      "BatchMode=no",
      "PasswordAuthentication=yes",
    ]
  ) {
    assert.throws(() => checkSshOption(bad), (e) => e instanceof UsageError, bad);
  }
  assert.throws(() => checkSshOption("novalue"), (e) => e instanceof UsageError);
  assert.equal(checkSshOption("Compression yes"), "Compression=yes");
});

Deno.test("shQuote() survives a real sh for hostile strings", async () => {
  const values = ["plain", "with space", "it's", "$(touch /tmp/x)", "`id`", "a\nb", "'\"\\", "~/dir", ""];
  for (const v of values) {
    const out = await new Deno.Command("sh", { args: ["-c", `printf %s ${shQuote(v)}`] }).output();
    assert.equal(new TextDecoder().decode(out.stdout), v);
  }
});

Deno.test("classifySshFailure() maps real OpenSSH messages to kinds with hints", () => {
  const where = { target: { user: "pi", host: "board" }, port: 2222, step: "the probe" };
  const cases: [number, string, string][] = [
    [
      255,
      "No ED25519 host key is known for [board]:2222 and you have requested strict checking.\r\nHost key verification failed.\r\n",
      CloneFailure.UnknownHostKey,
    ],
    [
      255,
      "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\nHost key verification failed.\n",
      CloneFailure.ChangedHostKey,
    ],
    [255, "pi@board: Permission denied (publickey).\r\n", CloneFailure.AuthFailed],
    [255, "ssh: connect to host board port 2222: Connection refused\r\n", CloneFailure.Unreachable],
    [255, "ssh: Could not resolve hostname board: Name or service not known\r\n", CloneFailure.Unreachable],
    [255, "ssh: connect to host board port 2222: Connection timed out\r\n", CloneFailure.Unreachable],
    [1, "cat: write error: No space left on device\n", CloneFailure.NoSpace],
    [255, "Timeout, server board not responding.\r\n", CloneFailure.ConnectionLost],
    [255, "Connection closed by 192.0.2.7 port 2222\r\n", CloneFailure.ConnectionLost],
    [255, "", CloneFailure.ConnectionLost],
    [3, "sh: 1: frobnicate: not found\n", CloneFailure.RemoteCommandFailed],
  ];
  for (const [code, stderr, kind] of cases) {
    const e = classifySshFailure(code, stderr, where);
    assert.equal(e.kind, kind, stderr);
    assert.ok(e.message.includes("pi@board"), e.message);
    assert.ok(e.hint && e.hint.length > 10, `${kind} has a hint`);
  }
  const unknown = classifySshFailure(255, cases[0][1], where);
  assert.match(unknown.hint!, /--accept-new-host-key/);
  assert.match(unknown.hint!, /ssh-keyscan -p 2222 board/);
  const changed = classifySshFailure(255, cases[1][1], where);
  assert.match(changed.hint!, /ssh-keygen -R '\[board\]:2222'/);
  assert.doesNotMatch(changed.hint!, /StrictHostKeyChecking=no/);
});

Deno.test("describeTarget() shows the port only when it is not 22", () => {
  assert.equal(describeTarget({ user: "pi", host: "b" }, 22), "pi@b");
  assert.equal(describeTarget({ user: "pi", host: "b" }, 2222), "pi@b (port 2222)");
  assert.equal(describeTarget({ host: "::1" }), "[::1]");
});
