/**
 * The set-up step `deno task test` runs before `deno test`, so the README's one command works on a
 * fresh Debian machine with only Node and npm:
 *
 * - the Debian packages of `scripts/test-packages.txt` (the one list; `.ci/run` reads it too): as root
 *   with apt, the missing ones are installed, saying which; otherwise it stops at once with the exact
 *   `apt-get install …` line to run (exit 1). Without dpkg (not Debian) it says what the tests expect
 *   and carries on: the tests that need a missing program skip with the reason;
 * - the npm packages (`deno install`, so `node_modules` is complete for the release the clone tests
 *   package), which `npx deno task test` on a fresh clone does not otherwise do.
 *
 * `AGENT_TEST_SETUP=skip` skips both (e.g. on a machine set up by hand).
 *
 * @module
 */
import { fileURLToPath } from "node:url";

const LIST = fileURLToPath(new URL("./test-packages.txt", import.meta.url));
const ROOT = fileURLToPath(new URL("../", import.meta.url));

/** Package names of a list text (comments and blank lines ignored). */
export function parsePackageList(text: string): string[] {
  return text.split("\n").map((l) => l.replace(/#.*/, "").trim()).filter((l) => l !== "");
}

/** The exact command that installs `packages` on Debian (with the arm64 architecture when needed). */
export function aptCommand(packages: string[], sudo: boolean): string {
  const s = sudo ? "sudo " : "";
  const arch = packages.some((p) => p.endsWith(":arm64")) ? `${s}dpkg --add-architecture arm64 && ` : "";
  return `${arch}${s}apt-get update && ${s}apt-get install -y --no-install-recommends ${packages.join(" ")}`;
}

async function output(cmd: string, args: string[], inherit = false): Promise<{ ok: boolean; out: string }> {
  try {
    const o = await new Deno.Command(cmd, {
      args,
      stdin: "null",
      stdout: inherit ? "inherit" : "piped",
      stderr: inherit ? "inherit" : "piped",
      env: { DEBIAN_FRONTEND: "noninteractive" },
    }).output();
    const text = (b: Uint8Array) => new TextDecoder().decode(b);
    return { ok: o.success, out: inherit ? "" : text(o.stdout) + (o.success ? "" : text(o.stderr)) };
  } catch {
    return { ok: false, out: "" };
  }
}

/** Packages of `wanted` that dpkg does not list as installed. */
async function missingPackages(wanted: string[]): Promise<string[]> {
  const r = await output("dpkg-query", ["-W", "-f", "${binary:Package} ${db:Status-Status}\\n", ...wanted]);
  const installed = new Set(
    r.out.split("\n").filter((l) => l.endsWith(" installed")).map((l) => l.split(" ")[0]),
  );
  const native = (await output("dpkg", ["--print-architecture"])).out.trim();
  return wanted.filter((p) => !installed.has(p) && !installed.has(`${p}:${native}`));
}

async function main(): Promise<number> {
  if (Deno.env.get("AGENT_TEST_SETUP") === "skip") return 0;
  const wanted = parsePackageList(await Deno.readTextFile(LIST));
  if (!(await output("dpkg-query", ["--version"])).ok) {
    console.error(
      `test setup: not a Debian system (no dpkg); the tests expect these Debian packages or their equivalents: ${
        wanted.join(" ")
      } — tests whose program is missing are skipped`,
    );
  } else {
    const missing = await missingPackages(wanted);
    if (missing.length > 0) {
      const root = Deno.uid() === 0;
      const apt = (await output("apt-get", ["--version"])).ok;
      if (!root || !apt) {
        console.error(
          `test setup: missing Debian packages: ${missing.join(" ")}\n  run: ${aptCommand(missing, !root)}`,
        );
        return 1;
      }
      console.error(`test setup: installing Debian packages: ${missing.join(" ")}`);
      const steps: [string, string[]][] = [];
      if (missing.some((p) => p.endsWith(":arm64"))) {
        const foreign = (await output("dpkg", ["--print-foreign-architectures"])).out.split("\n");
        if (!foreign.includes("arm64")) steps.push(["dpkg", ["--add-architecture", "arm64"]]);
      }
      steps.push(["apt-get", ["update", "-qq", "-o", "DPkg::Lock::Timeout=600"]]);
      steps.push([
        "apt-get",
        ["install", "-y", "-qq", "--no-install-recommends", "-o", "DPkg::Lock::Timeout=600", ...missing],
      ]);
      for (const [cmd, args] of steps) {
        const r = await output(cmd, args);
        if (!r.ok) {
          console.error(r.out.split("\n").slice(-20).join("\n"));
          console.error(
            `test setup: '${cmd} ${args.join(" ")}' failed\n  run: ${aptCommand(missing, false)}`,
          );
          return 1;
        }
      }
    }
  }
  // npm packages into node_modules (quick when already there).
  const install = await new Deno.Command(Deno.execPath(), {
    args: ["install", "--quiet"],
    cwd: ROOT,
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!install.success) {
    console.error("test setup: 'deno install' failed (npm packages); check access to the npm registry");
    return 1;
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main());
