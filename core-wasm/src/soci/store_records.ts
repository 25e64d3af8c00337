/**
 * Puts the artifacts of a `convert` or `create` into the local store and
 * records them (formats §11): the zTOC blobs, the prefetch artifact blobs
 * (§9.6), the `{}` config and each SOCI index, then one record per zTOC, per
 * prefetch artifact (with the index listing it) and per index. Blobs first,
 * records last, so a crash never leaves a record without its blob.
 *
 * Also reads the recorded prefetch artifacts back for `soci prefetch list` /
 * `info` (§11.2): each blob digest-checked and parsed, an unreadable one
 * reported (list) or refused with the digest named (info).
 *
 * Not here: the store's files (store/), printing (cli/).
 */
import { FormatError, InvalidArgumentError, NotFoundError } from "../errors.ts";
import { blobPath, formatPlatform, MEDIA_TYPE_OCI_MANIFEST, type Descriptor, type Platform } from "../oci/mod.ts";
import type { IndexRecord, LayerZtoc, LocalStore, PrefetchRecord, ZtocRecord } from "../store/mod.ts";
import type { PlatformIndex } from "./build_soci_index.ts";
import type { ConvertResult } from "./convert.ts";
import type { CreateResult } from "./create.ts";
import { parsePrefetchArtifact, type PrefetchSpan } from "./prefetch.ts";
import { putSociArtifacts, type SociIndexVersion } from "./soci_index.ts";

interface Entry extends PlatformIndex {
  version: SociIndexVersion;
  platform: Platform;
  manifest: Descriptor;
}

export interface RecordMeta {
  /** The image as the user named it (source for create, destination for convert). */
  imageRef?: string;
  spanSize: number;
  /** Injected clock for tests. */
  now?: Date;
}

async function record(store: LocalStore, entries: Entry[], imageDigest: string, meta: RecordMeta): Promise<IndexRecord[]> {
  const createdAt = (meta.now ?? new Date()).toISOString();
  const indexes: IndexRecord[] = [];
  const ztocs: ZtocRecord[] = [];
  const prefetches: PrefetchRecord[] = [];
  for (const e of entries) {
    if (e.sociIndex === null) continue;
    await putSociArtifacts(store, { ztocBlobs: e.ztocBlobs, prefetchBlobs: e.prefetchBlobs, index: e.sociIndex });
    const layers: LayerZtoc[] = [];
    for (const l of e.layers) {
      if (l.status !== "built") continue;
      layers.push({ layerDigest: l.layer.digest, layerSize: l.layer.size, layerMediaType: l.layer.mediaType, ztocDigest: l.ztocDigest, ztocSize: l.ztocSize });
      const z: ZtocRecord = { digest: l.ztocDigest, size: l.ztocSize, layerDigest: l.layer.digest, layerSize: l.layer.size, layerMediaType: l.layer.mediaType, spanSize: meta.spanSize, createdAt };
      if (meta.imageRef !== undefined) z.imageRef = meta.imageRef;
      ztocs.push(z);
    }
    const r: IndexRecord = {
      digest: e.sociIndex.descriptor.digest,
      size: e.sociIndex.descriptor.size,
      mediaType: MEDIA_TYPE_OCI_MANIFEST,
      manifestVersion: e.version,
      manifestDigest: e.manifest.digest,
      ...(meta.imageRef !== undefined ? { imageRef: meta.imageRef } : {}),
      imageDigest,
      platform: formatPlatform(e.platform),
      spanSize: meta.spanSize,
      layers,
      createdAt,
    };
    indexes.push(r);
    for (const a of e.prefetch) {
      const p: PrefetchRecord = { digest: a.descriptor.digest, size: a.descriptor.size, layerDigest: a.layerDigest, indexDigest: r.digest, createdAt };
      if (meta.imageRef !== undefined) p.imageRef = meta.imageRef;
      prefetches.push(p);
    }
  }
  await store.addRecords({ indexes, ztocs, prefetches });
  return indexes;
}

/** Stores and records the v2 indexes of a conversion; returns the index records written. */
export function recordConversion(store: LocalStore, result: ConvertResult, meta: RecordMeta): Promise<IndexRecord[]> {
  const entries: Entry[] = result.platforms.map((p) => ({ ...p, version: "v2", manifest: p.imageManifest }));
  return record(store, entries, result.descriptor.digest, meta);
}

