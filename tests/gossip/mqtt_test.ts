/**
 * {@linkcode MqttTransport} against a real Mosquitto on loopback: frames cross unchanged over TLS (a CA and
 * a server certificate made with openssl) with password authentication; a wrong password leaves the
 * transport down with a plain reason logged once and no secret anywhere; a payload above the hard cap
 * arrives cut to 4,097 bytes. Skipped (with the reason) without mosquitto or openssl.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import { freeTcpPort } from "../../scripts/lib/cluster.ts";
import { MqttTransport, type MqttTransportOptions } from "../../src/gossip/mqtt.ts";
import type { Received } from "../../src/gossip/transport.ts";
import type { Logger } from "../../src/log.ts";
import { isInstalled, sh } from "../_support/command.ts";
import { waitFor } from "../_support/wait.ts";

const why = !isInstalled("mosquitto") || !isInstalled("mosquitto_passwd")
  ? "needs mosquitto"
  : !isInstalled("openssl")
  ? "needs openssl"
  : "";

/** A logger that keeps every line. */
function collect(): { logger: Logger; lines: { level: string; msg: string; fields: unknown }[] } {
  const lines: { level: string; msg: string; fields: unknown }[] = [];
  const make = (): Logger => ({
    debug: (msg, fields) => lines.push({ level: "debug", msg, fields }),
    info: (msg, fields) => lines.push({ level: "info", msg, fields }),
    warn: (msg, fields) => lines.push({ level: "warn", msg, fields }),
    error: (msg, fields) => lines.push({ level: "error", msg, fields }),
    child: () => make(),
  });
  return { logger: make(), lines };
}

Deno.test({
  name:
    "MqttTransport carries frames unchanged over TLS with a password, and reports a wrong password plainly",
  ignore: why !== "",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "mq-tls-test-" });
    const port = freeTcpPort();
    const f = (n: string) => join(dir, n);
    const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    await sh(
      "openssl",
      "req",
      "-x509",
      ...ec,
      "-keyout",
      f("ca.key"),
      "-out",
      f("ca.pem"),
      "-days",
      "1",
      "-subj",
      "/CN=mq-test-ca",
    );
    await sh(
      "openssl",
      "req",
      ...ec,
      "-keyout",
      f("server.key"),
      "-out",
      f("server.csr"),
      "-subj",
      "/CN=127.0.0.1",
    );
    await Deno.writeTextFile(f("ext"), "subjectAltName=IP:127.0.0.1\n");
    await sh(
      "openssl",
      "x509",
      "-req",
      "-in",
      f("server.csr"),
      "-CA",
      f("ca.pem"),
      "-CAkey",
      f("ca.key"),
      "-CAcreateserial",
      "-out",
      f("server.pem"),
      "-days",
      "1",
      "-extfile",
      f("ext"),
    );
    await sh("mosquitto_passwd", "-c", "-b", f("passwd"), "board", "right-password");
    await Deno.writeTextFile(
      f("mosquitto.conf"),
      `${Deno.uid() === 0 ? "user root\n" : ""}listener ${port} 127.0.0.1\ncafile ${f("ca.pem")}\n` +
        `certfile ${f("server.pem")}\nkeyfile ${f("server.key")}\nallow_anonymous false\npassword_file ${
          f("passwd")
        }\n`,
    );
    const broker = new Deno.Command("mosquitto", {
      args: ["-c", f("mosquitto.conf")],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const ca = await Deno.readTextFile(f("ca.pem"));
    const base = (id: string, password: string, logger: Logger): MqttTransportOptions => ({
      url: `mqtts://127.0.0.1:${port}`,
      topic: "agent/test",
      clientId: id,
      username: "board",
      password,
      protocol: "5",
      ca,
      keepaliveSeconds: 10,
      reconnectMinMs: 200,
      reconnectMaxMs: 1000,
      logger,
    });
    const logs = collect();
    const a = new MqttTransport(base("mq-a", "right-password", logs.logger));
    const b = new MqttTransport(base("mq-b", "right-password", logs.logger));
    const wrong = collect();
    const c = new MqttTransport(base("mq-c", "wrong-password", wrong.logger));
    const got: Received[] = [];
    const reading = (async () => {
      for await (const r of b.receive()) got.push(r);
    })();
    try {
      await waitFor("both connected over TLS", () => a.state === "connected" && b.state === "connected", {
        timeoutMs: 20_000,
        everyMs: 50,
      });
      const frame = crypto.getRandomValues(new Uint8Array(1232));
      // The subscription is made right after connecting: retry until the first frame crosses.
      await waitFor("a frame from a to b", async () => {
        await a.broadcast(frame);
        return got.length > 0;
      }, { timeoutMs: 10_000, everyMs: 200 });
      assert.deepEqual(got[0].bytes, frame);
      assert.deepEqual(got[0].from, { hostname: "127.0.0.1", port, via: "broker" });
      assert.equal(a.status().messagesIn, 0, "MQTT 5 no-local: a board does not get its own frames back");

      // A publisher that ignores the cap: its payload arrives cut to cap + 1 bytes (rejected as oversize).
      const { default: mqtt } = await import("mqtt");
      const raw = await mqtt.connectAsync(`mqtts://127.0.0.1:${port}`, {
        clientId: "mq-raw",
        username: "board",
        password: "right-password",
        ca,
        protocolVersion: 5,
        reconnectPeriod: 0,
      });
      const n = got.length;
      await raw.publishAsync("agent/test", Buffer.from(new Uint8Array(6000).fill(1)), { qos: 1 });
      await raw.endAsync();
      await waitFor("the oversized payload", () => got.length > n, { timeoutMs: 10_000, everyMs: 50 });
      assert.equal(got[got.length - 1].bytes.length, 4097);

      await waitFor("three refused attempts", () => c.status().failures >= 3, {
        timeoutMs: 20_000,
        everyMs: 50,
      });
      assert.notEqual(c.state, "connected");
      // Mosquitto answers a wrong password with MQTT 5's "not authorized" (135).
      assert.match(
        c.status().lastError!,
        /^the broker (refused the user name or password|says this client is not authorized)/,
      );
      const problems = wrong.lines.filter((l) => l.msg === "MQTT broker connection problem");
      assert.equal(problems.length, 1, JSON.stringify(wrong.lines));
      for (const l of [...logs.lines, ...wrong.lines]) {
        assert.ok(!JSON.stringify(l).includes('password"'), JSON.stringify(l));
        assert.ok(
          !JSON.stringify(l).includes("wrong-password") && !JSON.stringify(l).includes("right-password"),
        );
      }
      assert.ok(!JSON.stringify(c.status()).includes("wrong-password"));
    } finally {
      a.close();
      b.close();
      c.close();
      await reading;
      broker.kill("SIGTERM");
      await broker.status;
      await Deno.remove(dir, { recursive: true });
    }
  },
});
