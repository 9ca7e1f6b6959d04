/**
 * The system OpenSSH client (`ssh`) driven with `Deno.Command`: target parsing, the option set every
 * connection uses (host keys always checked, never a password prompt), running POSIX `sh` scripts on the
 * target, streaming bytes to it with progress and an optional rate limit, and turning ssh's stderr into
 * a {@linkcode CloneError} with a kind and a hint.
 *
 * Host keys: `StrictHostKeyChecking=yes` (unknown host refused) or, with `--accept-new-host-key`,
 * `accept-new` (an unknown key is added once and pinned from then on; a changed key is still refused).
 * `StrictHostKeyChecking=no` is never used and is refused in `--ssh-option`.
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import { CloneError, CloneFailure } from "./errors.ts";

/** Where to connect: `[user@]host`. */
export interface SshTarget {
  user?: string;
  host: string;
}

const HOST_RE = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9-]{1,63})*\.?|\d{1,3}(?:\.\d{1,3}){3})$/;
const IPV6_RE = /^[0-9A-Fa-f:.]+(?:%[A-Za-z0-9_.-]+)?$/;
const USER_RE = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?$/;

/** Parses `user@host`, `host`, `user@[::1]`; a bad value is a {@linkcode UsageError} naming it. */
export function parseTarget(text: string): SshTarget {
  const hint = "Give the target as user@host, e.g. pi@raspberrypi.local or root@192.0.2.7";
  if (text.trim() === "") throw new UsageError("The target is empty", hint);
  const at = text.lastIndexOf("@");
  const user = at >= 0 ? text.slice(0, at) : undefined;
  let host = at >= 0 ? text.slice(at + 1) : text;
  if (user !== undefined && !USER_RE.test(user)) {
    throw new UsageError(
      `Target ${JSON.stringify(text)} has an invalid user name ${JSON.stringify(user)}`,
      hint,
    );
  }
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
  if (/^[^:]+:\d+$/.test(host)) {
    throw new UsageError(
      `Target ${JSON.stringify(text)} has a port in it`,
      "Give the port with --port N, not host:port",
    );
  }
  if (host.includes(":")) {
    if (!IPV6_RE.test(host)) {
      throw new UsageError(
        `Target ${JSON.stringify(text)} has an invalid host ${JSON.stringify(host)}`,
        hint,
      );
    }
    return { user, host };
  }
  if (!HOST_RE.test(host)) {
    const portLike = /:\d+$/.test(text);
    throw new UsageError(
      `Target ${JSON.stringify(text)} has an invalid host ${JSON.stringify(host)}`,
      portLike ? "Give the port with --port N, not host:port" : hint,
    );
  }
  return { user, host };
}

/** How to reach the target. */
export interface SshOptions {
  target: SshTarget;
  port?: number;
  /** Private key file (`-i`, with `IdentitiesOnly=yes`). */
  identity?: string;
  /** known_hosts file to use instead of the user's. */
  knownHosts?: string;
  /** ssh config file (`-F`); `/dev/null` ignores `~/.ssh/config`. */
  sshConfig?: string;
  /** Accept and pin an unknown host key (`StrictHostKeyChecking=accept-new`). */
  acceptNewHostKey: boolean;
  /** Extra `-o Key=Value` options. */
  extraOptions?: string[];
  /** Seconds to wait for the TCP connection (default 15). */
  connectTimeout?: number;
}

/** Options a user may not override, because they are what makes the connection safe and non-interactive. */
const LOCKED_OPTIONS = ["stricthostkeychecking", "batchmode", "passwordauthentication"];

/** Checks one `--ssh-option Key=Value`; refuses the ones that would weaken host key checking. */
export function checkSshOption(option: string): string {
  const m = option.match(/^\s*([A-Za-z][A-Za-z0-9]*)\s*[= ]\s*(\S.*)$/);
  if (!m) {
    throw new UsageError(
      `Option --ssh-option ${JSON.stringify(option)} is not of the form Key=Value`,
      "For example --ssh-option ServerAliveInterval=10",
    );
  }
  if (LOCKED_OPTIONS.includes(m[1].toLowerCase())) {
    throw new UsageError(
      `Option --ssh-option ${
        JSON.stringify(option)
      } is not allowed: clone always checks host keys and never asks for passwords`,
      "Use --accept-new-host-key to pin an unknown host key on first contact",
    );
  }
  return `${m[1]}=${m[2]}`;
}

