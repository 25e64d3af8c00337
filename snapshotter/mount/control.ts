/**
 * Talking to a running mount daemon from another process (`soci umount`,
 * `soci mount --stats`): it is found through `<root>/mounts/<id>/state.json`
 * (id from the target path). Unmount = SIGTERM to the daemon, then wait for
 * it to take the overlay and its FUSE mounts down and exit; a daemon that is
 * gone (kill -9) has its leftovers cleaned here instead. Fresh stats =
 * SIGUSR1 (the daemon rewrites status.json at once), then read the file.
 *
 * Not here: the daemon itself (daemon.ts).
 */
import { stat } from "node:fs/promises";
import { NotFoundError, SociError } from "../../core-wasm/src/errors.ts";
import { isMountpoint } from "../fuse/mod.ts";
import { cleanupDeadMounts } from "./daemon.ts";
import { unmountOverlay } from "./overlay.ts";
import { isAlive, MountDir, type MountStatus } from "./state_dir.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface UnmountResult {
  target: string;
  /** "stopped": the daemon unmounted and exited; "cleaned": it was dead and its mounts were removed here. */
  how: "stopped" | "cleaned";
  pid?: number;
}

/**
 * Unmounts the image mounted at `target` under `root`. Throws NotFoundError
 * when no soci mount of this root is there, SociError when the daemon does
 * not finish within `timeoutMs`.
 */
export async function unmountImage(opts: { root: string; target: string; timeoutMs?: number; log?: (line: string) => void }): Promise<UnmountResult> {
  const md = new MountDir(opts.root, opts.target);
  const state = await md.readState();
  if (state === null) {
    throw new NotFoundError(`Cannot unmount "${md.target}": no soci mount of root ${md.root} is there`, {
      hint: isMountpoint(md.target) ? `It is mounted by something else (or another --root); run umount ${md.target}` : "Nothing is mounted there",
    });
  }
  if (!isAlive(state.pid)) {
    await cleanupDeadMounts(md.root, opts.log);
    await unmountOverlay(md.target);
    return { target: md.target, how: "cleaned", pid: state.pid };
  }
  process.kill(state.pid, "SIGTERM");
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  while (isAlive(state.pid)) {
    if (Date.now() > deadline) {
      throw new SociError(`Cannot unmount "${md.target}": daemon ${state.pid} did not stop within ${opts.timeoutMs ?? 30_000} ms`, { hint: `See ${md.logPath}; kill -9 ${state.pid} and run soci umount again` });
    }
    await sleep(50);
  }
  if (isMountpoint(md.target)) await unmountOverlay(md.target);
  return { target: md.target, how: "stopped", pid: state.pid };
}

/**
 * The status of the mount at `target`: with `refresh`, asks the daemon for a
 * new status file first (waits up to 2 s for it). NotFoundError when no
 * daemon of `root` serves `target`.
 */
export async function readMountStatus(opts: { root: string; target: string; refresh?: boolean }): Promise<MountStatus> {
  const md = new MountDir(opts.root, opts.target);
  const state = await md.readState();
  if (state === null || !isAlive(state.pid)) {
    throw new NotFoundError(`Cannot read the stats of "${md.target}": no running soci mount of root ${md.root} serves it`, { hint: "Mount it with soci mount IMAGE DIR (pass the same --root)" });
  }
  if (opts.refresh ?? true) {
    const before = (await stat(md.statusPath).catch(() => null))?.mtimeMs ?? 0;
    process.kill(state.pid, "SIGUSR1");
    const deadline = Date.now() + 2000;
    while (Date.now() < deadline && ((await stat(md.statusPath).catch(() => null))?.mtimeMs ?? 0) === before) await sleep(20);
  }
  const status = await md.readStatus();
  if (status === null) throw new NotFoundError(`Cannot read the stats of "${md.target}": the daemon has not written ${md.statusPath} yet`, { hint: "Try again in a second" });
  return status;
}
