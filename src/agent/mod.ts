/**
 * The daemon: `Agent.start` composes identity and trust, the model and its checkpoint, the local data,
 * the learner, the gossip daemon and the API; the compute backend choice `agent doctor` shares with it;
 * the local data loader; the status report builder.
 *
 * @module
 */
export * from "./agent.ts";
export * from "./backend_choice.ts";
export * from "./daemon.ts";
export * from "./data.ts";
export * from "./options.ts";
export * from "./reload.ts";
export * from "./samples.ts";
export * from "./status.ts";
export * from "./transport.ts";
