/**
 * Resolving an image for mounting (snapshotter §7.1–§7.2, formats §7–§9):
 * pick the platform manifest, find its SOCI index — v2 from the manifest's
 * own `com.amazon.soci.index-digest` annotation (formats §8.6: the copy on
 * the OCI-index descriptor is not consulted), v1 through the referrers API
 * (or its tag fallback) or the local store's records only when asked — then
 * fetch and validate the index and every zTOC it lists (digest and size via
 * the source, then a full decode), and say per layer whether it can be
 * mounted lazily and, if not, why.
 *
 * A failure while finding or fetching the index is "no SOCI index" for the
 * whole image (every layer unpacked, with the reason); a zTOC that fails to
 * load makes only its layer non-lazy (formats §8.6 step 5).
 *
 * Prefetch artifacts (formats §9.6, snapshotter §7.3 step 7): each layer gets
 * the index's artifact descriptor for it; with `prefetch`, the artifact is
 * fetched from the same place as the zTOCs (digest and size checked), parsed
 * and checked against the zTOC's spans (_prefetch.ts). A bad or missing
 * artifact only sets `prefetchIgnored` (and logs one line): never an error.
 *
 * Not here: mounting (layer_manager.ts), unpacking (unpack_layer.ts).
 */
import { sha256Digest } from "../../core-wasm/src/bytes/mod.ts";
import { FormatError, NotFoundError, SociError } from "../../core-wasm/src/errors.ts";
import {
  ANNOTATION_DISABLE_XATTRS,
  ANNOTATION_IMAGE_LAYER_DIGEST,
  ANNOTATION_INDEX_DIGEST,
  formatPlatform,
  hostPlatform,
  isImageManifestMediaType,
  MAX_MANIFEST_SIZE,
  MEDIA_TYPE_OCI_MANIFEST,
  MEDIA_TYPE_SOCI_INDEX_V1,
  matchPlatform,
  parseIndex,
  parseManifest,
  type Descriptor,
  type ImageSource,
  type Manifest,
  type Platform,
} from "../../core-wasm/src/oci/mod.ts";
import type { Repository } from "../../core-wasm/src/registry/mod.ts";
import { parseSociIndex, type PrefetchSpan } from "../../core-wasm/src/soci/mod.ts";
import type { LocalStore } from "../../core-wasm/src/store/mod.ts";
import { decodeZtoc, type Ztoc } from "../../core-wasm/src/ztoc/mod.ts";
import { checkPrefetchArtifact, MAX_PREFETCH_ARTIFACT_SIZE } from "./_prefetch.ts";

/** zTOCs larger than this are refused before they are read. */
const MAX_ZTOC_SIZE = 256 << 20;

export interface ResolveImageOptions {
  /** Platform to pick from an image index (default: the host's). */
  platform?: Platform;
  /** Look for v1 indexes (referrers / local store records) when the manifest has no v2 annotation (default false, snapshotter §7.1). */
  sociV1?: boolean;
  /** Use this image manifest (containerd's `cri.manifest-digest` label) instead of choosing by platform. */
  manifestDigest?: string;
  /** An explicit SOCI index digest (skips discovery, like `soci.index.digest`). */
  indexDigest?: string;
  /** The registry repository of `source` (referrers, range fetches); absent for local images. */
  repository?: Repository;
  /** Local store: v1 index records and zTOC blobs of `soci create`d layouts. */
  store?: LocalStore;
  /** Fetch and check each lazy layer's prefetch artifact (`[prefetch] enable`, `soci mount --prefetch`). Default false. */
  prefetch?: boolean;
  log?: (line: string) => void;
}

export interface ResolvedLayer {
  /** Position in the manifest, 0 = bottom. */
  index: number;
  descriptor: Descriptor;
  /** The decoded zTOC when the layer has one that loaded. */
  ztoc?: Ztoc;
  ztocDescriptor?: Descriptor;
  /** `com.amazon.soci.disable-xattrs=true` on the zTOC descriptor. */
  disableXattrs: boolean;
  /** Why the layer cannot be lazy, when `ztoc` is absent. */
  notLazyReason?: string;
  /** The image config's diff ID for this layer (SHA-256 of the uncompressed tar), when the config lists one per layer. */
  diffId?: string;
  /** The index's prefetch artifact for this layer (formats §9.6), when it lists one. */
  prefetchDescriptor?: Descriptor;
  /** Its span ranges (inclusive ids, all within the zTOC's spans): only with the `prefetch` option. */
  prefetchSpans?: PrefetchSpan[];
  /** Why the artifact is not used (fetch, parse or span check failed), with the `prefetch` option. */
  prefetchIgnored?: string;
}

