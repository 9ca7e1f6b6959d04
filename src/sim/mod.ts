/**
 * The swarm simulation — not part of the agent: N learners in one process over an in-memory lossy
 * network carrying real wire frames, with attackers, poisoned local rows, churn and a centralized
 * baseline; the MNIST digits and a dependency-free MLP to run it on; per-seed and per-setting
 * summaries. Used by `deno task sim`, the swarm benchmarks and the tests. The daemon never imports it
 * (the real-network benchmark gives a development agent its attack through the agent's hooks).
 *
 * @module
 */
export * from "./attacks.ts";
export * from "./backdoor.ts";
export * from "./centralized.ts";
export * from "./churn.ts";
export * from "./crafted.ts";
export * from "./mnist.ts";
export * from "./network.ts";
export * from "./poison.ts";
export * from "./seeds.ts";
export * from "./swarm.ts";
export * from "./tiny_mlp.ts";