/** Stores and records the v1 indexes of a `create`; returns the index records written. */
export function recordCreation(store: LocalStore, result: CreateResult, meta: RecordMeta): Promise<IndexRecord[]> {
  const entries: Entry[] = result.indexes.map((x) => ({ ...x, version: "v1", manifest: x.imageManifest }));
  return record(store, entries, result.image.digest, meta);
}

/** Artifacts are a few hundred bytes; anything near this is not one. */
const MAX_PREFETCH_SIZE = 16 << 20;

/** Span ids covered by the ranges (each range inclusive: end − start + 1). */
export function totalPrefetchSpans(spans: readonly PrefetchSpan[]): number {
  return spans.reduce((n, s) => n + s.endSpan - s.startSpan + 1, 0);
}

/** The blob `digest` read (digest-checked) and parsed; FormatError naming the digest and the file to delete. */
async function loadArtifact(store: LocalStore, digest: string): Promise<{ bytes: Uint8Array; spans: PrefetchSpan[] }> {
  const hint = `Delete ${store.root}/content/${blobPath(digest)} and run soci convert or soci create for the image again`;
  let bytes: Uint8Array;
  try {
    bytes = await store.readBlob(digest, MAX_PREFETCH_SIZE);
  } catch (e) {
    if (!(e instanceof FormatError)) throw e;
    throw new FormatError(`Cannot read prefetch artifact ${digest}: its blob in the local store is damaged`, {}, { cause: e, hint });
  }
  try {
    return { bytes, spans: parsePrefetchArtifact(bytes, digest) };
  } catch (e) {
    if (!(e instanceof FormatError)) throw e;
    throw new FormatError(e.message, {}, { cause: e, hint });
  }
}

/** One row of `soci prefetch list`: a recorded (artifact, layer) pair. */
export interface StoredPrefetchRow {
  digest: string;
  layerDigest: string;
  size: number;
  createdAt: string;
  /** Sum of the range lengths; null when the blob cannot be read or parsed. */
  totalSpans: number | null;
}

/** The recorded prefetch artifacts, newest first, each (digest, layer) once; blobs are read once per digest. */
export async function listStoredPrefetches(store: LocalStore): Promise<StoredPrefetchRow[]> {
  const totals = new Map<string, number | null>();
  const seen = new Set<string>();
  const rows: StoredPrefetchRow[] = [];
  for (const r of await store.listPrefetches()) {
    const key = `${r.digest} ${r.layerDigest}`;
    if (seen.has(key)) continue;
    seen.add(key);
    if (!totals.has(r.digest)) {
      totals.set(r.digest, await loadArtifact(store, r.digest).then((a) => totalPrefetchSpans(a.spans), (e) => {
        if (e instanceof FormatError) return null;
        throw e;
      }));
    }
    rows.push({ digest: r.digest, layerDigest: r.layerDigest, size: r.size, createdAt: r.createdAt, totalSpans: totals.get(r.digest)! });
  }
  return rows;
}

/** A recorded prefetch artifact with its parsed ranges. */
export interface StoredPrefetch {
  /** The newest record of the digest. */
  record: PrefetchRecord;
  /** Every layer it is recorded for, newest first (identical range lists give identical blobs). */
  layerDigests: string[];
  spans: PrefetchSpan[];
  /** The blob as stored. */
  bytes: Uint8Array;
}

/**
 * The prefetch artifact `digest` from the store. InvalidArgumentError for an
 * index or zTOC digest, NotFoundError for one the store has no record of,
 * FormatError (naming the digest) for a damaged blob.
 */
export async function readStoredPrefetch(store: LocalStore, digest: string): Promise<StoredPrefetch> {
  const records = await store.listPrefetches({ digest });
  if (records.length === 0) {
    if ((await store.listIndexes({})).some((x) => x.digest === digest)) {
      throw new InvalidArgumentError(`Cannot show prefetch artifact ${digest}: it is a SOCI index`, { hint: `Run "soci index info ${digest}"` });
    }
    if ((await store.listZtocs({ ztocDigest: digest })).length > 0) {
      throw new InvalidArgumentError(`Cannot show prefetch artifact ${digest}: it is a zTOC`, { hint: `Run "soci ztoc info ${digest}"` });
    }
    throw new NotFoundError(`Cannot find prefetch artifact ${digest}: the local store has no such prefetch artifact`, {
      hint: 'Run "soci prefetch list" to see the stored prefetch artifacts',
    });
  }
  const { bytes, spans } = await loadArtifact(store, digest);
  return { record: records[0]!, layerDigests: [...new Set(records.map((r) => r.layerDigest))], spans, bytes };
}
