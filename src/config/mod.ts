/**
 * Configuration: a key table ({@linkcode KEYS}), YAML loading with key-path and line-number errors
 * ({@linkcode loadConfig}), and the commented default file ({@linkcode renderDefaultConfig}).
 *
 * @module
 */
export * from "./schema.ts";
export * from "./load.ts";
export * from "./render.ts";
