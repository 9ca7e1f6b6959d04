/**
 * Gossip: the pure state machine ({@linkcode GossipNode}: ingress pipeline, heartbeats, peer table,
 * replay windows, rate limits, trust filter) and the transports it is driven through (in-memory for
 * tests, UDP broadcast for real). The shell that joins them to a socket and timers is
 * {@linkcode GossipService}.
 *
 * @module
 */
export * from "./transport.ts";
export * from "./memory.ts";
export * from "./node.ts";
export * from "./airtime.ts";
export * from "./replay.ts";
export * from "./ratelimit.ts";
export * from "./key_id.ts";
export * from "./persist.ts";
export * from "./shell.ts";
export * from "./udp.ts";
export * from "./bridge.ts";
// mqtt.ts is imported on its own (it loads npm:mqtt, which a UDP-only agent does not need).
/** Types that appear in this module's signatures (defined in other layers). */
export type { Signer } from "../identity/mod.ts";
export type { Clock } from "../time.ts";
export type { Logger } from "../log.ts";
// The MQTT client is loaded only when a broker is configured (agent/transport.ts imports it on demand):
// its types are here, its code is not.
export type { BrokerStatus, MqttTransport, MqttTransportOptions } from "./mqtt.ts";
