/**
 * Pure conversions between the Snapshots protobuf messages (snapshotter §2.1,
 * plain objects from grpc-js with snake_case keys) and the snapshot types of
 * snapshots/ — translate → call → translate, as containerd's
 * `core/snapshots/proxy/convert.go`.
 *
 * Not here: the calls themselves (server.ts), errors (errors.ts).
 */
import type { Info, Kind, Mount, Timestamp } from "../snapshots/mod.ts";

export interface PbTimestamp {
  seconds: number | string;
  nanos: number;
}
export interface PbInfo {
  name: string;
  parent: string;
  kind: string;
  created_at: PbTimestamp | null;
  updated_at: PbTimestamp | null;
  labels: Record<string, string>;
}
export interface PbMount {
  type: string;
  source: string;
  target: string;
  options: string[];
}

const KIND_TO_PB: Record<Kind, string> = { view: "VIEW", active: "ACTIVE", committed: "COMMITTED" };
const KIND_FROM_PB: Record<string, Kind> = { VIEW: "view", ACTIVE: "active", COMMITTED: "committed" };

export function timestampToPb(t: Timestamp): PbTimestamp {
  return { seconds: t.seconds, nanos: t.nanos };
}

export function timestampFromPb(t: PbTimestamp | null | undefined): Timestamp {
  return t ? { seconds: Number(t.seconds), nanos: t.nanos } : { seconds: 0, nanos: 0 };
}

export function infoToPb(i: Info): PbInfo {
  return { name: i.name, parent: i.parent, kind: KIND_TO_PB[i.kind], created_at: timestampToPb(i.createdAt), updated_at: timestampToPb(i.updatedAt), labels: { ...i.labels } };
}

/** The kind of an Info from a client; UNKNOWN maps to "active" (only the name and labels matter to Update). */
export function infoFromPb(p: PbInfo | null | undefined): Info {
  return {
    name: p?.name ?? "",
    parent: p?.parent ?? "",
    kind: KIND_FROM_PB[p?.kind ?? ""] ?? "active",
    labels: { ...(p?.labels ?? {}) },
    createdAt: timestampFromPb(p?.created_at),
    updatedAt: timestampFromPb(p?.updated_at),
  };
}

export function mountToPb(m: Mount): PbMount {
  return { type: m.type, source: m.source, target: "", options: [...m.options] };
}

export function mountFromPb(m: PbMount): Mount {
  return { type: m.type, source: m.source, options: [...(m.options ?? [])] };
}

/** containerd's server helper sends at most this many Info per List message (snapshotter §2.2). */
export const LIST_BATCH = 100;

export function batches<T>(items: readonly T[], size = LIST_BATCH): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
