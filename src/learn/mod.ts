/**
 * Swarm learning: local training on private data, compressed publication of the model with error
 * feedback, loss-tolerant public copies of peers' models, robust merging, snapshot catch-up and
 * checkpoints. Everything here is pure (model, clock readings, randomness and DEFLATE are passed in);
 * the daemon wires it to gossip. The algorithm is documented in `learner.ts`, the body formats in
 * `codec.ts`.
 *
 * @module
 */
export * from "./codec.ts";
export * from "./data.ts";
export * from "./learner.ts";
export * from "./robust.ts";
export * from "./split.ts";
export * from "./from_config.ts";
export * from "./persist.ts";