export interface ResolvedImage {
  /** The location as the user wrote it. */
  name: string;
  platform: string;
  manifestDescriptor: Descriptor;
  manifest: Manifest;
  /** The SOCI index used, or undefined with `noIndexReason`. */
  sociIndex?: { digest: string; version: "v1" | "v2" };
  noIndexReason?: string;
  layers: ResolvedLayer[];
}

/**
 * Resolves `source` for mounting. Throws NotFoundError when no manifest
 * matches the platform, FormatError for malformed manifests, and whatever the
 * source throws for the root document; index and zTOC problems are reported
 * in the result instead (see the module header).
 */
export async function resolveImage(source: ImageSource, opts: ResolveImageOptions = {}): Promise<ResolvedImage> {
  const want = opts.platform ?? hostPlatform();
  const root = await source.resolveRoot();
  let manifestDescriptor = root.descriptor;
  let manifestBytes = root.bytes;
  let rootIndex: Descriptor[] = [];
  if (root.kind === "index") rootIndex = parseIndex(root.bytes, `image index ${root.descriptor.digest}`).manifests;
  if (opts.manifestDigest !== undefined && opts.manifestDigest !== root.descriptor.digest) {
    const listed = rootIndex.find((d) => d.digest === opts.manifestDigest);
    if (listed !== undefined) {
      manifestDescriptor = listed;
      manifestBytes = await source.readBlob(listed, MAX_MANIFEST_SIZE);
    } else if (opts.repository !== undefined) {
      const fetched = await opts.repository.getManifest(opts.manifestDigest);
      manifestDescriptor = fetched.descriptor;
      manifestBytes = fetched.bytes;
    } else {
      throw new NotFoundError(`Cannot mount image ${source.name}: it has no manifest ${opts.manifestDigest}`);
    }
  } else if (root.kind === "index" && opts.manifestDigest === undefined) {
    const match = rootIndex.find((d) => isImageManifestMediaType(d.mediaType) && d.platform !== undefined && matchPlatform(want, d.platform) && !isSociIndexDescriptor(d));
    if (match === undefined) {
      const offered = rootIndex.filter((d) => d.platform).map((d) => formatPlatform(d.platform!));
      throw new NotFoundError(`Cannot mount image ${source.name}: it has no manifest for platform ${formatPlatform(want)}`, {
        hint: `Pass --platform with one of: ${[...new Set(offered)].join(", ") || "(none listed)"}`,
      });
    }
    manifestDescriptor = match;
    manifestBytes = await source.readBlob(match, MAX_MANIFEST_SIZE);
  }
  const manifest = parseManifest(manifestBytes, `manifest ${manifestDescriptor.digest}`);
  // Read beside the index lookup; only a local unpack uses them (to check the tar it wrote).
  const diffIds = readDiffIds(source, manifest, opts.log);
  const result: ResolvedImage = {
    name: source.name,
    platform: formatPlatform(manifestDescriptor.platform ?? want),
    manifestDescriptor,
    manifest,
    layers: manifest.layers.map((descriptor, index) => ({ index, descriptor, disableXattrs: false })),
  };
  let found: { descriptor: Descriptor; bytes: Uint8Array; version: "v1" | "v2" } | undefined;
  try {
    found = await findIndex(source, manifestDescriptor, manifest, rootIndex, opts);
  } catch (e) {
    result.noIndexReason = `its SOCI index could not be loaded: ${(e as Error).message}`;
  }
  if (found === undefined) {
    result.noIndexReason ??= opts.sociV1
      ? "the image has no SOCI index (no v2 annotation, no v1 referrer)"
      : "the image has no SOCI v2 index (v1 lookup is off; pass --soci-v1 to look for one)";
    for (const l of result.layers) l.notLazyReason = result.noIndexReason;
    attachDiffIds(result, await diffIds);
    return result;
  }
  result.sociIndex = { digest: found.descriptor.digest, version: found.version };
  const parsed = parseSociIndex(found.bytes, `SOCI index ${found.descriptor.digest}`);
  const byLayer = new Map<string, Descriptor>();
  for (const z of parsed.ztocs) {
    const layer = z.annotations?.[ANNOTATION_IMAGE_LAYER_DIGEST];
    if (layer !== undefined && !byLayer.has(layer)) byLayer.set(layer, z);
  }
  const prefetchByLayer = new Map<string, Descriptor>();
  for (const p of parsed.prefetch) {
    const layer = p.annotations?.[ANNOTATION_IMAGE_LAYER_DIGEST];
    if (layer === undefined) opts.log?.(`prefetch artifact ${p.digest}: ignored, it has no ${ANNOTATION_IMAGE_LAYER_DIGEST} annotation`);
    else if (prefetchByLayer.has(layer)) opts.log?.(`prefetch artifact ${p.digest}: ignored, layer ${layer} already has ${prefetchByLayer.get(layer)!.digest}`);
    else prefetchByLayer.set(layer, p);
  }
  await Promise.all(
    result.layers.map(async (l) => {
      const z = byLayer.get(l.descriptor.digest);
      if (z === undefined) {
        l.notLazyReason = "the SOCI index has no zTOC for this layer (below the index's min layer size, or not indexable)";
        return;
      }
      try {
        const bytes = await readArtifact(source, z, MAX_ZTOC_SIZE, opts.store);
        l.ztoc = decodeZtoc(bytes);
        l.ztocDescriptor = z;
        l.disableXattrs = z.annotations?.[ANNOTATION_DISABLE_XATTRS] === "true";
        if (l.ztoc.compressedArchiveSize !== l.descriptor.size) {
          throw new FormatError(`Cannot use zTOC ${z.digest}: it describes ${l.ztoc.compressedArchiveSize} compressed bytes, the layer has ${l.descriptor.size}`);
        }
      } catch (e) {
        delete l.ztoc;
        delete l.ztocDescriptor;
        l.notLazyReason = `its zTOC ${z.digest} could not be loaded: ${(e as Error).message}`;
        opts.log?.(`layer ${l.descriptor.digest}: ${l.notLazyReason}`);
        return;
      }
      const p = prefetchByLayer.get(l.descriptor.digest);
      if (p === undefined) return;
      l.prefetchDescriptor = p;
      if (!opts.prefetch) return;
      try {
        const bytes = await readArtifact(source, p, MAX_PREFETCH_ARTIFACT_SIZE, opts.store, "prefetch artifact");
        l.prefetchSpans = checkPrefetchArtifact(bytes, p, l.ztoc);
      } catch (e) {
        l.prefetchIgnored = `prefetch artifact ${p.digest} ignored: ${(e as Error).message}`;
        opts.log?.(`layer ${l.descriptor.digest}: ${l.prefetchIgnored}; the layer stays lazy without prefetch`);
      }
    }),
  );
  attachDiffIds(result, await diffIds);
  return result;
}

