import assert from "node:assert/strict";
import { aptCommand, parsePackageList } from "../../scripts/test_setup.ts";

const list = new URL("../../scripts/test-packages.txt", import.meta.url);

Deno.test("the package list ignores comments and blank lines", () => {
  assert.deepEqual(parsePackageList("# head\n\ncurl   # why\n  libc6:arm64\n#x\n"), ["curl", "libc6:arm64"]);
});

Deno.test("the apt line a non-root user is told to run installs exactly the missing packages", () => {
  assert.equal(
    aptCommand(["curl", "mmdebstrap"], true),
    "sudo apt-get update && sudo apt-get install -y --no-install-recommends curl mmdebstrap",
  );
  assert.equal(
    aptCommand(["libc6:arm64"], false),
    "dpkg --add-architecture arm64 && apt-get update && apt-get install -y --no-install-recommends libc6:arm64",
  );
});

Deno.test("the test packages are listed once: .ci/run and deno task test read the same file", async () => {
  const packages = parsePackageList(await Deno.readTextFile(list));
  for (const p of ["systemd-container", "mmdebstrap", "curl", "zbar-tools", "python3-prometheus-client"]) {
    assert.ok(packages.includes(p), p);
  }
  const ci = await Deno.readTextFile(new URL("../../.ci/run", import.meta.url));
  assert.match(ci, /scripts\/test-packages\.txt/);
  assert.doesNotMatch(ci, /zbar-tools|prometheus-client/, ".ci/run has no list of its own");
  const deno = JSON.parse(await Deno.readTextFile(new URL("../../deno.json", import.meta.url)));
  assert.match(deno.tasks.test, /^deno run [^&]*scripts\/test_setup\.ts && deno test /);
});
