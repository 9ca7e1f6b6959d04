import assert from "node:assert/strict";
import { UsageError } from "../../src/errors.ts";
import { checkDuplicates, parseHostSpec, parseInventory } from "../../src/replicate/inventory.ts";

Deno.test("parseHostSpec() reads user@host[:port] and IPv6 in brackets (table)", () => {
  const cases: [string, { user?: string; host: string; port?: number }][] = [
    ["pi@raspberrypi.local", { user: "pi", host: "raspberrypi.local" }],
    ["root@192.0.2.7:2222", { user: "root", host: "192.0.2.7", port: 2222 }],
    ["board-3", { host: "board-3" }],
    ["board-3:22", { host: "board-3", port: 22 }],
    ["pi@[2001:db8::7]:2200", { user: "pi", host: "2001:db8::7", port: 2200 }],
    ["pi@[2001:db8::7]", { user: "pi", host: "2001:db8::7" }],
    ["pi@2001:db8::7", { user: "pi", host: "2001:db8::7" }],
    ["root@10.77.0.41:65535", { user: "root", host: "10.77.0.41", port: 65535 }],
  ];
  for (const [text, want] of cases) {
    const s = parseHostSpec(text, "Argument 1");
    assert.deepEqual({ user: s.target.user, host: s.target.host, port: s.port }, {
      user: want.user,
      host: want.host,
      port: want.port,
    }, text);
  }
});

Deno.test("parseHostSpec() refuses bad ports, users and hosts with the place and the value (table)", () => {
  const cases: [string, RegExp][] = [
    ["root@host:0", /Argument 1: port "0" of "root@host:0" is not a number from 1 to 65535/],
    ["root@host:65536", /port "65536"/],
    ["root@host:ssh", /port "ssh"/],
    ["root@host:", /port ""/],
    ["root@[::1]:x", /port "x"/],
    ["bad user@host", /Argument 1: Target "bad user@host" has an invalid user name/],
    ["root@ho_st", /Argument 1: Target "root@ho_st" has an invalid host "ho_st"/],
    ["", /Argument 1: The target is empty/],
  ];
  for (const [text, msg] of cases) {
    assert.throws(() => parseHostSpec(text, "Argument 1"), (e) => {
      assert.ok(e instanceof UsageError, text);
      assert.match(e.message, msg, text);
      assert.ok(e.hint && /user@host:port/.test(e.hint), text);
      assert.ok(!e.message.includes("\n"), "one line");
      return true;
    });
  }
});

Deno.test("parseInventory() skips comments, blank lines and [group] headers, and keeps line numbers", () => {
  const text = [
    "# greenhouse boards",
    "",
    "[greenhouse]",
    "root@10.77.0.41:2222   # the first",
    "  root@10.77.0.42:2222",
    "; an INI comment",
    "[edge:children]",
    "pi@[fe80::1]:22",
    "pi@board-7",
    "\t",
  ].join("\r\n");
  const hosts = parseInventory(text, "boards.txt");
  assert.deepEqual(
    hosts.map((h) => [h.target.user, h.target.host, h.port, h.source]),
    [
      ["root", "10.77.0.41", 2222, 'Inventory "boards.txt" line 4'],
      ["root", "10.77.0.42", 2222, 'Inventory "boards.txt" line 5'],
      ["pi", "fe80::1", 22, 'Inventory "boards.txt" line 8'],
      ["pi", "board-7", undefined, 'Inventory "boards.txt" line 9'],
    ],
  );
});

Deno.test("parseInventory() refuses a bad line with one line naming the file, line and value (table)", () => {
  const cases: [string, RegExp][] = [
    ["root@a\nroot@b:99999\n", /^Inventory "hosts" line 2: port "99999" of "root@b:99999"/],
    [
      "root@a ansible_port=2222\n",
      /^Inventory "hosts" line 1: unexpected "ansible_port=2222" after the target "root@a"/,
    ],
    ["\n\nroot@bad_host\n", /^Inventory "hosts" line 3: Target "root@bad_host" has an invalid host/],
    ["# only comments\n\n[group]\n", /^Inventory "hosts" lists no targets$/],
    ["", /^Inventory "hosts" lists no targets$/],
    ["root@a\x07b\n", /^Inventory "hosts" line 1: contains control characters/],
    ["[not a group\n", /^Inventory "hosts" line 1: /],
  ];
  for (const [text, msg] of cases) {
    assert.throws(() => parseInventory(text, "hosts"), (e) => {
      assert.ok(e instanceof UsageError, JSON.stringify(text));
      assert.match(e.message, msg, JSON.stringify(text));
      assert.ok(!e.message.includes("\n"));
      return true;
    });
  }
});

Deno.test("checkDuplicates() refuses a board listed twice, with the default port applied", () => {
  const a = parseHostSpec("root@board:2222", "Argument 1");
  const b = parseInventory("# x\nroot@BOARD\n", "hosts")[0];
  assert.throws(
    () => checkDuplicates([a, b], 2222),
    /Target root@BOARD \(port 2222\) is listed twice \(Argument 1 and Inventory "hosts" line 2\)/,
  );
  checkDuplicates([a, b], 22); // different ports: different boards
  checkDuplicates([a, parseHostSpec("pi@board:2222", "Argument 2")]); // different users
});
