/**
 * Where the files the agent ships beside its code are: the model specs (`models/`) and the tfjs `.wasm`
 * binaries. The same code runs in three forms:
 *
 * - from source: this module is `<repo>/src/resources.ts`; the files are `<repo>/models/` and
 *   `<repo>/node_modules/@tensorflow/tfjs-backend-wasm/dist/`;
 * - as the bundle of a release (`deno bundle` → `agent.js`): every module's `import.meta.url` is the
 *   bundle's own URL, and the files are `models/` and `wasm/` beside it;
 * - as a `deno compile`d binary of that bundle: the same two directories, embedded next to it.
 *
 * @module
 */

const HERE = new URL(import.meta.url);

/** True when this code runs from the source tree, false in the bundle (release or compiled binary). */
export const FROM_SOURCE = HERE.pathname.endsWith("/src/resources.ts");

/** The directory the app runs from: the repository (source) or the directory holding the bundle. */
export const APP_DIR = new URL(FROM_SOURCE ? "../" : "./", HERE);

/** Directory of the shipped model specs. */
export const MODELS_DIR = new URL("models/", APP_DIR);

/** Directory of the tfjs `.wasm` files. */
export const WASM_DIR = FROM_SOURCE
  ? new URL("node_modules/@tensorflow/tfjs-backend-wasm/dist/", APP_DIR)
  : new URL("wasm/", APP_DIR);

/** File name of the bundle in a release (and the entry point `deno compile` embeds). */
export const BUNDLE_NAME = "agent.js";