const MAX_CONFIG_SIZE = 8 << 20;
const DIFF_ID = /^sha256:[0-9a-f]{64}$/;

/** The config's `rootfs.diff_ids` when it has one valid ID per layer; else null (with a log line). Never throws. */
async function readDiffIds(source: ImageSource, manifest: Manifest, log?: (line: string) => void): Promise<string[] | null> {
  try {
    const doc = JSON.parse(new TextDecoder().decode(await source.readBlob(manifest.config, MAX_CONFIG_SIZE))) as { rootfs?: { diff_ids?: unknown } };
    const ids = doc?.rootfs?.diff_ids;
    if (Array.isArray(ids) && ids.length === manifest.layers.length && ids.every((x) => typeof x === "string" && DIFF_ID.test(x))) return ids as string[];
    log?.(`image config ${manifest.config.digest}: no usable rootfs.diff_ids (one sha256 per layer); unpacked layers are checked by their blob digest only`);
  } catch (e) {
    log?.(`image config ${manifest.config.digest} could not be read (${(e as Error).message}); unpacked layers are checked by their blob digest only`);
  }
  return null;
}

function attachDiffIds(image: ResolvedImage, ids: string[] | null): void {
  if (ids !== null) image.layers.forEach((l, i) => (l.diffId = ids[i]));
}

