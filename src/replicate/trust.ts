/**
 * The mutual-trust step of a clone: the new agent trusts its parent and every peer the parent trusts;
 * the parent trusts the new agent. For a fleet, each new board also trusts every other new board of the
 * run ({@linkcode trustSiblings}). The remote agent is reached through its own `agent id` and
 * `agent trust` commands over SSH; the local one through {@linkcode LocalAgent}.
 *
 * @module
 */
import { CloneError, CloneFailure } from "./errors.ts";
import { agentCommand, agentScript, parseRemoteJson, type RemotePaths } from "./remote.ts";
import type { Ssh } from "./ssh.ts";

/** An agent's public identity, as `agent id --json` prints it. */
export interface AgentIdentity {
  name: string;
  fingerprint: string;
  publicKey: string;
  payload: string;
}

/** One trust store entry, as `agent trust list --json` prints it. */
export interface TrustEntry {
  name: string;
  fingerprint: string;
  publicKey?: string;
  payload: string;
  revoked?: boolean;
}

/** The agent running the clone. */
export interface LocalAgent {
  identity(): Promise<AgentIdentity>;
  trusted(): Promise<TrustEntry[]>;
  /** Adds a peer (by its pairing payload) to the local trust store. */
  trust(payload: string): Promise<void>;
  /** Path of the config file (may not exist). */
  configPath: string;
  /** Directory of model checkpoints (may not exist). */
  checkpointsDir: string;
  /** Directory of this board's own model specs, `<state>/models` (may not exist). */
  modelsDir?: string;
}

/**
 * The entries a child must be told to trust (pure): `wanted` minus the child itself and minus what the
 * child already knows (trusted, or revoked there on purpose), each once.
 */
export function trustToAdd(
  child: { fingerprint: string },
  childKnows: readonly { fingerprint: string }[],
  wanted: readonly TrustEntry[],
): TrustEntry[] {
  const known = new Set([child.fingerprint, ...childKnows.map((t) => t.fingerprint)]);
  const out: TrustEntry[] = [];
  for (const t of wanted) {
    if (t.revoked || known.has(t.fingerprint)) continue;
    known.add(t.fingerprint);
    out.push(t);
  }
  return out;
}

/** The child's identity and trust list (running `agent init` first when `init` is given). */
export async function readChild(
  ssh: Ssh,
  paths: RemotePaths,
  init: string[] | undefined,
): Promise<{ identity: AgentIdentity; trust: TrustEntry[] }> {
  const out = (await ssh.check(
    agentScript(paths, [
      ...(init ? [`${agentCommand(init)} >&2`] : []),
      "echo @@id",
      agentCommand(["id", "--json"]),
      "echo @@trust",
      agentCommand(["trust", "list", "--json"]),
    ]),
    "reading the target's identity",
  )).stdout;
  const [, idText = "", trustText = ""] = out.split(/^@@(?:id|trust)$/m);
  return {
    identity: parseRemoteJson<AgentIdentity>(idText, "agent id"),
    trust: parseRemoteJson<TrustEntry[]>(trustText, "agent trust list"),
  };
}

/** Makes the child trust `entries` (one SSH session); returns the `Trusted …` lines it printed. */
export async function addTrust(ssh: Ssh, paths: RemotePaths, entries: TrustEntry[]): Promise<string[]> {
  if (entries.length === 0) return [];
  const out = (await ssh.check(
    agentScript(paths, entries.map((t) => agentCommand(["trust", t.payload, "--yes"]))),
    "agent trust on the target",
  )).stdout;
  return out.split("\n").filter((l) => /^Trusted /.test(l));
}

/** What {@linkcode pairWithParent} did. */
export interface Pairing {
  child: AgentIdentity;
  parent: AgentIdentity;
  /** Fingerprints the child was told to trust, and the one the parent added (the child's). */
  onChild: string[];
  onParent: string[];
}

/** Parent and child trust each other; the child also trusts everything the parent trusts. */
export async function pairWithParent(
  ssh: Ssh,
  paths: RemotePaths,
  local: LocalAgent,
  init: string[] | undefined,
  log: (line: string) => void,
): Promise<Pairing> {
  const { identity: child, trust: childTrust } = await readChild(ssh, paths, init);
  const parent = await local.identity();
  if (child.fingerprint === parent.fingerprint) {
    throw new CloneError(
      CloneFailure.RemoteCommandFailed,
      `The target's agent has the same identity as this one (${parent.fingerprint})`,
      "A private key was copied by hand; remove <state>/identity on the target and run the clone again",
    );
  }
  const parentTrust = (await local.trusted()).filter((t) => !t.revoked);
  const toChild = trustToAdd(child, childTrust, [
    { name: parent.name, fingerprint: parent.fingerprint, payload: parent.payload },
    ...parentTrust,
  ]);
  for (const line of await addTrust(ssh, paths, toChild)) log(line);
  const onParent: string[] = [];
  if (!parentTrust.some((t) => t.fingerprint === child.fingerprint)) {
    await local.trust(child.payload);
    onParent.push(child.fingerprint);
  }
  return { child, parent, onChild: toChild.map((t) => t.fingerprint), onParent };
}

/**
 * Fleet: makes the child trust every sibling (another new board of the same run) it does not know yet.
 * The running agent reloads its trust store on change, so no restart is needed. Returns what was added.
 */
export async function trustSiblings(
  ssh: Ssh,
  paths: RemotePaths,
  child: AgentIdentity,
  siblings: AgentIdentity[],
): Promise<string[]> {
  const { trust } = await readChild(ssh, paths, undefined);
  const add = trustToAdd(child, trust, siblings);
  await addTrust(ssh, paths, add);
  return add.map((t) => t.fingerprint);
}
