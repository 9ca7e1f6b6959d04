/**
 * The commented default `agent.yaml` written by `agent init`, and the config reference table in the
 * README, both generated from the key table so they never drift.
 *
 * @module
 */
import { stringify } from "yaml";
import { KEYS, SECTIONS } from "./schema.ts";

/** Values to put in the file instead of defaults (e.g. from `agent init --name`). */
export type ConfigValues = Record<string, string | number | boolean>;

/** The default config file text, every key commented. */
export function renderDefaultConfig(values: ConfigValues = {}): string {
  const out: string[] = [
    "# agent configuration. Every key is optional; the values below are the defaults.",
    '# Reference: README.md, section "Configuration". Check it with: agent doctor',
  ];
  let section = "";
  for (const k of KEYS) {
    const [s, key] = k.path.split(".");
    if (s !== section) {
      section = s;
      out.push("", `# ${SECTIONS[s] ?? ""}`.trimEnd(), `${s}:`);
    }
    out.push(`  # ${k.doc}${k.env ? ` (env ${k.env})` : ""}`);
    const v = k.path in values ? values[k.path] : k.default;
    out.push(`  ${key}: ${stringify(v).trimEnd()}`);
  }
  return out.join("\n") + "\n";
}

/** Markdown table of every key, for the README. */
export function renderConfigReference(): string {
  const rows = KEYS.map((k) => {
    const t = k.type;
    const allowed = t.kind === "int" || t.kind === "number"
      ? `${t.min}..${t.max}`
      : t.kind === "enum"
      ? t.values.join(" \\| ")
      : t.kind === "bool"
      ? "true \\| false"
      : t.patternHint ?? "text";
    return `| \`${k.path}\` | \`${JSON.stringify(k.default)}\` | ${allowed} | ${k.doc}${
      k.env ? ` Env: \`${k.env}\`.` : ""
    } |`;
  });
  return ["| key | default | allowed | meaning |", "|---|---|---|---|", ...rows].join("\n");
}
