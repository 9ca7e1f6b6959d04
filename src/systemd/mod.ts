/**
 * Running the agent as a system service: the hardened systemd unit ({@linkcode renderUnit}, shipped
 * as `deploy/agent.service`) and the rules for where it can run from ({@linkcode unitPrefixProblem}).
 *
 * @module
 */
export * from "./unit.ts";
