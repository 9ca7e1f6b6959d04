import assert from "node:assert/strict";
import { startDaemon } from "../../src/agent/daemon.ts";
import { loadConfig } from "../../src/config/mod.ts";
import { UsageError } from "../../src/errors.ts";
import { GossipNode, MemoryNetwork } from "../../src/gossip/mod.ts";
import { Verifier } from "../../src/identity/ed25519.ts";
import { decodePayload, encodePayload, TrustStore } from "../../src/identity/mod.ts";
import { nullLogger } from "../../src/log.ts";
import { stateLayout } from "../../src/state/mod.ts";
import { SeededRandom, systemClock } from "../../src/time.ts";
import { deflateBody, MessageType } from "../../src/wire/mod.ts";
import { testSigner, TrustSet } from "../_support/identity.ts";
import { waitFor } from "../_support/wait.ts";
import { claimDaemon, modelIdHash } from "../../src/agent/daemon.ts";
import { withTempDir } from "../_support/temp_dir.ts";

const config = loadConfig({ text: "gossip:\n  intervalMs: 50\n", env: {} });
const alice = await testSigner(31);
const bob = await testSigner(32);

/** A sender outside the daemon, on the same in-memory network. */
async function sender(net: MemoryNetwork) {
  const node = new GossipNode({
    signer: alice,
    verifier: new Verifier(),
    trust: new TrustSet([bob.publicKey]),
    modelHash: await modelIdHash(config.model.id),
    bootEpoch: 1,
    name: "alice",
    maxDatagram: 1232,
    rateLimit: 500,
    intervalMs: 1000,
    peerTimeoutMs: 5000,
  });
  const transport = net.transport("alice", systemClock);
  return { node, transport };
}

Deno.test("startDaemon() refuses a second daemon on the same state directory", () =>
  withTempDir(async (root) => {
    const net = new MemoryNetwork(new SeededRandom(1));
    const state = stateLayout(root);
    const common = { config, state, name: "bob", signer: bob, trust: new TrustSet(), logger: nullLogger };
    const first = await startDaemon({ ...common, transport: net.transport("bob", systemClock) });
    try {
      await assert.rejects(
        () => startDaemon({ ...common, transport: net.transport("bob2", systemClock) }),
        (e: unknown) => e instanceof UsageError && /in use/.test(e.message),
      );
    } finally {
      await first.stop();
    }
  }));

Deno.test("a datagram captured before a daemon restart is refused after it; the boot epoch moves on", () =>
  withTempDir(async (root) => {
    const net = new MemoryNetwork(new SeededRandom(2));
    const state = stateLayout(root);
    const a = await sender(net);
    const received: number[] = [];
    const start = () =>
      startDaemon({
        config,
        state,
        name: "bob",
        signer: bob,
        trust: new TrustSet([alice.publicKey]),
        logger: nullLogger,
        transport: net.transport("bob", systemClock),
        onMessage: (m) => void received.push(m.header.counter),
      });
    let daemon = await start();
    assert.equal(daemon.status().bootEpoch, 1);
    const captured = await a.node.send(MessageType.Delta, deflateBody(new Uint8Array([1, 2, 3])));
    await a.transport.broadcast(captured);
    net.deliver(Infinity);
    await waitFor("the delta", () => received.length === 1);
    await a.transport.broadcast(captured);
    net.deliver(Infinity);
    await waitFor("the replay to be counted", () => daemon.status().counters.rejected.replay === 1);
    await daemon.stop();

    daemon = await start();
    try {
      assert.equal(daemon.status().bootEpoch, 2);
      await a.transport.broadcast(captured);
      net.deliver(Infinity);
      await waitFor("the replay after restart", () => daemon.status().counters.rejected.replay === 1);
      assert.deepEqual(received, [0]);
      await a.transport.broadcast(await a.node.send(MessageType.Delta, deflateBody(new Uint8Array([4]))));
      net.deliver(Infinity);
      await waitFor("the next delta", () => received.length === 2);
    } finally {
      await daemon.stop();
      a.transport.close();
    }
  }));

Deno.test("revoking a peer in the trust store takes effect in a running daemon", () =>
  withTempDir(async (root) => {
    const net = new MemoryNetwork(new SeededRandom(3));
    const state = stateLayout(root);
    const trust = await TrustStore.open(state, { self: bob.publicKey });
    await trust.add(decodePayload(encodePayload({ publicKey: alice.publicKey, name: "alice" })));
    const a = await sender(net);
    const daemon = await startDaemon({
      config,
      state,
      name: "bob",
      signer: bob,
      trust,
      logger: nullLogger,
      transport: net.transport("bob", systemClock),
      housekeepingMs: 10,
    });
    try {
      const send = async () => {
        await a.transport.broadcast(await a.node.send(MessageType.Delta, deflateBody(new Uint8Array(1))));
        net.deliver(Infinity);
      };
      await send();
      await waitFor("the first delta", () => daemon.status().counters.accepted === 1);
      // another process (the CLI) revokes alice
      const cli = await TrustStore.open(state);
      await cli.revoke("alice");
      await waitFor("the daemon to reload", () => !trust.isTrusted(alice.publicKey));
      await send();
      await waitFor("the revoked datagram", () => daemon.status().counters.rejected.untrusted === 1);
      assert.equal(daemon.status().counters.accepted, 1);
      assert.equal(daemon.status().peers[0].trusted, false);
    } finally {
      await daemon.stop();
      a.transport.close();
    }
  }));

Deno.test("claimDaemon() holds the lock and the socket without taking a boot epoch; release() frees both", () =>
  withTempDir(async (root) => {
    const state = stateLayout(root);
    const probe = Deno.listenDatagram({ transport: "udp", hostname: "0.0.0.0", port: 0 });
    const port = (probe.addr as Deno.NetAddr).port;
    probe.close();
    const udpConfig = loadConfig({
      text: `gossip:\n  port: ${port}\n  broadcast: 127.255.255.255\n`,
      env: {},
    });
    const options = {
      config: udpConfig,
      state,
      name: "bob",
      signer: bob,
      trust: new TrustSet(),
      logger: nullLogger,
    };
    const claim = await claimDaemon(options);
    await assert.rejects(() => claimDaemon(options), UsageError); // the lock is held
    await assert.rejects(() => Deno.stat(state.bootEpoch), Deno.errors.NotFound);
    claim.release();
    claim.release(); // idempotent
    await assert.rejects(() => claim.start({}), /released before it started/);
    // the port and the lock are free again: a daemon starts, and it owns them from then on
    const second = await claimDaemon(options);
    const daemon = await second.start({});
    second.release(); // does nothing once started
    assert.equal(daemon.status().bootEpoch, 1);
    await daemon.stop();
  }));
