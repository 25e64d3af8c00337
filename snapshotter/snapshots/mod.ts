/**
 * The snapshot service (snapshotter §2.4–§6, §12): records, rules, mounts,
 * filters and the remote-path decision.
 */
export * from "./types.ts";
export { Snapshotter, UnavailableError, diskUsage, hasMountsUnder, type RemoteHandler, type RemoteOutcome, type RemoteRequest, type SnapshotterOptions } from "./snapshotter.ts";
export { parseFilters, matchFilter, type Filter } from "./filters.ts";
export { mountsFor } from "./mounts.ts";
export { MetaStore } from "./metastore.ts";
export { SociRemote, type SociRemoteOptions } from "./remote.ts";
export { PullLog, STATUS_FILE, type ImageRecord, type LayerRecord, type PullMode, type StatusDocument } from "./pull_log.ts";
