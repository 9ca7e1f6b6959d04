import assert from "node:assert/strict";
import { join } from "node:path";
import { noRenderNodeReason } from "../../src/agent/backend_choice.ts";
import { bytes, diskCheck, renderNodes, serviceGpuCheck } from "../../src/cli/doctor_state.ts";
import { renderUnit } from "../../src/systemd/unit.ts";
import { tempDir } from "../_support/temp_dir.ts";

Deno.test("serviceGpuCheck() speaks of the installed unit's GPU access only when there is a unit", async () => {
  await using dir = await tempDir();
  assert.equal(await serviceGpuCheck(dir.path), undefined);
  await Deno.writeTextFile(
    join(dir.path, "agent.service"),
    renderUnit({ prefix: "/opt/agent", user: "agent", gpu: true }),
  );
  const gpu = await serviceGpuCheck(dir.path);
  assert.equal(gpu?.status, "ok");
  assert.match(gpu!.detail, /may use the GPU render nodes \(DeviceAllow=char-drm rw\)/);
  await Deno.writeTextFile(
    join(dir.path, "agent.service"),
    renderUnit({ prefix: "/opt/agent", user: "agent" }),
  );
  const plain = await serviceGpuCheck(dir.path);
  if (renderNodes().length === 0) {
    assert.equal(plain, undefined, "no GPU here: nothing to say");
  } else {
    assert.equal(plain?.status, "warn");
    assert.match(plain!.detail, /PrivateDevices=yes hides \/dev\/dri/);
    assert.match(plain!.hint!, /agent service install --gpu/);
  }
});

Deno.test("the backend reason says when systemd's PrivateDevices may be what hides the GPU", () => {
  assert.equal(noRenderNodeReason({}), "no GPU render node in /dev/dri, WebGPU not probed");
  assert.match(
    noRenderNodeReason({ INVOCATION_ID: "0123456789abcdef" }),
    /under systemd, whose PrivateDevices=yes hides \/dev\/dri.*agent service install --gpu/,
  );
});

Deno.test("diskCheck() makes a real write as large as the largest checkpoint and leaves nothing", async () => {
  await using dir = await tempDir();
  await Deno.mkdir(join(dir.path, "checkpoints"));
  await Deno.writeFile(join(dir.path, "checkpoints", "m-1.ckpt"), new Uint8Array(200 * 1024));
  const c = await diskCheck(dir.path, join(dir.path, "checkpoints"));
  assert.notEqual(c.status, "fail", c.detail);
  assert.match(c.detail, /a 200 KiB state write \(a checkpoint's size\) works; .* free of /);
  assert.deepEqual([...Deno.readDirSync(dir.path)].map((e) => e.name), ["checkpoints"]);
  assert.equal(bytes(2048), "2 KiB");
  assert.equal(bytes(3 * 1048576), "3.0 MiB");
});
