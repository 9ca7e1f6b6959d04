/**
 * The daemon's transport from `gossip.transport`: UDP broadcast, an MQTT broker, or both bridged
 * (`src/gossip/bridge.ts`). Broker secrets are read here, from files that only their owner may read (mode
 * 0600 or stricter: anything else is refused with what to run); they go to the MQTT client and nowhere else
 * (not logs, not status, not error messages).
 *
 * @module
 */
import type { Config } from "../config/mod.ts";
import { UsageError } from "../errors.ts";
import { type BridgeCounters, BridgeTransport, openUdpTransport, type Transport } from "../gossip/mod.ts";
import { keyId } from "../gossip/mod.ts";
import type { BrokerStatus, MqttTransport, MqttTransportOptions } from "../gossip/mod.ts";
import type { Logger } from "../log.ts";

/** The transport as status and metrics show it. */
export interface TransportInfo {
  /** gossip.transport. */
  mode: Config["gossip"]["transport"];
  /** The broker connection (mqtt and both), or null. */
  broker: BrokerStatus | null;
  /** Frames forwarded between LAN and broker (both), or null. */
  forwarded: BridgeCounters | null;
}

/** The broker settings with secrets read, checked before anything starts. */
export type MqttSettings = Omit<MqttTransportOptions, "logger" | "now" | "random">;

/** Reads a secret file: it must exist, be a regular file and be readable by its owner only. */
export async function readPrivateFile(path: string, key: string): Promise<string> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new UsageError(`${key}: ${JSON.stringify(path)} does not exist`, `Create it, or fix ${key}`);
    }
    throw new UsageError(`${key}: cannot read ${JSON.stringify(path)}: ${(e as Error).message}`);
  }
  if (!info.isFile) throw new UsageError(`${key}: ${JSON.stringify(path)} is not a file`, `Fix ${key}`);
  if (info.mode !== null && (info.mode & 0o077) !== 0) {
    throw new UsageError(
      `${key}: ${JSON.stringify(path)} is readable by others (mode ${
        (info.mode & 0o777).toString(8).padStart(4, "0")
      }); it holds a secret`,
      `Run: chmod 600 ${JSON.stringify(path)}`,
    );
  }
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    throw new UsageError(`${key}: cannot read ${JSON.stringify(path)}: ${(e as Error).name}`);
  }
}

async function readPublicFile(path: string, key: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound
      ? "does not exist"
      : `cannot be read (${(e as Error).name})`;
    throw new UsageError(`${key}: ${JSON.stringify(path)} ${why}`, `Fix ${key}`);
  }
}

/** Checks the mqtt section against the files it names and reads the secrets. */
export async function mqttSettings(
  config: Config,
  ids: { modelHash: Uint8Array; publicKey: Uint8Array },
): Promise<MqttSettings> {
  const m = config.mqtt;
  let password: string | undefined;
  if (m.passwordFile !== "") {
    password = (await readPrivateFile(m.passwordFile, "mqtt.passwordFile")).split(/\r?\n/)[0];
    if (password === "") {
      throw new UsageError(
        `mqtt.passwordFile: ${JSON.stringify(m.passwordFile)} is empty`,
        "Put the broker password on its first line",
      );
    }
  }
  return {
    url: m.url,
    topic: m.topic !== "" ? m.topic : `agent/${keyId(ids.modelHash)}`,
    clientId: m.clientId !== "" ? m.clientId : `agent-${keyId(ids.publicKey).slice(0, 16)}`,
    ...(m.username !== "" ? { username: m.username } : {}),
    ...(password !== undefined ? { password } : {}),
    protocol: m.protocol,
    ...(m.ca !== "" ? { ca: await readPublicFile(m.ca, "mqtt.ca") } : {}),
    ...(m.cert !== "" ? { cert: await readPublicFile(m.cert, "mqtt.cert") } : {}),
    ...(m.key !== "" ? { key: await readPrivateFile(m.key, "mqtt.key") } : {}),
    keepaliveSeconds: m.keepaliveSeconds,
    reconnectMinMs: m.reconnectMinMs,
    reconnectMaxMs: m.reconnectMaxMs,
  };
}

/** An open transport and its status. */
export interface OpenTransport {
  transport: Transport;
  info(): TransportInfo;
}

/** Opens what gossip.transport asks for (UDP errors are thrown; the broker connects in the background). */
export async function openTransport(
  config: Config,
  mqtt: MqttSettings | undefined,
  logger: Logger,
): Promise<OpenTransport> {
  const mode = config.gossip.transport;
  const udp = () =>
    openUdpTransport({
      bind: config.gossip.bind,
      port: config.gossip.port,
      broadcast: config.gossip.broadcast,
      sharePort: config.gossip.sharePort,
    });
  if (mode === "udp") return { transport: udp(), info: () => ({ mode, broker: null, forwarded: null }) };
  if (!mqtt) throw new Error("Bug: gossip.transport needs the MQTT settings");
  const lan = mode === "both" ? udp() : undefined;
  let broker: MqttTransport;
  try {
    const { MqttTransport } = await import("../gossip/mqtt.ts");
    broker = new MqttTransport({ ...mqtt, logger: logger.child({ component: "mqtt" }) });
  } catch (e) {
    lan?.close();
    throw e;
  }
  if (!lan) return { transport: broker, info: () => ({ mode, broker: broker.status(), forwarded: null }) };
  const bridge = new BridgeTransport(lan, broker);
  return {
    transport: bridge,
    info: () => ({ mode, broker: broker.status(), forwarded: { ...bridge.counters } }),
  };
}
