/**
 * `soci convert` (formats §8.1–§8.5): a SOCI-enabled copy of an image — an
 * OCI image index whose image manifests are re-encoded as OCI manifests and
 * annotated with their SOCI index v2 digest, followed by one SOCI index
 * descriptor per built platform.
 *
 *   1. plan platforms (_plan.ts);
 *   2. build a v2 SOCI index per platform from the manifest as found;
 *   3. start from the source index (or a one-entry index around a manifest);
 *   4. rewrite every image manifest entry (OCI media types, index annotation,
 *      descriptor annotations ← the manifest's own), skipping entries that
 *      are SOCI v2 indexes (avoids upstream's partial re-conversion bug,
 *      §8.5) and leaving absent or non-manifest entries untouched;
 *   5. replace the SOCI descriptor whose platform strictly matches, in place,
 *      or append it;
 *   6. encode the index and write everything reachable to the sink, blobs
 *      (zTOCs, prefetch artifacts §9.6, layers) before the manifests naming
 *      them, then the root.
 *
 * Small images (policy): when no layer reaches the minimum size, or every
 * layer is skipped, upstream fails. We still write a valid converted image
 * (steps 3–6 with no SOCI descriptors, manifests re-encoded) and report
 * `notice` — "no layer is large enough to index" with a hint naming
 * --min-layer-size — so pipelines that convert many images do not break on
 * small ones; the CLI prints the notice.
 *
 * Not here: the store records (store_records.ts), CLI printing.
 */
import { sha256Digest } from "../bytes/mod.ts";
import { NotFoundError } from "../errors.ts";
import {
  ANNOTATION_IMAGE_MANIFEST_DIGEST,
  ANNOTATION_INDEX_DIGEST,
  encodeIndex,
  encodeManifest,
  isImageManifestMediaType,
  matchPlatform,
  MAX_MANIFEST_SIZE,
  MEDIA_TYPE_OCI_CONFIG,
  MEDIA_TYPE_OCI_INDEX,
  MEDIA_TYPE_OCI_MANIFEST,
  MEDIA_TYPE_SOCI_INDEX_V2,
  parseManifest,
  type Descriptor,
  type ImageSink,
  type ImageSource,
  type Manifest,
  type Platform,
} from "../oci/mod.ts";
import { planImage, type PlanOptions } from "./plan_image.ts";
import { buildIndexForManifest, platformIndex, type IndexBuildOptions, type LayerResult, type PlatformIndex } from "./build_soci_index.ts";
import { putSociArtifacts, type BuiltSociIndex } from "./soci_index.ts";

export interface ConvertOptions extends IndexBuildOptions, PlanOptions {
  /** Tag for the destination (`oci:DIR:TAG`). */
  tag?: string;
}

export interface PlatformResult extends PlatformIndex {
  platform: Platform;
  /** The manifest as found in the source. */
  sourceManifest: Descriptor;
  /** The rewritten manifest in the output. */
  imageManifest: Descriptor;
}

export interface Notice {
  message: string;
  hint: string;
}

export interface ConvertResult {
  /** `{mediaType: OCI index, digest, size}` of the converted image. */
  descriptor: Descriptor;
  indexBytes: Uint8Array;
  platforms: PlatformResult[];
  /** Set when no SOCI index was built (see the module header). */
  notice?: Notice;
}

/** Rewrites a manifest as an OCI manifest (formats §8.4); `indexDigest` adds the v2 link. */
export function rewriteManifest(m: Manifest, indexDigest?: string): Manifest {
  const out: Manifest = { schemaVersion: m.schemaVersion, mediaType: MEDIA_TYPE_OCI_MANIFEST, config: { ...m.config, mediaType: MEDIA_TYPE_OCI_CONFIG }, layers: m.layers };
  if (m.artifactType) out.artifactType = m.artifactType;
  if (m.subject) out.subject = m.subject;
  const annotations = { ...(m.annotations ?? {}) };
  if (indexDigest !== undefined) annotations[ANNOTATION_INDEX_DIGEST] = indexDigest;
  if (Object.keys(annotations).length > 0) out.annotations = annotations;
  return out;
}

