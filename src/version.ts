/** The agent's version, from deno.json (one place for the fact). @module */
import meta from "../deno.json" with { type: "json" };

/** Semantic version of this build. */
export const VERSION: string = meta.version;
