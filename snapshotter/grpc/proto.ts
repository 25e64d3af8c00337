/**
 * The protobuf schema of every gRPC service we speak, written by hand as a
 * protobuf.js JSON namespace (snapshotter §2.1, containerd 1.6 `api/`): the
 * Snapshots service we serve, and the containerd services `soci image rpull`
 * calls (content, images, leases, diff, snapshots). Only the messages and
 * fields we use are declared; field numbers are containerd's, package names
 * are containerd's so full method names match (`/containerd.services.…/X`).
 *
 * Kept in code, not in `.proto` files, so the bundle and the single binary
 * carry it (no file read at run time). Unknown fields sent by newer
 * containerd versions are skipped by the decoder.
 *
 * Not here: the server (server.ts) and message conversions (convert.ts).
 */
import * as grpc from "@grpc/grpc-js";
import { fromJSON } from "@grpc/proto-loader";

type Fields = Record<string, { type: string; id: number; rule?: "repeated"; keyType?: string }>;
const str = (id: number) => ({ type: "string", id });
const i64 = (id: number) => ({ type: "int64", id });
const map = (id: number, type = "string") => ({ keyType: "string", type, id });
const msg = (fields: Fields) => ({ fields });
const rpc = (requestType: string, responseType: string, stream: { req?: boolean; res?: boolean } = {}) => ({
  requestType,
  responseType,
  ...(stream.req ? { requestStream: true } : {}),
  ...(stream.res ? { responseStream: true } : {}),
});

const TS = ".google.protobuf.Timestamp";
const MOUNT = ".containerd.types.Mount";
const DESCRIPTOR = ".containerd.types.Descriptor";
const FIELD_MASK = ".google.protobuf.FieldMask";
const EMPTY = ".google.protobuf.Empty";

const snapshotsV1 = {
  Snapshots: {
    methods: {
      Prepare: rpc("PrepareSnapshotRequest", "PrepareSnapshotResponse"),
      View: rpc("ViewSnapshotRequest", "ViewSnapshotResponse"),
      Mounts: rpc("MountsRequest", "MountsResponse"),
      Commit: rpc("CommitSnapshotRequest", EMPTY),
      Remove: rpc("RemoveSnapshotRequest", EMPTY),
      Stat: rpc("StatSnapshotRequest", "StatSnapshotResponse"),
      Update: rpc("UpdateSnapshotRequest", "UpdateSnapshotResponse"),
      List: rpc("ListSnapshotsRequest", "ListSnapshotsResponse", { res: true }),
      Usage: rpc("UsageRequest", "UsageResponse"),
      Cleanup: rpc("CleanupRequest", EMPTY),
    },
  },
  PrepareSnapshotRequest: msg({ snapshotter: str(1), key: str(2), parent: str(3), labels: map(4) }),
  PrepareSnapshotResponse: msg({ mounts: { type: MOUNT, id: 1, rule: "repeated" } }),
  ViewSnapshotRequest: msg({ snapshotter: str(1), key: str(2), parent: str(3), labels: map(4) }),
  ViewSnapshotResponse: msg({ mounts: { type: MOUNT, id: 1, rule: "repeated" } }),
  MountsRequest: msg({ snapshotter: str(1), key: str(2) }),
  MountsResponse: msg({ mounts: { type: MOUNT, id: 1, rule: "repeated" } }),
  RemoveSnapshotRequest: msg({ snapshotter: str(1), key: str(2) }),
  CommitSnapshotRequest: msg({ snapshotter: str(1), name: str(2), key: str(3), labels: map(4) }),
  StatSnapshotRequest: msg({ snapshotter: str(1), key: str(2) }),
  StatSnapshotResponse: msg({ info: { type: "Info", id: 1 } }),
  UpdateSnapshotRequest: msg({ snapshotter: str(1), info: { type: "Info", id: 2 }, update_mask: { type: FIELD_MASK, id: 3 } }),
  UpdateSnapshotResponse: msg({ info: { type: "Info", id: 1 } }),
  ListSnapshotsRequest: msg({ snapshotter: str(1), filters: { type: "string", id: 2, rule: "repeated" } }),
  ListSnapshotsResponse: msg({ info: { type: "Info", id: 1, rule: "repeated" } }),
  UsageRequest: msg({ snapshotter: str(1), key: str(2) }),
  UsageResponse: msg({ size: i64(1), inodes: i64(2) }),
  CleanupRequest: msg({ snapshotter: str(1) }),
  Kind: { values: { UNKNOWN: 0, VIEW: 1, ACTIVE: 2, COMMITTED: 3 } },
  Info: msg({ name: str(1), parent: str(2), kind: { type: "Kind", id: 3 }, created_at: { type: TS, id: 4 }, updated_at: { type: TS, id: 5 }, labels: map(6) }),
};