/** The notice for a conversion that built no index. */
export function noIndexNotice(results: LayerResult[], minLayerSize: number): Notice {
  const onlySmall = results.length === 0 || results.every((r) => r.status === "skipped" && r.reason === "min-layer-size");
  const largest = results.reduce((n, r) => Math.max(n, r.layer.size), 0);
  if (onlySmall) {
    return {
      message: `no layer is large enough to index: every layer is smaller than the minimum layer size ${minLayerSize}${results.length > 0 ? ` (the largest is ${largest} bytes)` : ""}; the image was written without SOCI indexes`,
      hint: "Pass --min-layer-size 0 to index small layers",
    };
  }
  return {
    message: "no zTOC was created: every layer was skipped (see the lines above); the image was written without SOCI indexes",
    hint: "Check the skip reasons; pass --min-layer-size 0 to index small layers",
  };
}

/**
 * Converts the image of `source` into `sink` (root set with `opts.tag`, then
 * committed). On any error the sink is aborted. Errors: NotFoundError (a
 * platform or blob that is not there), FailedPreconditionError (nested index,
 * entries without platform), FormatError (malformed documents, non-layer
 * media types), and I/O errors.
 */
export async function convertImage(source: ImageSource, sink: ImageSink, opts: ConvertOptions): Promise<ConvertResult> {
  try {
    const result = await convertInto(source, sink, opts);
    await sink.commit();
    return result;
  } catch (e) {
    await sink.abort();
    throw e;
  }
}

/**
 * Copies a blob the sink lacks. A layer the zTOC builder read and verified in
 * this run (`verified`) is not hashed again: a local file is handed to the
 * sink whole (`putBlobFrom`: a hard link or kernel copy for a layout), else
 * streamed with `verified`. Everything else is checked as it is copied.
 */
async function copyBlob(source: ImageSource, sink: ImageSink, d: Descriptor, verified: ReadonlySet<string> = new Set()): Promise<void> {
  if (await sink.hasBlob(d.digest)) return;
  if (!(await source.hasBlob(d.digest))) {
    if (d.urls && d.urls.length > 0) return; // foreign layer: fetched from its URLs, not shipped
    throw new NotFoundError(`Cannot copy blob ${d.digest}: it is not in ${source.name}`);
  }
  if (!verified.has(d.digest)) return sink.putBlob(d, source.openBlob(d));
  const at = sink.putBlobFrom && source.blobLocation ? await source.blobLocation(d) : null;
  if (at !== null && sink.putBlobFrom) return sink.putBlobFrom(d, at, { verified: true });
  await sink.putBlob(d, source.openBlob(d, { verify: false }), { verified: true });
}

async function putBytes(sink: ImageSink, mediaType: string, bytes: Uint8Array): Promise<Descriptor> {
  const d: Descriptor = { mediaType, digest: sha256Digest(bytes), size: bytes.length };
  await sink.putBlob(d, bytes, { verified: true }); // the digest was just computed from these bytes
  return d;
}

/** Copies a manifest that is kept as is (an earlier SOCI index) with its config and layers. */
async function copyManifestTree(source: ImageSource, sink: ImageSink, d: Descriptor): Promise<void> {
  if (!(await source.hasBlob(d.digest))) return; // absent entries stay absent (formats §8.2 step 4)
  const bytes = await source.readBlob(d, MAX_MANIFEST_SIZE);
  const m = parseManifest(bytes, `manifest ${d.digest}`);
  for (const b of [m.config, ...m.layers]) await copyBlob(source, sink, b);
  await sink.putBlob(d, bytes);
}

