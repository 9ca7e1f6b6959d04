/**
 * The first start steps, before anything is taken: this board's identity (made by `agent init`; the private
 * key must be 0600), its trust store, and the model spec the config names (built in, or the user's own).
 *
 * @module
 */
import type { Config } from "../config/mod.ts";
import { type Identity, loadIdentity, TrustStore } from "../identity/mod.ts";
import type { Logger } from "../log.ts";
import { type ModelSpec, resolveModelSpec } from "../model/mod.ts";
import type { StateLayout } from "../state/mod.ts";

/** This board's keys and the peers it trusts. */
export interface IdentityAndTrust {
  identity: Identity;
  trust: TrustStore;
}

/** Loads the identity and opens the trust store; warns when no peer is trusted yet. */
export async function loadIdentityAndTrust(state: StateLayout, logger: Logger): Promise<IdentityAndTrust> {
  const identity = await loadIdentity(state);
  const trust = await TrustStore.open(state, { self: identity.publicKey });
  if (trust.trusted().length === 0) {
    logger.warn("No trusted peers yet: this agent learns alone until it is paired", {
      hint: "pair boards with 'agent id' on one and 'agent trust' on the other",
    });
  }
  return { identity, trust };
}

/** The model spec `model.id` / `model.spec` names (a user's own spec is logged with its path). */
export async function loadSpec(config: Config, state: StateLayout, logger: Logger): Promise<ModelSpec> {
  const known = await resolveModelSpec(config.model, state.models);
  if (known.origin === "local") logger.info("Model spec", { id: known.spec.id, path: known.path });
  return known.spec;
}

/** The machine's host name, or "agent" when it may not be read (the default node name comes from it). */
export function hostName(): string {
  try {
    return Deno.hostname();
  } catch {
    return "agent"; // not permitted to read it
  }
}
