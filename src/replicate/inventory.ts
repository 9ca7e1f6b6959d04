/**
 * Which boards to clone to: targets on the command line (`user@host[:port]`) and inventory files, one
 * target a line, Ansible-style — `#` and `;` comments, blank lines and `[group]` headers are skipped.
 * Parsing is pure; every bad line is a one-line {@linkcode UsageError} naming the file, the line and
 * the value.
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import { describeTarget, parseTarget, type SshTarget } from "./ssh.ts";

/** One board to clone to. */
export interface HostSpec {
  target: SshTarget;
  /** The port written with the target (`host:2222`), if any. */
  port?: number;
  /** Where it was written: `hosts.txt line 3` or `argument 2`. */
  source: string;
}

const HINT =
  "Write one target a line as user@host or user@host:port (IPv6: user@[addr]:port); # starts a comment";
const GROUP_RE = /^\[[A-Za-z_][A-Za-z0-9_-]*(?::(?:children|vars))?\]$/;

/** Parses `[user@]host[:port]` (pure); `where` names the place in error messages. */
export function parseHostSpec(text: string, where: string): HostSpec {
  const at = text.lastIndexOf("@");
  const user = at >= 0 ? text.slice(0, at + 1) : "";
  const rest = at >= 0 ? text.slice(at + 1) : text;
  let host = rest;
  let portText: string | undefined;
  const v6 = /^(\[[^\]]*\])(?::([^:]*))?$/.exec(rest);
  const v4 = /^([^:[\]]*):([^:]*)$/.exec(rest);
  if (v6) [host, portText] = [v6[1], v6[2]];
  else if (v4) [host, portText] = [v4[1], v4[2]];
  let port: number | undefined;
  if (portText !== undefined) {
    port = Number(portText);
    if (!/^\d{1,5}$/.test(portText) || port < 1 || port > 65535) {
      throw new UsageError(
        `${where}: port ${JSON.stringify(portText)} of ${
          JSON.stringify(text)
        } is not a number from 1 to 65535`,
        HINT,
      );
    }
  }
  let target: SshTarget;
  try {
    target = parseTarget(user + host);
  } catch (e) {
    if (e instanceof UsageError) throw new UsageError(`${where}: ${e.message}`, HINT);
    throw e;
  }
  return { target, port, source: where };
}

/** Parses an inventory file's text (pure): one target a line; at least one. */
export function parseInventory(text: string, file: string): HostSpec[] {
  const out: HostSpec[] = [];
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const where = `Inventory ${JSON.stringify(file)} line ${i + 1}`;
    const line = raw.replace(/(^|\s)[#;].*$/, "").trim();
    if (line === "" || GROUP_RE.test(line)) continue;
    // deno-lint-ignore no-control-regex
    if (/[\0-\x08\x0e-\x1f\x7f]/.test(line)) {
      throw new UsageError(
        `${where}: contains control characters: ${JSON.stringify(line.slice(0, 60))}`,
        HINT,
      );
    }
    const words = line.split(/\s+/);
    if (words.length > 1) {
      throw new UsageError(
        `${where}: unexpected ${JSON.stringify(words[1])} after the target ${JSON.stringify(words[0])}`,
        HINT,
      );
    }
    out.push(parseHostSpec(words[0], where));
  }
  if (out.length === 0) {
    throw new UsageError(`Inventory ${JSON.stringify(file)} lists no targets`, HINT);
  }
  return out;
}

/** `user@host:port` as a key: two specs with equal keys are the same board. */
export function hostKey(spec: HostSpec, defaultPort?: number): string {
  return `${spec.target.user ?? ""}@${spec.target.host.toLowerCase()}:${spec.port ?? defaultPort ?? 22}`;
}

/** Refuses a board listed twice (pure), naming both places. */
export function checkDuplicates(specs: HostSpec[], defaultPort?: number): void {
  const seen = new Map<string, HostSpec>();
  for (const s of specs) {
    const key = hostKey(s, defaultPort);
    const first = seen.get(key);
    if (first) {
      throw new UsageError(
        `Target ${
          describeTarget(s.target, s.port ?? defaultPort)
        } is listed twice (${first.source} and ${s.source})`,
        "List each board once",
      );
    }
    seen.set(key, s);
  }
}
