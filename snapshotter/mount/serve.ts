/**
 * The foreground life of a mount daemon: mount, tell the parent (readiness
 * fd) or the user, then serve until SIGINT/SIGTERM or `soci umount`
 * (SIGTERM), rewrite the status file on SIGUSR1, and stop in order. Resolves
 * when everything is unmounted; the caller then exits.
 *
 * Not here: the mount itself (daemon.ts), detaching (spawn.ts).
 */
import { SociError } from "../../core-wasm/src/errors.ts";
import { mountImage, type ImageMount, type MountImageOptions } from "./daemon.ts";
import { reportReadiness, type ReadyMessage } from "./spawn.ts";

export interface ServeMountOptions extends MountImageOptions {
  /** Readiness pipe from a detaching parent (spawn.ts). */
  readyFd?: number;
  /** Called once the target is ready (foreground use: print a line). */
  onReady?: (ready: ReadyMessage, mount: ImageMount) => void;
}

export async function serveMount(opts: ServeMountOptions): Promise<void> {
  // Handlers first: a signal during start-up must not kill the daemon half-way
  // (SIGUSR1's default action terminates); a stop asked for then runs once mounted.
  let mount: ImageMount | null = null;
  let stopAsked: NodeJS.Signals | null = null;
  const stop = (sig: NodeJS.Signals) => {
    opts.log?.(`${sig}: unmounting ${mount!.target}`);
    void mount!.stop().catch((e) => opts.log?.(`stop failed: ${(e as Error).message}`));
  };
  const onSignal = (sig: NodeJS.Signals) => (mount === null ? (stopAsked = sig) : stop(sig));
  const onUsr1 = () => void mount?.writeStatus();
  const onHup = () => {}; // a closed terminal must not kill a detached daemon
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  process.on("SIGUSR1", onUsr1);
  process.on("SIGHUP", onHup);
  try {
    try {
      mount = await mountImage(opts);
    } catch (e) {
      if (opts.readyFd !== undefined) {
        const err = e as Error;
        reportReadiness(opts.readyFd, { error: { message: err.message, ...(e instanceof SociError && e.hint ? { hint: e.hint } : {}) } });
      }
      throw e;
    }
    const lazy = mount.infos.filter((i) => i.mode === "lazy").length;
    const ready: ReadyMessage = {
      pid: process.pid, target: mount.target, layers: mount.infos.length, lazy, unpacked: mount.infos.length - lazy,
      ...(mount.image?.noIndexReason ? { note: mount.image.noIndexReason } : {}),
    };
    opts.onReady?.(ready, mount);
    if (opts.readyFd !== undefined) reportReadiness(opts.readyFd, { ready });
    if (stopAsked !== null) stop(stopAsked);
    await mount.done;
    opts.log?.(`unmounted ${mount.target}`);
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    process.off("SIGUSR1", onUsr1);
    process.off("SIGHUP", onHup);
  }
}