const contentV1 = {
  Content: {
    methods: {
      Info: rpc("InfoRequest", "InfoResponse"),
      Update: rpc("UpdateRequest", "UpdateResponse"),
      Write: rpc("WriteContentRequest", "WriteContentResponse", { req: true, res: true }),
      Abort: rpc("AbortRequest", EMPTY),
    },
  },
  Info: msg({ digest: str(1), size: i64(2), created_at: { type: TS, id: 3 }, updated_at: { type: TS, id: 4 }, labels: map(5) }),
  InfoRequest: msg({ digest: str(1) }),
  InfoResponse: msg({ info: { type: "Info", id: 1 } }),
  UpdateRequest: msg({ info: { type: "Info", id: 1 }, update_mask: { type: FIELD_MASK, id: 2 } }),
  UpdateResponse: msg({ info: { type: "Info", id: 1 } }),
  WriteAction: { values: { STAT: 0, WRITE: 1, COMMIT: 2 } },
  WriteContentRequest: msg({ action: { type: "WriteAction", id: 1 }, ref: str(2), total: i64(3), expected: str(4), offset: i64(5), data: { type: "bytes", id: 6 }, labels: map(7) }),
  WriteContentResponse: msg({ action: { type: "WriteAction", id: 1 }, started_at: { type: TS, id: 2 }, updated_at: { type: TS, id: 3 }, offset: i64(4), total: i64(5), digest: str(6) }),
  AbortRequest: msg({ ref: str(1) }),
};

const imagesV1 = {
  Images: {
    methods: {
      Get: rpc("GetImageRequest", "GetImageResponse"),
      Create: rpc("CreateImageRequest", "CreateImageResponse"),
      Update: rpc("UpdateImageRequest", "UpdateImageResponse"),
      Delete: rpc("DeleteImageRequest", EMPTY),
    },
  },
  Image: msg({ name: str(1), labels: map(2), target: { type: DESCRIPTOR, id: 3 }, created_at: { type: TS, id: 7 }, updated_at: { type: TS, id: 8 } }),
  GetImageRequest: msg({ name: str(1) }),
  GetImageResponse: msg({ image: { type: "Image", id: 1 } }),
  CreateImageRequest: msg({ image: { type: "Image", id: 1 } }),
  CreateImageResponse: msg({ image: { type: "Image", id: 1 } }),
  UpdateImageRequest: msg({ image: { type: "Image", id: 1 }, update_mask: { type: FIELD_MASK, id: 2 } }),
  UpdateImageResponse: msg({ image: { type: "Image", id: 1 } }),
  DeleteImageRequest: msg({ name: str(1), sync: { type: "bool", id: 2 } }),
};

const leasesV1 = {
  Leases: { methods: { Create: rpc("CreateRequest", "CreateResponse"), Delete: rpc("DeleteRequest", EMPTY) } },
  Lease: msg({ id: str(1), created_at: { type: TS, id: 2 }, labels: map(3) }),
  CreateRequest: msg({ id: str(1), labels: map(3) }),
  CreateResponse: msg({ lease: { type: "Lease", id: 1 } }),
  DeleteRequest: msg({ id: str(1), sync: { type: "bool", id: 2 } }),
};

const diffV1 = {
  Diff: { methods: { Apply: rpc("ApplyRequest", "ApplyResponse") } },
  ApplyRequest: msg({ diff: { type: DESCRIPTOR, id: 1 }, mounts: { type: MOUNT, id: 2, rule: "repeated" } }),
  ApplyResponse: msg({ applied: { type: DESCRIPTOR, id: 1 } }),
};

const SCHEMA = {
  nested: {
    google: {
      nested: {
        protobuf: {
          nested: {
            Empty: msg({}),
            Timestamp: msg({ seconds: i64(1), nanos: { type: "int32", id: 2 } }),
            FieldMask: msg({ paths: { type: "string", id: 1, rule: "repeated" } }),
          },
        },
      },
    },
    containerd: {
      nested: {
        types: {
          nested: {
            Mount: msg({ type: str(1), source: str(2), target: str(3), options: { type: "string", id: 4, rule: "repeated" } }),
            Descriptor: msg({ media_type: str(1), digest: str(2), size: i64(3), annotations: map(5) }),
          },
        },
        services: {
          nested: {
            snapshots: { nested: { v1: { nested: snapshotsV1 } } },
            content: { nested: { v1: { nested: contentV1 } } },
            images: { nested: { v1: { nested: imagesV1 } } },
            leases: { nested: { v1: { nested: leasesV1 } } },
            diff: { nested: { v1: { nested: diffV1 } } },
          },
        },
      },
    },
  },
};

/** A loaded client constructor with its service definition. */
export type ServiceClientCtor = grpc.ServiceClientConstructor;

let loaded: grpc.GrpcObject | undefined;

/** Every service above as grpc-js constructors; messages are plain objects with snake_case keys, int64 as Number, enums as names. */
function packageObject(): grpc.GrpcObject {
  loaded ??= grpc.loadPackageDefinition(
    fromJSON(SCHEMA as never, { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true }),
  );
  return loaded;
}

function service(path: string[]): ServiceClientCtor {
  let o: unknown = packageObject();
  for (const p of path) o = (o as Record<string, unknown>)[p];
  return o as ServiceClientCtor;
}

export const SERVICES = {
  snapshots: () => service(["containerd", "services", "snapshots", "v1", "Snapshots"]),
  content: () => service(["containerd", "services", "content", "v1", "Content"]),
  images: () => service(["containerd", "services", "images", "v1", "Images"]),
  leases: () => service(["containerd", "services", "leases", "v1", "Leases"]),
  diff: () => service(["containerd", "services", "diff", "v1", "Diff"]),
};

/** gRPC metadata keys containerd reads (namespace on every call, lease on writes). */
export const NAMESPACE_HEADER = "containerd-namespace";
export const LEASE_HEADER = "containerd-lease";
