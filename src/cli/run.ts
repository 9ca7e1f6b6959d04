/**
 * `agent run`: the daemon in the foreground (systemd runs it as `agent run`). Stops cleanly on
 * SIGINT/SIGTERM after a final checkpoint; reloads the trust store and live config keys on SIGHUP.
 *
 * Environment for supervisors and benchmarks:
 * - `AGENT_EXIT_ON_STDIN_EOF=1`: also stop when stdin reaches end of file, so a parent that dies
 *   (even by SIGKILL) never leaves this process behind (used by the demo and the tests).
 * - `AGENT_DEV_ATTACK=ATTACK` (one of the simulation's attacks, e.g. signflip, alie, backdoor):
 *   DEVELOPMENT ONLY, for the real-network Byzantine benchmark: this node runs the attack through the
 *   agent's hooks, composed here from `src/sim/` (loaded only then: the agent itself knows no attack).
 *   Logged loudly; never set it on a real deployment.
 *
 * @module
 */
import { createLogger, type Logger, type LogLevel } from "../log.ts";
import { VERSION } from "../version.ts";
import { UsageError } from "../errors.ts";
import type { AgentHooks } from "../agent/agent.ts";
import type { Command, CommandContext } from "./command.ts";

/** The `run` command. */
export const runCommand: Command = {
  name: "run",
  summary: "Run the agent: learn, gossip with trusted peers, serve the local API",
  usage: ["run"],
  description: "Runs in the foreground until SIGINT or SIGTERM (Ctrl-C), then saves a final checkpoint.\n" +
    "SIGHUP (or editing the config or trust store) reloads the trust store and the live config keys.",
  options: {},
  positionals: [0, 0],
  examples: ["agent run", "agent run --state /tmp/a --log-level debug"],
  run: runDaemon,
};

/** A logger whose level can change while components keep their reference. */
function switchableLogger(ctx: CommandContext, level: LogLevel, format: "auto" | "text" | "json") {
  let current = level;
  const make = (lvl: LogLevel, fields: Record<string, unknown>) =>
    createLogger({ level: lvl, format, write: (line) => ctx.io.stderr(line + "\n") }, fields);
  const wrap = (fields: Record<string, unknown>): Logger => {
    let cachedLevel = current;
    let inner = make(current, fields);
    const get = () => {
      if (cachedLevel !== current) {
        cachedLevel = current;
        inner = make(current, fields);
      }
      return inner;
    };
    return {
      debug: (m, f) => get().debug(m, f),
      info: (m, f) => get().info(m, f),
      warn: (m, f) => get().warn(m, f),
      error: (m, f) => get().error(m, f),
      child: (more) => wrap({ ...fields, ...more }),
    };
  };
  return { logger: wrap({}), setLevel: (l: LogLevel) => (current = l) };
}

async function runDaemon(ctx: CommandContext): Promise<number> {
  const config = await ctx.config();
  const { logger, setLevel } = switchableLogger(
    ctx,
    ctx.global.logLevel ?? config.logging.level,
    config.logging.format,
  );
  const { Agent } = await import("../agent/agent.ts");
  const devAttack = ctx.io.env.AGENT_DEV_ATTACK;
  let hooks: AgentHooks | undefined;
  if (devAttack) {
    hooks = await devAttackHooks(devAttack);
    logger.warn("DEVELOPMENT ATTACK MODE: this node sends corrupted model updates (AGENT_DEV_ATTACK)", {
      attack: devAttack,
    });
  }
  const { loadConfig } = await import("../config/mod.ts");
  // Signals are handled from the start: a stop asked for while the agent is still starting (loading
  // the model, the data) takes effect as soon as it is up, after a clean start.
  let daemon: Awaited<ReturnType<typeof Agent.start>> | undefined;
  let stopAsked: string | undefined;
  const stop = (why: string) => {
    if (daemon) void daemon.stop(why);
    else stopAsked ??= why;
  };
  const onInt = () => stop("SIGINT");
  const onTerm = () => stop("SIGTERM");
  Deno.addSignalListener("SIGINT", onInt);
  Deno.addSignalListener("SIGTERM", onTerm);
  const removeListeners = () => {
    Deno.removeSignalListener("SIGINT", onInt);
    Deno.removeSignalListener("SIGTERM", onTerm);
  };
  if (ctx.io.env.AGENT_EXIT_ON_STDIN_EOF === "1") {
    void (async () => {
      const buf = new Uint8Array(256);
      try {
        while ((await Deno.stdin.read(buf)) !== null) { /* discard */ }
      } catch { /* closed */ }
      stop("stdin closed (parent process gone)");
    })();
  }
  try {
    daemon = await Agent.start({
      config,
      state: ctx.state,
      configPath: ctx.configPath,
      loadConfig: async () => {
        let text: string | undefined;
        try {
          text = await Deno.readTextFile(ctx.configPath);
        } catch (e) {
          if (!(e instanceof Deno.errors.NotFound)) throw e;
        }
        return loadConfig({
          file: ctx.configPath,
          text,
          env: ctx.io.env,
          overrides: ctx.global.logLevel ? { "logging.level": ctx.global.logLevel } : {},
        });
      },
      logger,
      setLogLevel: (l) => {
        if (!ctx.global.logLevel) setLevel(l);
      },
      version: VERSION,
      hooks,
    });
  } catch (e) {
    removeListeners();
    throw e;
  }
  if (stopAsked) void daemon.stop(stopAsked);
  ctx.print("", { running: true, api: daemon.apiAddress, fingerprint: daemon.identity.fingerprint });
  await daemon.stopped;
  removeListeners();
  return 0;
}

/** The hooks of the simulation's attack `name` (AGENT_DEV_ATTACK), for the real-network benchmark. */
async function devAttackHooks(name: string): Promise<AgentHooks> {
  const { ATTACKS, createAttack } = await import("../sim/mod.ts");
  const attack = ATTACKS.find((a) => a === name);
  if (!attack) {
    throw new UsageError(
      `AGENT_DEV_ATTACK=${JSON.stringify(name)} is not one of ${ATTACKS.join(", ")}`,
      "Unset AGENT_DEV_ATTACK: it is only for the Byzantine benchmark",
    );
  }
  const { SeededRandom } = await import("../time.ts");
  const { deflateBody } = await import("../wire/mod.ts");
  return createAttack(attack, { deflate: deflateBody, rng: new SeededRandom(7) });
}
