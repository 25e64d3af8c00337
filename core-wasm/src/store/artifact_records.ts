/**
 * The artifact records of the local store (what upstream keeps in its bbolt
 * "artifacts DB", formats §11): one record per SOCI index, per zTOC and per
 * prefetch artifact (§9.6), kept in one JSON document
 * `{"version":1,"indexes":[…],"ztocs":[…],"prefetches":[…]}` that is replaced
 * atomically on every change.
 *
 * Decoding is strict about shape (the file is ours, but a hand edit or a
 * future version must fail clearly, not half-work). The one allowance:
 * `prefetches` may be absent, as in files written before prefetch artifacts
 * were recorded (read as an empty list).
 *
 * Not here: files (local_store.ts).
 */
import { isDigest } from "../bytes/mod.ts";
import { FormatError } from "../errors.ts";
import { encodeGoJsonValue, parseJsonObject } from "../oci/mod.ts";

export const RECORDS_VERSION = 1;

/** A layer of an index and the zTOC built for it. */
export interface LayerZtoc {
  layerDigest: string;
  layerSize: number;
  layerMediaType: string;
  ztocDigest: string;
  ztocSize: number;
}

export interface IndexRecord {
  /** The SOCI index manifest. */
  digest: string;
  size: number;
  /** Always the OCI manifest type (a SOCI index is a manifest). */
  mediaType: string;
  manifestVersion: "v1" | "v2";
  /** The image manifest the index belongs to (v1: its subject; v2: the annotated manifest). */
  manifestDigest: string;
  /** The image as the user named it, and the digest of its root (converted OCI index or source root). */
  imageRef?: string;
  imageDigest?: string;
  /** `os/arch[/variant]`. */
  platform: string;
  spanSize: number;
  layers: LayerZtoc[];
  /** RFC 3339 UTC. */
  createdAt: string;
}

export interface ZtocRecord {
  digest: string;
  size: number;
  layerDigest: string;
  layerSize: number;
  layerMediaType: string;
  spanSize: number;
  /** The image the layer was read from, for `ztoc get-file`. */
  imageRef?: string;
  createdAt: string;
}

/**
 * A prefetch artifact (formats §9.6) as one SOCI index lists it. The same
 * artifact bytes can serve several layers or indexes (identical span ranges
 * give identical blobs), so a record is keyed by (digest, layer, index).
 */
export interface PrefetchRecord {
  digest: string;
  size: number;
  layerDigest: string;
  /** The SOCI index listing it: the record goes when that index record goes. */
  indexDigest: string;
  imageRef?: string;
  /** RFC 3339 UTC. */
  createdAt: string;
}

export interface Records {
  indexes: IndexRecord[];
  ztocs: ZtocRecord[];
  prefetches: PrefetchRecord[];
}

function checkObj(v: unknown, where: string): Record<string, unknown> {
  if (v === null || typeof v !== "object" || Array.isArray(v)) throw new FormatError(`Cannot read the store records: ${where} is not an object`);
  return v as Record<string, unknown>;
}

function str(o: Record<string, unknown>, k: string, where: string, optional = false): string | undefined {
  const v = o[k];
  if (v === undefined && optional) return undefined;
  if (typeof v !== "string") throw new FormatError(`Cannot read the store records: ${where}.${k} is not a string`);
  return v;
}

function int(o: Record<string, unknown>, k: string, where: string): number {
  const v = o[k];
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) throw new FormatError(`Cannot read the store records: ${where}.${k} is not a non-negative integer`);
  return v;
}

function digest(o: Record<string, unknown>, k: string, where: string): string {
  const v = str(o, k, where)!;
  if (!isDigest(v)) throw new FormatError(`Cannot read the store records: ${where}.${k} is not a sha256 digest`);
  return v;
}

function decodeLayer(v: unknown, where: string): LayerZtoc {
  const o = checkObj(v, where);
  return {
    layerDigest: digest(o, "layerDigest", where),
    layerSize: int(o, "layerSize", where),
    layerMediaType: str(o, "layerMediaType", where)!,
    ztocDigest: digest(o, "ztocDigest", where),
    ztocSize: int(o, "ztocSize", where),
  };
}

