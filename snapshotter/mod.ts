/**
 * The snapshotter's one public door (STYLE §3): cli/ imports only this file.
 * Plain functions taking plain options and a log callback; no CLI types.
 *
 * `soci mount` / `soci umount` (issue 5):
 *   serveMount(opts)            mount IMAGE at target and serve until stopped (foreground / daemon child)
 *   startDetached(argv, opts)   start the daemon detached; resolves when the target is ready
 *   selfCommand(url, env)       argv that starts this program again (bundle, single binary, SOCI_PROGRAM)
 *   unmountImage({root,target}) stop the daemon (or clean after a dead one)
 *   readMountStatus(...)        per-layer figures from the daemon's status file
 *   defaultMountRoot(env)       /var/lib/soci-ts/mounts as root, else $XDG_DATA_HOME/soci/mounts
 *
 * The per-layer library (for the containerd snapshotter) is layers/mod.ts.
 */
export {
  defaultMountRoot,
  MountDir,
  readMountStatus,
  selfCommand,
  serveMount,
  startDetached,
  unmountImage,
  type MountStatus,
  type ReadyMessage,
  type ServeMountOptions,
  type UnmountResult,
} from "./mount/mod.ts";
export { LayerManager, NotLazyError, type LayerStats } from "./layers/mod.ts";

// `soci snapshotter` and `soci image rpull` (issue 6).
// gRPC (@grpc/grpc-js, protobufjs) is loaded on first use, not at start-up:
// every other command would otherwise pay for evaluating it (≈ 30–50 ms).
export type { RunningDaemon, SnapshotterDaemonOptions } from "./daemon/mod.ts";
export type { RpullOptions, RpullResult, RpullLayer } from "./containerd/mod.ts";
export { SNAPSHOTTER_DEFAULTS } from "./daemon/defaults.ts";
type Daemon = typeof import("./daemon/mod.ts");
type Containerd = typeof import("./containerd/mod.ts");
export async function runSnapshotterDaemon(...a: Parameters<Daemon["runSnapshotterDaemon"]>): Promise<Awaited<ReturnType<Daemon["runSnapshotterDaemon"]>>> {
  return (await import("./daemon/mod.ts")).runSnapshotterDaemon(...a);
}
export async function startSnapshotterDaemon(...a: Parameters<Daemon["startSnapshotterDaemon"]>): Promise<Awaited<ReturnType<Daemon["startSnapshotterDaemon"]>>> {
  return (await import("./daemon/mod.ts")).startSnapshotterDaemon(...a);
}
export async function readSnapshotterStatus(...a: Parameters<Daemon["readSnapshotterStatus"]>): Promise<Awaited<ReturnType<Daemon["readSnapshotterStatus"]>>> {
  return (await import("./daemon/mod.ts")).readSnapshotterStatus(...a);
}
export async function rpull(...a: Parameters<Containerd["rpull"]>): Promise<Awaited<ReturnType<Containerd["rpull"]>>> {
  return (await import("./containerd/mod.ts")).rpull(...a);
}
