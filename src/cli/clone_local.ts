/**
 * The local side of `agent clone`: this agent's identity and trust store as a {@linkcode LocalAgent},
 * read and written directly (no second CLI run), with additions to the trust store serialised so the
 * parallel clones of a fleet never race on it.
 *
 * @module
 */
import { base64urlnopad } from "@scure/base";
import {
  decodePayload,
  encodePayload,
  ensureIdentity,
  fingerprint,
  peerToJson,
  readPublicKey,
  resolveNodeName,
  TrustStore,
} from "../identity/mod.ts";
import type { AgentIdentity, LocalAgent } from "../replicate/mod.ts";
import type { CommandContext } from "./command.ts";

/** This agent, for clone: creates its identity on first use, as `agent id` does. */
export function localAgent(ctx: CommandContext): LocalAgent {
  let queue: Promise<unknown> = Promise.resolve();
  let identity: Promise<AgentIdentity> | undefined;
  const load = async (): Promise<AgentIdentity> => {
    const config = await ctx.config();
    const name = resolveNodeName(config.node.name, Deno.hostname());
    let publicKey = await readPublicKey(ctx.state);
    if (publicKey === undefined) {
      publicKey = (await ensureIdentity(ctx.state)).publicKey;
      ctx.io.stderr(`Created a new identity in ${ctx.state.root}\n`);
    }
    return {
      name,
      fingerprint: fingerprint(publicKey),
      publicKey: base64urlnopad.encode(publicKey),
      payload: encodePayload({ publicKey, name }),
    };
  };
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = queue.then(fn, fn);
    queue = next.catch(() => {});
    return next;
  };
  return {
    configPath: ctx.configPath,
    checkpointsDir: ctx.state.checkpoints,
    modelsDir: ctx.state.models,
    identity: () => identity ??= serial(load),
    trusted: () => serial(async () => (await TrustStore.open(ctx.state)).list().map(peerToJson)),
    trust: (payload) =>
      serial(async () => {
        const decoded = decodePayload(payload);
        const self = await readPublicKey(ctx.state);
        const store = await TrustStore.open(ctx.state, { self });
        const existing = store.peer(decoded.publicKey);
        // A peer revoked here on purpose stays revoked.
        if (existing?.revoked) return;
        await store.add(decoded);
      }),
  };
}