/** The `ssh` arguments before the destination, for `opts` (pure). */
export function sshArgs(opts: SshOptions): string[] {
  const args: string[] = [];
  if (opts.sshConfig) args.push("-F", opts.sshConfig);
  if (opts.port !== undefined) args.push("-p", String(opts.port));
  if (opts.identity) args.push("-i", opts.identity, "-o", "IdentitiesOnly=yes");
  if (opts.knownHosts) args.push("-o", `UserKnownHostsFile=${opts.knownHosts}`);
  args.push(
    "-o",
    "BatchMode=yes",
    "-o",
    `StrictHostKeyChecking=${opts.acceptNewHostKey ? "accept-new" : "yes"}`,
    "-o",
    `ConnectTimeout=${opts.connectTimeout ?? 15}`,
    "-o",
    "ServerAliveInterval=5",
    "-o",
    "ServerAliveCountMax=4",
    "-o",
    "LogLevel=ERROR",
  );
  for (const o of opts.extraOptions ?? []) args.push("-o", checkSshOption(o));
  return args;
}

/** `user@host` as ssh wants it (IPv6 without brackets). */
export function destination(t: SshTarget): string {
  return t.user ? `${t.user}@${t.host}` : t.host;
}

/** How people write the target: `user@host` plus `:port` when not 22. */
export function describeTarget(t: SshTarget, port?: number): string {
  const host = t.host.includes(":") ? `[${t.host}]` : t.host;
  return `${t.user ? `${t.user}@` : ""}${host}${port !== undefined && port !== 22 ? ` (port ${port})` : ""}`;
}

/** Quotes `s` for a POSIX shell. */
export function shQuote(s: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(s)) return s;
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/**
 * Turns a failed ssh run into a {@linkcode CloneError} (pure). `exitCode` 255 is ssh's own failure; other
 * codes come from the remote command, whose stderr is quoted.
 */