function isSociIndexDescriptor(d: Descriptor): boolean {
  return d.artifactType === MEDIA_TYPE_SOCI_INDEX_V1 || d.artifactType === "application/vnd.amazon.soci.index.v2+json";
}

/** The SOCI index for the manifest (snapshotter §7.1), or undefined. Throws when a named index cannot be read. */
async function findIndex(
  source: ImageSource,
  manifestDescriptor: Descriptor,
  manifest: Manifest,
  rootIndex: Descriptor[],
  opts: ResolveImageOptions,
): Promise<{ descriptor: Descriptor; bytes: Uint8Array; version: "v1" | "v2" } | undefined> {
  const named = opts.indexDigest ?? manifest.annotations?.[ANNOTATION_INDEX_DIGEST];
  if (named !== undefined) {
    const bytes = await readIndexBytes(source, named, rootIndex, opts);
    const version = parseSociIndex(bytes, `SOCI index ${named}`).version;
    return { descriptor: { mediaType: MEDIA_TYPE_OCI_MANIFEST, digest: named, size: bytes.length }, bytes, version };
  }
  if (!opts.sociV1) return undefined;
  if (opts.repository !== undefined) {
    const refs = await opts.repository.listReferrers(manifestDescriptor.digest, { artifactType: MEDIA_TYPE_SOCI_INDEX_V1 });
    const first = refs.descriptors[0]; // "select first" policy (§7.1)
    if (first !== undefined) {
      const { bytes } = await opts.repository.getManifest(first.digest);
      return { descriptor: first, bytes, version: "v1" };
    }
  }
  if (opts.store !== undefined) {
    const records = await opts.store.listIndexes({});
    const rec = records.find((r) => r.manifestDigest === manifestDescriptor.digest && r.manifestVersion === "v1");
    if (rec !== undefined) {
      const bytes = await opts.store.readBlob(rec.digest, MAX_MANIFEST_SIZE);
      return { descriptor: { mediaType: MEDIA_TYPE_OCI_MANIFEST, digest: rec.digest, size: rec.size }, bytes, version: "v1" };
    }
  }
  return undefined;
}

/** The index document `digest`: from the image index's descriptor (size known), the registry, or the local store. */
async function readIndexBytes(source: ImageSource, digest: string, rootIndex: Descriptor[], opts: ResolveImageOptions): Promise<Uint8Array> {
  const d = rootIndex.find((x) => x.digest === digest);
  if (d !== undefined) return source.readBlob(d, MAX_MANIFEST_SIZE);
  if (opts.repository !== undefined) return (await opts.repository.getManifest(digest)).bytes;
  if (opts.store !== undefined && (await opts.store.hasBlob(digest))) {
    const bytes = await opts.store.readBlob(digest, MAX_MANIFEST_SIZE);
    if (sha256Digest(bytes) !== digest) throw new SociError(`Cannot read SOCI index ${digest}: the local store's copy has another digest`);
    return bytes;
  }
  throw new NotFoundError(`Cannot read SOCI index ${digest}: neither the image index nor the local store has it`);
}

/** A zTOC (or prefetch artifact) blob from the source, else from the local store (digest and size checked either way). */
async function readArtifact(source: ImageSource, d: Descriptor, maxSize: number, store?: LocalStore, what = "zTOC"): Promise<Uint8Array> {
  if (d.size > maxSize) throw new FormatError(`Cannot read ${what} ${d.digest}: ${d.size} bytes is more than the limit of ${maxSize}`);
  try {
    return await source.readBlob(d, maxSize);
  } catch (e) {
    if (store === undefined || !(e instanceof NotFoundError) || !(await store.hasBlob(d.digest))) throw e;
  }
  const bytes = await store.readBlob(d.digest, maxSize);
  if (bytes.length !== d.size || sha256Digest(bytes) !== d.digest) throw new SociError(`Cannot read ${what} ${d.digest}: the local store's copy does not match its descriptor`);
  return bytes;
}
