/**
 * Where the files the agent ships beside its code are: the model specs (`models/`) and the tfjs `.wasm`
 * binaries. The same code runs in three forms:
 *
 * - from source: this module is `<repo>/src/resources.ts`; the files are `<repo>/models/` and
 *   `<repo>/node_modules/@tensorflow/tfjs-backend-wasm/dist/`;
 * - as the bundle of a release (`deno bundle --code-splitting` → `<release>/app/main.js` and the chunks
 *   it loads on demand): every module's `import.meta.url` is the URL of the bundle file it landed in, all
 *   of them in `app/`, and the files are `app/models/` and `app/wasm/`;
 * - as a `deno compile`d binary of that bundle: the same directory, embedded.
 *
 * @module
 */

const HERE = new URL(import.meta.url);

/** True when this code runs from the source tree, false in the bundle (release or compiled binary). */
export const FROM_SOURCE = HERE.pathname.endsWith("/src/resources.ts");

/** The directory the app runs from: the repository (source) or the bundle's directory (`<release>/app/`). */
export const APP_DIR = new URL(FROM_SOURCE ? "../" : "./", HERE);

/** Directory of the shipped model specs. */
export const MODELS_DIR = new URL("models/", APP_DIR);

/** Directory of the tfjs `.wasm` files. */
export const WASM_DIR = FROM_SOURCE
  ? new URL("node_modules/@tensorflow/tfjs-backend-wasm/dist/", APP_DIR)
  : new URL("wasm/", APP_DIR);

/** Directory of the bundle in a release. */
export const BUNDLE_DIR = "app";

/** Entry point of the bundle in {@linkcode BUNDLE_DIR} (what the launcher and `deno compile` run). */
export const BUNDLE_ENTRY = "main.js";
