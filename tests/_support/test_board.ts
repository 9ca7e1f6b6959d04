/**
 * One board for the rollback test, booted by the project's board harness (`scripts/lib/boards.ts`:
 * a Debian bookworm container with systemd as PID 1 on its own bridge, sshd with pinned host keys).
 * The rollback test only needs {@linkcode TestBoard}.
 *
 * @module
 */
import {
  BoardFleet,
  boardsUnavailable as harnessUnavailable,
  ensureRootfs,
} from "../../scripts/lib/boards.ts";

/** Why boards cannot run here (the test is skipped with this reason), or undefined when they can. */
export function boardsUnavailable(): string | undefined {
  return harnessUnavailable();
}

/** One booted board. */
export interface TestBoard extends AsyncDisposable {
  name: string;
  /** Address on the bridge and sshd port. */
  host: string;
  port: number;
  /** The key root@board accepts. */
  sshKey: string;
  /** Known-hosts lines pinning the board's host key. */
  knownHosts: string;
  /** The container's root file system on the host. */
  root: string;
  /** Runs `sh -c script` inside the container as root (nsenter; no ssh). */
  sh(script: string): Promise<{ code: number; stdout: string; stderr: string }>;
  stop(): Promise<void>;
}

/** Boots one board; stop it with `await using`. */
export async function bootBoard(log: (line: string) => void = () => {}): Promise<TestBoard> {
  const rootfs = await ensureRootfs({ log });
  const fleet = await BoardFleet.start({ count: 1, rootfs, log });
  const board = fleet.boards[0];
  const stop = () => fleet.stop();
  return {
    name: board.name,
    host: board.ip,
    port: 22,
    sshKey: fleet.sshKey,
    knownHosts: await Deno.readTextFile(fleet.knownHosts),
    root: board.root,
    sh: (script) => board.exec(["sh", "-c", script]),
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