export function classifySshFailure(
  exitCode: number,
  stderr: string,
  where: { target: SshTarget; port?: number; knownHosts?: string; step: string },
): CloneError {
  const who = describeTarget(where.target, where.port);
  const text = stderr.trim();
  const lastLines = text.split("\n").filter((l) => l.trim() && !/^@+$/.test(l.trim())).slice(-3).join(" | ");
  const keyscan = `ssh-keyscan${
    where.port && where.port !== 22 ? ` -p ${where.port}` : ""
  } ${where.target.host}`;
  const knownHostsName = where.knownHosts ?? "~/.ssh/known_hosts";
  if (/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key for .* has changed/i.test(text)) {
    const hostSpec = where.port && where.port !== 22
      ? `[${where.target.host}]:${where.port}`
      : where.target.host;
    return new CloneError(
      CloneFailure.ChangedHostKey,
      `The host key of ${who} does not match the one pinned in ${knownHostsName}: refusing to connect (this can be a man-in-the-middle attack)`,
      `If the target was reinstalled, check its new key fingerprint on its console (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), then remove the old one with: ssh-keygen -R '${hostSpec}'${
        where.knownHosts ? ` -f ${where.knownHosts}` : ""
      }`,
    );
  }
  if (/Host key verification failed|No .* host key is known for/i.test(text)) {
    return new CloneError(
      CloneFailure.UnknownHostKey,
      `The host key of ${who} is not known (not in ${knownHostsName}): refusing to connect to an unverified host`,
      `Check the key fingerprint (on the target: ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub; from here: ${keyscan} | ssh-keygen -lf -) and run again with --accept-new-host-key to pin it, or connect once with ssh yourself`,
    );
  }
  if (
    /Permission denied \(|Too many authentication failures|no mutual signature|Authentication failed/i.test(
      text,
    )
  ) {
    return new CloneError(
      CloneFailure.AuthFailed,
      `Could not log in to ${who}: the server refused every key offered (${lastLines})`,
      `Install your public key on the target (ssh-copy-id ${
        destination(where.target)
      }) or pass --identity KEYFILE; passwords are never asked for (BatchMode)`,
    );
  }
  if (/Connection refused/i.test(text)) {
    return new CloneError(
      CloneFailure.Unreachable,
      `Could not connect to ${who}: connection refused (is sshd running and on port ${where.port ?? 22}?)`,
      "Start sshd on the target (sudo systemctl enable --now ssh) or give the right --port",
    );
  }
  if (
    /Could not resolve hostname|Name or service not known|No route to host|Network is unreachable|Connection timed out|Operation timed out/i
      .test(text)
  ) {
    return new CloneError(
      CloneFailure.Unreachable,
      `Could not reach ${who}: ${lastLines}`,
      "Check the host name or address, that the board is powered and on the network, and the --port",
    );
  }
  if (/No space left on device|Disk quota exceeded/i.test(text)) {
    return new CloneError(
      CloneFailure.NoSpace,
      `The target ${who} ran out of disk space during ${where.step}: ${lastLines}`,
      "Free some space on the target (or choose another --prefix) and run again; its installed release is unchanged",
    );
  }
  if (
    exitCode === 255 ||
    /Connection (closed|reset)|Broken pipe|client_loop|not responding|Timeout, server/i.test(text)
  ) {
    return new CloneError(
      CloneFailure.ConnectionLost,
      `Lost the connection to ${who} during ${where.step}${lastLines ? `: ${lastLines}` : ""}`,
      "Check the network and run the clone again: an interrupted clone leaves the target on its previous release",
    );
  }
  return new CloneError(
    CloneFailure.RemoteCommandFailed,
    `A command on ${who} failed during ${where.step} (exit ${exitCode})${lastLines ? `: ${lastLines}` : ""}`,
    "Run again with --log-level debug to see the remote output",
  );
}

/** Result of one remote command. */
export interface RemoteResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options for {@linkcode Ssh.upload}. */
export interface UploadOptions {
  /** Called after every chunk with bytes sent so far. */
  onProgress?: (sent: number) => void;
  /** Bytes per second, or undefined for as fast as possible. */
  rateLimit?: number;
}

/** A connection recipe for one target; each call runs one `ssh` process. */
export class Ssh {
  readonly options: SshOptions;
  readonly #signal: AbortSignal | undefined;
  /** Called with every command line before it runs (debug logging). */
  onCommand?: (argv: string[], step: string) => void;
  /** Run remote scripts through `sudo -n` (a non-root login installing system-wide). */
  sudo = false;

  constructor(options: SshOptions, signal?: AbortSignal) {
    this.options = options;
    sshArgs(options); // validate extra options early
    this.#signal = signal;
  }

  #argv(remoteCommand: string): string[] {
    const cmd = this.sudo ? `sudo -n ${remoteCommand}` : remoteCommand;
    return [...sshArgs(this.options), "--", destination(this.options.target), cmd];
  }

  /** Classifies a failed remote run (see {@linkcode classifySshFailure}). */
  failure(code: number, stderr: string, step: string): CloneError {
    return this.#fail(code, stderr, step);
  }

  #fail(code: number, stderr: string, step: string): CloneError {
    return classifySshFailure(code, stderr, {
      target: this.options.target,
      port: this.options.port,
      knownHosts: this.options.knownHosts,
      step,
    });
  }

  /** Runs a POSIX `sh` script on the target (sent on stdin to `sh -s`); returns its output. */
  async run(script: string, step: string, input?: Uint8Array): Promise<RemoteResult> {
    const argv = this.#argv(input ? `sh -c ${shQuote(script)}` : "sh -s");
    this.onCommand?.(argv, step);
    const child = new Deno.Command("ssh", {
      args: argv,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      signal: this.#signal,
    }).spawn();
    const writer = child.stdin.getWriter();
    const body = input ?? new TextEncoder().encode(script);
    await writer.write(body).catch(() => {/* the process ended early: its stderr says why */});
    await writer.close().catch(() => {});
    const out = await child.output();
    return {
      code: out.code,
      stdout: new TextDecoder().decode(out.stdout),
      stderr: new TextDecoder().decode(out.stderr),
    };
  }

  /** Like {@linkcode run} but throws a classified {@linkcode CloneError} when the exit code is not 0. */
  async check(script: string, step: string, input?: Uint8Array): Promise<RemoteResult> {
    const r = await this.run(script, step, input);
    if (r.code !== 0) throw this.#fail(r.code, r.stderr, step);
    return r;
  }

  /**
   * Streams the file `localPath` to the stdin of the remote `sh` script `script` (which stores it),
   * with progress callbacks and an optional rate limit; throws a classified error on failure.
   */
  async upload(localPath: string, script: string, step: string, opts: UploadOptions = {}): Promise<void> {
    const argv = this.#argv(`sh -c ${shQuote(script)}`);
    this.onCommand?.(argv, step);
    const child = new Deno.Command("ssh", {
      args: argv,
      stdin: "piped",
      stdout: "null",
      stderr: "piped",
      signal: this.#signal,
    }).spawn();
    const stderrText = new Response(child.stderr).text();
    const writer = child.stdin.getWriter();
    const file = await Deno.open(localPath, { read: true });
    const started = Date.now();
    let sent = 0;
    let writeFailed = false;
    try {
      const buf = new Uint8Array(256 * 1024);
      while (true) {
        const n = await file.read(buf);
        if (n === null) break;
        try {
          await writer.write(buf.slice(0, n));
        } catch {
          writeFailed = true;
          break;
        }
        sent += n;
        opts.onProgress?.(sent);
        if (opts.rateLimit) {
          const due = started + (sent / opts.rateLimit) * 1000;
          const wait = due - Date.now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        }
      }
    } finally {
      file.close();
      await writer.close().catch(() => {});
    }
    const status = await child.status;
    const err = await stderrText;
    if (status.code !== 0 || writeFailed) throw this.#fail(status.code === 0 ? 255 : status.code, err, step);
  }
}
