/**
 * The node name shown to peers: `node.name` from the config, or a cleaned-up host name. Pure: the
 * caller passes the host name (`Deno.hostname()`).
 *
 * @module
 */
import { KEYS, type KeyType } from "../config/mod.ts";

const spec = KEYS.find((k) => k.path === "node.name")!.type as Extract<KeyType, { kind: "string" }>;

/** The rule every node name follows (the `node.name` config key's pattern: 1–32 of `A-Za-z0-9._-`). */
export const NODE_NAME_PATTERN: RegExp = spec.pattern!;
/** What {@linkcode NODE_NAME_PATTERN} allows, in words. */
export const NODE_NAME_RULE: string = spec.patternHint!;
/** Longest node name in bytes. */
export const NODE_NAME_MAX = 32;

/** True when `name` is a valid node name. */
export function isNodeName(name: string): boolean {
  return NODE_NAME_PATTERN.test(name);
}

/**
 * A valid node name made from a host name: the first DNS label, other characters replaced by `-`,
 * cut to 32 characters; `node` if nothing usable is left.
 */
export function nodeNameFromHost(hostname: string): string {
  const label = hostname.split(".")[0] ?? "";
  let name = label.replace(/[^A-Za-z0-9._-]/g, "-").replace(/^[^A-Za-z0-9]+/, "").slice(0, NODE_NAME_MAX);
  if (!isNodeName(name)) name = "node";
  return name;
}

/** The configured name, or the one made from `hostname` when the config leaves it empty. */
export function resolveNodeName(configured: string, hostname: string): string {
  return configured !== "" ? configured : nodeNameFromHost(hostname);
}
