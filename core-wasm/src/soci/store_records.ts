/**
 * Puts the artifacts of a `convert` or `create` into the local store and
 * records them (formats §11): the zTOC blobs, the prefetch artifact blobs
 * (§9.6), the `{}` config and each SOCI index, then one record per zTOC and
 * per index (artifacts have no record of their own: the index lists them). Blobs first, records last,
 * so a crash never leaves a record without its blob.
 *
 * Not here: the store's files (store/).
 */
import { formatPlatform, MEDIA_TYPE_OCI_MANIFEST, MEDIA_TYPE_SOCI_PREFETCH, type Descriptor, type Platform } from "../oci/mod.ts";
import type { IndexRecord, LayerZtoc, LocalStore, ZtocRecord } from "../store/mod.ts";
import type { LayerResult } from "./build_soci_index.ts";
import type { ConvertResult } from "./convert.ts";
import type { CreateResult } from "./create.ts";
import { EMPTY_CONFIG_BYTES, EMPTY_CONFIG_DIGEST, type BuiltSociIndex, type SociIndexVersion } from "./soci_index.ts";

interface Entry {
  version: SociIndexVersion;
  platform: Platform;
  manifest: Descriptor;
  layers: LayerResult[];
  sociIndex: BuiltSociIndex | null;
  ztocBlobs: Map<string, Uint8Array>;
  prefetchBlobs: Map<string, Uint8Array>;
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
  for (const e of entries) {
    if (e.sociIndex === null) continue;
    for (const [digest, bytes] of e.ztocBlobs) await store.putBlob({ mediaType: "application/octet-stream", digest, size: bytes.length }, bytes);
    for (const [digest, bytes] of e.prefetchBlobs) await store.putBlob({ mediaType: MEDIA_TYPE_SOCI_PREFETCH, digest, size: bytes.length }, bytes);
    await store.putBlob({ mediaType: "application/json", digest: EMPTY_CONFIG_DIGEST, size: 2 }, EMPTY_CONFIG_BYTES);
    await store.putBlob(e.sociIndex.descriptor, e.sociIndex.bytes);
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
  }
  await store.addRecords({ indexes, ztocs });
  return indexes;
}

/** Stores and records the v2 indexes of a conversion; returns the index records written. */
export function recordConversion(store: LocalStore, result: ConvertResult, meta: RecordMeta): Promise<IndexRecord[]> {
  const entries: Entry[] = result.platforms.map((p) => ({ version: "v2", platform: p.platform, manifest: p.imageManifest, layers: p.layers, sociIndex: p.sociIndex, ztocBlobs: p.ztocBlobs, prefetchBlobs: p.prefetchBlobs }));
  return record(store, entries, result.descriptor.digest, meta);
}

/** Stores and records the v1 indexes of a `create`; returns the index records written. */
export function recordCreation(store: LocalStore, result: CreateResult, meta: RecordMeta): Promise<IndexRecord[]> {
  const entries: Entry[] = result.indexes.map((x) => ({ version: "v1", platform: x.platform, manifest: x.imageManifest, layers: x.layers, sociIndex: x.sociIndex, ztocBlobs: x.ztocBlobs, prefetchBlobs: x.prefetchBlobs }));
  return record(store, entries, result.image.digest, meta);
}
