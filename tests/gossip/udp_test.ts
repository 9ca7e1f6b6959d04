import assert from "node:assert/strict";
import { publicKeyPem } from "../../src/identity/keyfile.ts";
import { GossipService, openUdpTransport, type UdpTransport } from "../../src/gossip/mod.ts";
import { UsageError } from "../../src/errors.ts";
import { nullLogger } from "../../src/log.ts";
import { systemClock } from "../../src/time.ts";
import { decodeHeader, MessageType } from "../../src/wire/mod.ts";
import { testNode } from "../_support/gossip_node.ts";
import { testSigner, TrustSet } from "../_support/identity.ts";
import { waitFor } from "../_support/wait.ts";

const alice = await testSigner(21);
const bob = await testSigner(22);

/** Polls `cond` every few ms until true or the deadline passes (no fixed sleeps). */
function port(t: UdpTransport): number {
  return t.localAddress.port;
}

Deno.test("two services gossip heartbeats over real UDP broadcast on loopback", async () => {
  const trust = new TrustSet([alice.publicKey, bob.publicKey]);
  const ta = openUdpTransport({ bind: "0.0.0.0", port: 0, broadcast: "127.255.255.255" });
  const tb = openUdpTransport({
    bind: "0.0.0.0",
    port: 0,
    broadcast: "127.255.255.255",
    broadcastPort: port(ta),
  });
  // a's broadcasts must reach b's port: reopen a with the right target
  ta.close();
  const ta2 = openUdpTransport({
    bind: "0.0.0.0",
    port: port(ta),
    broadcast: "127.255.255.255",
    broadcastPort: port(tb),
  });
  const a = new GossipService({
    node: testNode(alice, trust, { name: "alice", intervalMs: 50 }),
    transport: ta2,
    clock: systemClock,
    logger: nullLogger,
    intervalMs: 50,
  });
  const b = new GossipService({
    node: testNode(bob, trust, { name: "bob", intervalMs: 50 }),
    transport: tb,
    clock: systemClock,
    logger: nullLogger,
    intervalMs: 50,
  });
  a.start();
  b.start();
  try {
    await waitFor(
      "a to see bob",
      () => a.node.peers(systemClock.now()).some((p) => p.alive && p.name === "bob"),
    );
    await waitFor(
      "b to see alice",
      () => b.node.peers(systemClock.now()).some((p) => p.alive && p.name === "alice"),
    );
    assert.equal(b.node.peers(systemClock.now())[0].address, `127.0.0.1:${port(ta2)}`);
    assert.ok(await a.publish(MessageType.Delta, new Uint8Array([3, 0])));
    await waitFor("the delta", () => (b.node.counters().acceptedByType.Delta ?? 0) === 1);
  } finally {
    await a.stop();
    await b.stop();
  }
});

Deno.test("openUdpTransport() refuses a port in use with a UsageError", () => {
  const first = openUdpTransport({ bind: "0.0.0.0", port: 0, broadcast: "127.255.255.255" });
  try {
    assert.throws(
      () => openUdpTransport({ bind: "0.0.0.0", port: port(first), broadcast: "127.255.255.255" }),
      (e: unknown) =>
        e instanceof UsageError && /already in use/.test(e.message) && /gossip.port/.test(e.hint ?? ""),
    );
  } finally {
    first.close();
  }
});

Deno.test("a datagram captured from the socket verifies with openssl pkeyutl -rawin", async () => {
  const sniffer = Deno.listenDatagram({ transport: "udp", hostname: "0.0.0.0", port: 0 });
  const transport = openUdpTransport({
    bind: "0.0.0.0",
    port: 0,
    broadcast: "127.255.255.255",
    broadcastPort: (sniffer.addr as Deno.NetAddr).port,
  });
  const dir = await Deno.makeTempDir();
  try {
    const node = testNode(alice, new TrustSet(), { name: "alice" });
    const [hello] = await node.tick(0);
    assert.ok(await transport.broadcast(hello));
    const [captured] = await sniffer.receive();
    const header = decodeHeader(captured, { maxDatagram: 1232 });
    await Deno.writeTextFile(`${dir}/pub.pem`, publicKeyPem(header.senderKey));
    await Deno.writeFile(`${dir}/msg.bin`, captured.subarray(0, captured.length - 64));
    await Deno.writeFile(`${dir}/sig.bin`, captured.subarray(captured.length - 64));
    const run = (msg: string) =>
      new Deno.Command("openssl", {
        args: [
          "pkeyutl",
          "-verify",
          "-pubin",
          "-inkey",
          `${dir}/pub.pem`,
          "-rawin",
          "-in",
          msg,
          "-sigfile",
          `${dir}/sig.bin`,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
    const good = await run(`${dir}/msg.bin`);
    assert.ok(good.success, new TextDecoder().decode(good.stderr));
    assert.match(new TextDecoder().decode(good.stdout), /Signature Verified Successfully/);
    const tampered = captured.slice(0, captured.length - 64);
    tampered[60] ^= 1;
    await Deno.writeFile(`${dir}/bad.bin`, tampered);
    assert.equal((await run(`${dir}/bad.bin`)).success, false);
  } finally {
    transport.close();
    sniffer.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a datagram larger than 4096 bytes arrives as 4097 bytes and is dropped as oversize", async () => {
  const receiver = openUdpTransport({ bind: "0.0.0.0", port: 0, broadcast: "127.255.255.255" });
  const sender = Deno.listenDatagram({ transport: "udp", hostname: "0.0.0.0", port: 0 });
  try {
    await sender.send(new Uint8Array(9000).fill(0x41), {
      transport: "udp",
      hostname: "127.0.0.1",
      port: port(receiver),
    });
    const it = receiver.receive()[Symbol.asyncIterator]();
    const { value } = await it.next();
    assert.equal(value!.bytes.length, 4097);
    const node = testNode(bob, new TrustSet(), { maxDatagram: 4096 });
    const event = await node.onDatagram(value!.bytes, value!.from, 0);
    assert.equal(event.kind === "rejected" && event.reason, "oversize");
    receiver.close();
    assert.equal((await it.next()).done, true);
  } finally {
    receiver.close();
    sender.close();
  }
});
