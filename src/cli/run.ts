/**
 * `agent run`: the daemon in the foreground (systemd runs it like this). Loads the config, takes the
 * state lock, loads the identity and trust store, opens the UDP socket and gossips heartbeats with
 * trusted peers until SIGINT or SIGTERM, then saves its state and exits 0.
 *
 * @module
 */
import type { Command, CommandContext } from "./command.ts";

/** The `run` command. */
export const runCommand: Command = {
  name: "run",
  summary: "Run the agent in the foreground: gossip with trusted peers until stopped",
  usage: ["run"],
  description: [
    "Needs 'agent init' first (identity and config) and peers paired with 'agent trust'.",
    "Stops cleanly on Ctrl-C or SIGTERM. Only one agent can run per state directory and UDP port.",
  ].join("\n"),
  options: {},
  positionals: [0, 0],
  examples: ["agent run", "agent run --state /var/lib/agent --log-level debug"],
  run: runRun,
};

async function runRun(ctx: CommandContext): Promise<number> {
  const config = await ctx.config();
  const logger = ctx.logger(config);
  const { loadIdentity, resolveNodeName, TrustStore } = await import("../identity/mod.ts");
  const { startDaemon } = await import("../agent/daemon.ts");
  const identity = await loadIdentity(ctx.state);
  const trust = await TrustStore.open(ctx.state, { self: identity.publicKey });
  const name = resolveNodeName(config.node.name, Deno.hostname());
  if (trust.trusted().length === 0) {
    logger.warn("No trusted peers yet: this agent will only listen", {
      hint: "pair boards with 'agent id' on one and 'agent trust' on the other",
    });
  }
  const daemon = await startDaemon({
    config,
    state: ctx.state,
    name,
    signer: identity.signer,
    trust,
    logger,
  });
  const stopped = Promise.withResolvers<string>();
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  const handlers = signals.map((signal) => {
    const handler = () => stopped.resolve(signal);
    Deno.addSignalListener(signal, handler);
    return [signal, handler] as const;
  });
  const signal = await stopped.promise;
  for (const [s, h] of handlers) Deno.removeSignalListener(s, h);
  logger.info("Stopping", { signal });
  await daemon.stop();
  const status = daemon.status();
  logger.info("Stopped", {
    peers: status.peers.map((p) => ({
      name: p.name,
      fingerprint: p.fingerprint,
      alive: p.alive,
      in: p.datagramsIn,
    })),
    counters: status.counters,
  });
  return 0;
}
