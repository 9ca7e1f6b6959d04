/**
 * The state directory: where it is ({@linkcode resolveStateDir}), what is in it ({@linkcode stateLayout}),
 * the one atomic writer ({@linkcode writeFileAtomic}), checksummed files and the daemon lock.
 *
 * @module
 */
export * from "./atomic.ts";
export * from "./checked.ts";
export * from "./layout.ts";
export * from "./lock.ts";
export * from "./saving.ts";