async function convertInto(source: ImageSource, sink: ImageSink, opts: ConvertOptions): Promise<ConvertResult> {
  const plan = await planImage(source, opts);
  // Step 2: one v2 index per platform.
  const built: Array<{ target: (typeof plan.targets)[number]; build: Awaited<ReturnType<typeof buildIndexForManifest>> }> = [];
  for (const target of plan.targets) built.push({ target, build: await buildIndexForManifest(source, target.manifest, "v2", opts) });
  const verified = new Set(built.flatMap(({ build }) => [...build.verifiedBlobs]));
  const byEntry = new Map<number, BuiltSociIndex>();
  for (const { target, build } of built) if (build.index !== null && !byEntry.has(target.entry)) byEntry.set(target.entry, build.index);

  // SOCI artifacts first: zTOCs, the {} config, the indexes.
  let anyIndex = false;
  for (const { build } of built) {
    if (build.index === null) continue;
    anyIndex = true;
    await putSociArtifacts(sink, { ...build, index: build.index });
  }

  // Steps 3–4.
  const index = plan.index;
  const newManifests = new Map<number, Descriptor>();
  for (let i = 0; i < index.manifests.length; i++) {
    const entry = index.manifests[i];
    if (entry.artifactType === MEDIA_TYPE_SOCI_INDEX_V2) {
      const replaced = built.some(({ target, build }) => build.index !== null && entry.platform !== undefined && matchPlatform(target.platform, entry.platform));
      if (!replaced) await copyManifestTree(source, sink, entry); // another platform's index, kept (formats §8.5)
      continue;
    }
    const soci = byEntry.get(i);
    if (!isImageManifestMediaType(entry.mediaType) || !(await source.hasBlob(entry.digest))) {
      if (await source.hasBlob(entry.digest)) await copyBlob(source, sink, entry);
      continue; // not pulled or not a manifest: untouched
    }
    const m = plan.targets.find((t) => t.entry === i)?.manifest ?? parseManifest(await source.readBlob(entry, MAX_MANIFEST_SIZE), `manifest ${entry.digest}`);
    for (const b of [m.config, ...m.layers]) await copyBlob(source, sink, b, verified);
    const rewritten = rewriteManifest(m, soci?.descriptor.digest);
    const desc = await putBytes(sink, MEDIA_TYPE_OCI_MANIFEST, encodeManifest(rewritten));
    const next: Descriptor = { ...entry, mediaType: MEDIA_TYPE_OCI_MANIFEST, digest: desc.digest, size: desc.size };
    if (rewritten.annotations) next.annotations = rewritten.annotations;
    else delete next.annotations;
    index.manifests[i] = next;
    newManifests.set(i, next);
  }

  // Step 5.
  const platforms: PlatformResult[] = [];
  for (const { target, build } of built) {
    const imageManifest = newManifests.get(target.entry)!;
    platforms.push({ platform: target.platform, sourceManifest: target.descriptor, imageManifest, ...platformIndex(build) });
    if (build.index === null) continue;
    const d: Descriptor = {
      ...build.index.descriptor,
      annotations: { [ANNOTATION_IMAGE_MANIFEST_DIGEST]: imageManifest.digest },
      platform: target.platform,
      artifactType: MEDIA_TYPE_SOCI_INDEX_V2,
    };
    const at = index.manifests.findIndex((x) => x.artifactType === MEDIA_TYPE_SOCI_INDEX_V2 && x.platform !== undefined && matchPlatform(target.platform, x.platform));
    if (at >= 0) index.manifests[at] = d;
    else index.manifests.push(d);
  }

  // Step 6.
  const indexBytes = encodeIndex({ ...index, mediaType: MEDIA_TYPE_OCI_INDEX });
  const descriptor = await putBytes(sink, MEDIA_TYPE_OCI_INDEX, indexBytes);
  await sink.setRoot(descriptor, opts.tag);
  const result: ConvertResult = { descriptor, indexBytes, platforms };
  if (!anyIndex) result.notice = noIndexNotice(built.flatMap((b) => b.build.layers), opts.minLayerSize);
  return result;
}
