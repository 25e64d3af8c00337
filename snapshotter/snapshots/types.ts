/**
 * The snapshot vocabulary (snapshotter §2.1, §2.4; containerd
 * `core/snapshots/snapshotter.go`): a snapshot is ACTIVE (writable, named by
 * its key), VIEW (read-only, named by its key) or COMMITTED (immutable, named
 * by its name, the only kind that may be a parent). Keys and names are opaque
 * strings in one space: an active key and a committed name never collide.
 *
 * Not here: persistence (metastore.ts), the rules (snapshotter.ts).
 */

export type Kind = "view" | "active" | "committed";

/** What `Stat`/`List` report. Timestamps are milliseconds since the epoch (+ a nanosecond remainder for ordering). */
export interface Info {
  name: string;
  /** "" when the snapshot has no parent. */
  parent: string;
  kind: Kind;
  labels: Record<string, string>;
  createdAt: Timestamp;
  updatedAt: Timestamp;
}

export interface Timestamp {
  seconds: number;
  nanos: number;
}

/** A mount as containerd's `types.Mount` (target stays empty on the server side). */
export interface Mount {
  type: string;
  source: string;
  options: string[];
}

export interface Usage {
  size: number;
  inodes: number;
}

/** One stored snapshot. `id` names its directory `snapshots/<id>`. */
export interface SnapshotRecord extends Info {
  id: string;
  /** Usage stored at commit (0 for remote snapshots). */
  usage: Usage;
}

/** Label keys of the remote snapshot protocol (snapshotter §3). */
export const LABEL_TARGET_REF = "containerd.io/snapshot.ref";
export const LABEL_IMAGE_REF = "containerd.io/snapshot/cri.image-ref";
export const LABEL_LAYER_DIGEST = "containerd.io/snapshot/cri.layer-digest";
export const LABEL_MANIFEST_DIGEST = "containerd.io/snapshot/cri.manifest-digest";
export const LABEL_IMAGE_LAYERS = "containerd.io/snapshot/cri.image-layers";
export const LABEL_SOCI_SIZE = "containerd.io/snapshot/remote/soci.size";
export const LABEL_IMAGE_LAYERS_SIZE = "containerd.io/snapshot/remote/image.layers.size";
export const LABEL_SOCI_INDEX_DIGEST = "containerd.io/snapshot/remote/soci.index.digest";
export const LABEL_REMOTE = "containerd.io/snapshot/remote";
export const LABEL_REMOTE_VALUE = "remote snapshot";
export const LABEL_HAS_SOCI_INDEX = "containerd.io/snapshot/remote/has.soci.index.digest";
export const LABEL_NAMESPACE = "containerd.io/snapshot/remote/namespace";

/** containerd rejects a label whose key + value exceed this (snapshotter §3). */
export const MAX_LABEL_SIZE = 4096;

export function nowTimestamp(): Timestamp {
  const ms = Date.now();
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 };
}
