/**
 * The gRPC door of the snapshotter (STYLE §3): the Snapshots server, the
 * hand-written protobuf schema shared with the containerd client, and the one
 * error map.
 */
export { serveSnapshots, socketPathOf, type Logger, type RunningServer, type SnapshotService } from "./server.ts";
export { SERVICES, NAMESPACE_HEADER, LEASE_HEADER, type ServiceClientCtor } from "./proto.ts";
export { toServiceError, fromServiceError } from "./errors.ts";
export { infoFromPb, infoToPb, mountFromPb, mountToPb, timestampFromPb, type PbInfo, type PbMount } from "./convert.ts";
