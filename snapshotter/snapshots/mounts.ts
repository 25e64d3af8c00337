/**
 * The mounts handed to containerd (snapshotter §6; containerd's overlay
 * snapshotter `plugins/snapshots/overlay/overlay.go`): a bind mount of the
 * snapshot's own `fs` when it has no parent, a read-only bind of the parent's
 * `fs` for a view of one layer, otherwise overlay with the parent `fs`
 * directories as `lowerdir` (nearest parent first) and, for active
 * snapshots, the snapshot's own `fs`/`work` as upper/work dirs.
 *
 * Not here: whether a lower dir is a FUSE mount (nothing in the list shows it).
 */
import type { Kind, Mount } from "./types.ts";

export interface MountInput {
  kind: Kind;
  /** The snapshot's own `fs` and `work` directories. */
  upperDir: string;
  workDir: string;
  /** Parent `fs` directories, nearest parent first. */
  lowerDirs: string[];
}

export function mountsFor(m: MountInput): Mount[] {
  const ro = m.kind === "view";
  if (m.lowerDirs.length === 0) {
    return [{ type: "bind", source: m.upperDir, options: [ro ? "ro" : "rw", "rbind"] }];
  }
  if (ro && m.lowerDirs.length === 1) {
    return [{ type: "bind", source: m.lowerDirs[0], options: ["ro", "rbind"] }];
  }
  const options: string[] = [];
  if (!ro) options.push(`workdir=${m.workDir}`, `upperdir=${m.upperDir}`);
  options.push(`lowerdir=${m.lowerDirs.join(":")}`);
  return [{ type: "overlay", source: "overlay", options }];
}
