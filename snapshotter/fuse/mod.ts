/**
 * The FUSE door of the snapshotter (STYLE §3 `snapshotter/fuse/`): the raw
 * kernel protocol spoken over /dev/fuse from TypeScript — no libfuse, no native
 * addon (fuse.md). Knows nothing of SOCI: it serves any `ReadOnlyFileSystem`.
 *
 *   protocol.ts     opcodes, INIT flags, FOPEN_*, errno, `FuseError`
 *   structs.ts      packed struct codecs, bounds-checked
 *   file_system.ts  the `ReadOnlyFileSystem` interface
 *   opcodes.ts      the opcode table: one row per opcode
 *   server.ts       request loop over a `FuseTransport`, INIT, INTERRUPT
 *   device.ts       /dev/fuse with worker-thread readers
 *   mount.ts        mount -i helper, unmount, stale-mount cleanup
 */
export * from "./protocol.ts";
export type * from "./file_system.ts";
export { makeRdev, type FuseAttr, type FuseStatfs, type InitOut } from "./structs.ts";
export { FuseServer, OPCODE_TABLE, WANTED_INIT_FLAGS, type FuseServerOptions, type FuseTransport } from "./server.ts";
export { FuseDevice } from "./device.ts";
export { buildFastReplies, type FastReplies, type FastSource, type FastTimeouts } from "./fast_replies.ts";
export { cleanupStaleMount, FuseMount, isMountpoint, mountFuse, unmount, type MountOptions } from "./mount.ts";
