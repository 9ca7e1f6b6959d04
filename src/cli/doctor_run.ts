/**
 * The part of `agent doctor` that checks what `agent run` needs beyond a valid config and a model: the
 * local data (exists, rows, bad rows), the gossip and API ports (free, or held by this state
 * directory's running agent), the broadcast address (one of this machine's networks) and the trusted
 * peers (any, and whether each one is usable).
 *
 * @module
 */
import type { Config } from "../config/mod.ts";
import { UsageError } from "../errors.ts";
import { type SampleShape, summariseBadRows } from "../learn/mod.ts";
import { TrustStore } from "../identity/mod.ts";
import { parseListen } from "../api/mod.ts";
import type { StateLayout } from "../state/mod.ts";
import type { DoctorCheck } from "./doctor_state.ts";
import { fetchStatus, ownFingerprint } from "./status.ts";

/** Bad rows named in full before the rest are only counted. */
const BAD_ROWS_SHOWN = 3;

/** Rows and bad rows of `data.source` (and `data.test`) as `agent run` loads them. */
export async function dataChecks(config: Config, shape: SampleShape): Promise<DoctorCheck[]> {
  const out: DoctorCheck[] = [];
  if (config.data.source === "") {
    out.push({
      name: "data",
      status: "warn",
      detail:
        "no data.source: this board has no local rows to learn from (only samples posted to /v1/samples)",
      hint: "Set data.source to a .jsonl/.csv file or a directory of them",
    });
  }
  for (const [key, path] of [["data.source", config.data.source], ["data.test", config.data.test]] as const) {
    if (path === "") continue;
    const name = key === "data.source" ? "data" : "test data";
    try {
      const { loadLocalSamples } = await import("../agent/data.ts"); // on demand, like the rest of doctor
      const { samples, bad } = await loadLocalSamples(path, shape);
      const rows = samples.view().count;
      const summary = summariseBadRows(bad, BAD_ROWS_SHOWN);
      const reasons = Object.entries(summary.byReason).map(([k, n]) => `${k} ${n}`).join(", ");
      const badText = bad.length === 0
        ? ""
        : `; ${bad.length} bad row(s) skipped (${reasons}), e.g. ${summary.first.join("; ")}`;
      out.push({
        name,
        status: rows === 0 ? "fail" : bad.length > 0 ? "warn" : "ok",
        detail: `${key} ${JSON.stringify(path)}: ${rows} usable row(s)${badText}`,
        ...(rows === 0 || bad.length > 0
          ? {
            hint: `Each row needs ${shape.features} values${
              shape.input ? ` in the model's range` : ""
            } and a label 0..${shape.classes - 1}`,
          }
          : {}),
      });
    } catch (e) {
      if (!(e instanceof UsageError)) throw e;
      out.push({ name, status: "fail", detail: `${key}: ${e.message}`, hint: e.hint });
    }
  }
  return out;
}

/** PID of the agent holding this state directory's lock, or undefined when none runs. */
async function runningAgent(state: StateLayout): Promise<string | undefined> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(state.lock, { read: true });
  } catch {
    return undefined;
  }
  try {
    if (await file.tryLock(true)) {
      await file.unlock();
      return undefined;
    }
    return (await Deno.readTextFile(state.lock).catch(() => "")).trim() || "(unknown)";
  } finally {
    file.close();
  }
}

/** The gossip (UDP) and API (TCP) ports: free, or held by this state directory's own agent. */
export async function portChecks(config: Config, state: StateLayout): Promise<DoctorCheck[]> {
  const pid = await runningAgent(state);
  const api = parseListen(config.api.listen);
  if (pid !== undefined) {
    return [{
      name: "ports",
      status: "ok",
      detail:
        `UDP ${config.gossip.port} and ${config.api.listen} are held by this state directory's agent (PID ${pid})`,
    }];
  }
  const out: DoctorCheck[] = [];
  if (typeof Deno.listenDatagram !== "function") {
    out.push({ name: "gossip port", status: "warn", detail: "not checked: needs --unstable-net" });
  } else {
    try {
      Deno.listenDatagram({
        transport: "udp",
        hostname: config.gossip.bind,
        port: config.gossip.port,
        reuseAddress: config.gossip.sharePort,
      }).close();
      out.push({
        name: "gossip port",
        status: "ok",
        detail: `UDP ${config.gossip.bind}:${config.gossip.port} is free`,
      });
    } catch (e) {
      out.push({
        name: "gossip port",
        status: "fail",
        detail: `UDP ${config.gossip.bind}:${config.gossip.port} cannot be bound: ${(e as Error).message}`,
        hint: e instanceof Deno.errors.AddrInUse
          ? "Another program uses it: stop it, or set gossip.port (the same on every board)"
          : "Check gossip.bind",
      });
    }
  }
  try {
    Deno.listen({ hostname: api.hostname, port: api.port }).close();
    out.push({ name: "api port", status: "ok", detail: `TCP ${config.api.listen} is free` });
  } catch (e) {
    out.push({
      name: "api port",
      status: "fail",
      detail: `TCP ${config.api.listen} cannot be bound: ${(e as Error).message}`,
      hint: e instanceof Deno.errors.AddrInUse
        ? "Another program (or another agent) uses it: set api.listen to a free port"
        : "Check api.listen",
    });
  }
  return out;
}

/** IPv4 as a 32-bit unsigned number (the address is validated by the config). */
function ipv4(text: string): number {
  return text.split(".").reduce((n, part) => n * 256 + Number(part), 0);
}

function dotted(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join(".");
}

/** `gossip.broadcast` is the broadcast address of one of this machine's IPv4 networks. */
export function broadcastCheck(broadcast: string, interfaces: Deno.NetworkInterfaceInfo[]): DoctorCheck {
  const nets = interfaces.filter((i) => i.family === "IPv4").map((i) => {
    const mask = ipv4(i.netmask);
    return { name: i.name, cidr: i.cidr, broadcast: dotted(((ipv4(i.address) & mask) | ~mask) >>> 0) };
  });
  if (broadcast === "255.255.255.255") {
    return {
      name: "broadcast",
      status: "ok",
      detail: "255.255.255.255 reaches the local network of the default route",
    };
  }
  const match = nets.find((n) => n.broadcast === broadcast);
  if (match) {
    return {
      name: "broadcast",
      status: "ok",
      detail: `${broadcast} is the broadcast address of ${match.name} (${match.cidr})`,
    };
  }
  const known = [...new Set(nets.map((n) => `${n.name} ${n.broadcast}`))].join(", ");
  return {
    name: "broadcast",
    status: "warn",
    detail: `gossip.broadcast ${broadcast} is not the broadcast address of any network here (${
      known || "none"
    })`,
    hint: "Peers may never hear this board: set gossip.broadcast to its LAN's broadcast address",
  };
}

/** Trusted peers: any at all, and (when this state directory's agent runs) why any is unusable. */
export async function peerChecks(config: Config, state: StateLayout): Promise<DoctorCheck[]> {
  let trusted: number;
  try {
    trusted = (await TrustStore.open(state)).trusted().length;
  } catch (e) {
    return [{ name: "peers", status: "fail", detail: `trust store unreadable: ${(e as Error).message}` }];
  }
  if (trusted === 0) {
    return [{
      name: "peers",
      status: "warn",
      detail: "no trusted peers: this board learns alone",
      hint: "Pair boards: 'agent id' on one, 'agent trust <payload>' on the other, both ways",
    }];
  }
  const got = await fetchStatus(config.api.listen, state.status, {
    timeoutMs: 1000,
    expectFingerprint: await ownFingerprint(state),
  });
  if ("error" in got || got.source.kind !== "live") {
    return [{
      name: "peers",
      status: "ok",
      detail: `${trusted} trusted peer(s); usability is known while the agent runs`,
    }];
  }
  const unusable = got.report.peers.filter((p) => p.unusable);
  const out: DoctorCheck[] = [{
    name: "peers",
    status: unusable.length === trusted ? "warn" : "ok",
    detail: `${trusted} trusted peer(s), ${trusted - unusable.length} usable now`,
  }];
  for (const p of unusable) {
    out.push({ name: "peer", status: "warn", detail: `${p.name || p.fingerprint}: ${p.unusable}` });
  }
  return out;
}
