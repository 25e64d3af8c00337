/**
 * snapshotter/mount/: the `soci mount` daemon — state dir (state_dir.ts),
 * start/stop order (daemon.ts), overlay (overlay.ts), foreground serving and
 * signals (serve.ts), detaching with a readiness pipe (spawn.ts), and the
 * umount/stats side that talks to a running daemon (control.ts).
 */
export { cleanupDeadMounts, ImageMount, mountImage, type MountImageOptions } from "./daemon.ts";
export { readMountStatus, unmountImage, type UnmountResult } from "./control.ts";
export { mountOverlay, unmountOverlay } from "./overlay.ts";
export { serveMount, type ServeMountOptions } from "./serve.ts";
export { reportReadiness, selfCommand, startDetached, type ReadyMessage } from "./spawn.ts";
export { defaultMountRoot, MountDir, type MountState, type MountStatus } from "./state_dir.ts";