function decodeIndex(v: unknown, where: string): IndexRecord {
  const o = checkObj(v, where);
  const version = str(o, "manifestVersion", where);
  if (version !== "v1" && version !== "v2") throw new FormatError(`Cannot read the store records: ${where}.manifestVersion is ${JSON.stringify(version)}`);
  if (!Array.isArray(o.layers)) throw new FormatError(`Cannot read the store records: ${where}.layers is not a list`);
  const r: IndexRecord = {
    digest: digest(o, "digest", where),
    size: int(o, "size", where),
    mediaType: str(o, "mediaType", where)!,
    manifestVersion: version,
    manifestDigest: digest(o, "manifestDigest", where),
    platform: str(o, "platform", where)!,
    spanSize: int(o, "spanSize", where),
    layers: o.layers.map((l, i) => decodeLayer(l, `${where}.layers[${i}]`)),
    createdAt: str(o, "createdAt", where)!,
  };
  const imageRef = str(o, "imageRef", where, true);
  if (imageRef !== undefined) r.imageRef = imageRef;
  const imageDigest = str(o, "imageDigest", where, true);
  if (imageDigest !== undefined) r.imageDigest = imageDigest;
  return r;
}

function decodeZtoc(v: unknown, where: string): ZtocRecord {
  const o = checkObj(v, where);
  const r: ZtocRecord = {
    digest: digest(o, "digest", where),
    size: int(o, "size", where),
    layerDigest: digest(o, "layerDigest", where),
    layerSize: int(o, "layerSize", where),
    layerMediaType: str(o, "layerMediaType", where)!,
    spanSize: int(o, "spanSize", where),
    createdAt: str(o, "createdAt", where)!,
  };
  const imageRef = str(o, "imageRef", where, true);
  if (imageRef !== undefined) r.imageRef = imageRef;
  return r;
}

function decodePrefetch(v: unknown, where: string): PrefetchRecord {
  const o = checkObj(v, where);
  const r: PrefetchRecord = {
    digest: digest(o, "digest", where),
    size: int(o, "size", where),
    layerDigest: digest(o, "layerDigest", where),
    indexDigest: digest(o, "indexDigest", where),
    createdAt: str(o, "createdAt", where)!,
  };
  const imageRef = str(o, "imageRef", where, true);
  if (imageRef !== undefined) r.imageRef = imageRef;
  return r;
}

/** Parses the records file; FormatError naming the bad field. */
export function decodeRecords(bytes: Uint8Array): Records {
  const o = parseJsonObject(bytes, "the store records", 256 << 20);
  if (o.version !== RECORDS_VERSION) throw new FormatError(`Cannot read the store records: version ${JSON.stringify(o.version)} is not ${RECORDS_VERSION}`);
  if (!Array.isArray(o.indexes) || !Array.isArray(o.ztocs)) throw new FormatError("Cannot read the store records: indexes and ztocs must be lists");
  if (o.prefetches !== undefined && !Array.isArray(o.prefetches)) throw new FormatError("Cannot read the store records: prefetches must be a list");
  return {
    indexes: o.indexes.map((x, i) => decodeIndex(x, `indexes[${i}]`)),
    ztocs: o.ztocs.map((x, i) => decodeZtoc(x, `ztocs[${i}]`)),
    prefetches: (o.prefetches ?? []).map((x, i) => decodePrefetch(x, `prefetches[${i}]`)),
  };
}

/** Encodes the records (compact, keys in declaration order, one record per line for humans). */
export function encodeRecords(r: Records): Uint8Array {
  const lines = [
    `{"version":${RECORDS_VERSION},"indexes":[`,
    r.indexes.map((x) => encodeGoJsonValue(x)).join(",\n"),
    `],"ztocs":[`,
    r.ztocs.map((x) => encodeGoJsonValue(x)).join(",\n"),
    `],"prefetches":[`,
    r.prefetches.map((x) => encodeGoJsonValue(x)).join(",\n"),
    "]}\n",
  ];
  return new TextEncoder().encode(lines.join("\n"));
}
