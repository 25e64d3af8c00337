/**
 * `soci pull REF` (ours; upstream relies on containerd): copies a registry
 * image — every platform, every blob, digests unchanged — into an OCI layout
 * in the local store (`<store>/images/<registry>_<repository>_<tag>`, or
 * `--output DIR`), and brings its SOCI indexes along: v2 indexes are part of
 * the image; v1 indexes are found as referrers of each image manifest
 * (formats §7.5) and fetched with their zTOCs. Every SOCI index found is put
 * in the store (blobs hashed once: streamed in verified, or hard-linked from
 * the pulled layout; blobs already present are skipped, so pulling again
 * downloads nothing it has) and recorded for that layout, so `index list`, `ztoc …`,
 * `verify`, `convert` and `create` work on the pulled image offline.
 *
 * Prints the layout location (`oci:DIR:TAG`) to pass to other commands;
 * `--quiet` prints only the image digest, `--json` one document.
 */
import { join, resolve } from "node:path";
import { UsageError } from "../../core-wasm/src/errors.ts";
import {
  ANNOTATION_IMAGE_LAYER_DIGEST,
  ANNOTATION_IMAGE_LAYER_MEDIA_TYPE,
  ANNOTATION_INDEX_DIGEST,
  ANNOTATION_SPAN_SIZE,
  formatPlatform,
  isImageManifestMediaType,
  LayoutSource,
  MAX_CONFIG_SIZE,
  MAX_MANIFEST_SIZE,
  normalizePlatform,
  parseConfigPlatform,
  MEDIA_TYPE_OCI_MANIFEST,
  MEDIA_TYPE_SOCI_INDEX_V1,
  MEDIA_TYPE_SOCI_INDEX_V2,
  OciLayoutWriter,
  parseIndex,
  parseManifest,
  type Descriptor,
  type Manifest,
  type Reference,
} from "../../core-wasm/src/oci/mod.ts";
import { copyImage } from "../../core-wasm/src/registry/mod.ts";
import { parseSociIndex } from "../../core-wasm/src/soci/mod.ts";
import { LocalStore, type IndexRecord, type ZtocRecord } from "../../core-wasm/src/store/mod.ts";
import { stringFlag, type CommandSpec, type Context } from "../command.ts";
import { locationOf } from "./_location.ts";
import { formatReference, openRegistrySource, registryReferenceOf } from "./_registry.ts";

/** `127.0.0.1:5000/team/app:1` → `127.0.0.1_5000_team_app_1` (digests: `sha256-<hex>`). */
export function layoutNameOf(ref: Reference): string {
  const id = ref.digest ? ref.digest.replace(":", "-") : (ref.tag ?? "latest");
  return `${ref.registry}/${ref.repository}/${id}`.replace(/[/:@]/g, "_");
}

interface Found {
  version: "v1" | "v2";
  index: Descriptor;
  bytes: Uint8Array;
  image: Descriptor;
  manifest: Manifest;
}

/** Puts a SOCI index, its zTOCs and config into the store and records them for `imageRef`. */
async function recordIndex(store: LocalStore, f: Found & { from: "image" | "registry" }, blob: (d: Descriptor) => Promise<void>, imageRef: string, imageDigest: string): Promise<IndexRecord> {
  const parsed = parseSociIndex(f.bytes, `SOCI index ${f.index.digest}`);
  const createdAt = new Date().toISOString();
  const ztocs: ZtocRecord[] = [];
  let spanSize = 0;
  for (const z of [parsed.manifest.config, ...parsed.ztocs, ...parsed.prefetch]) {
    if (!(await store.hasBlob(z.digest))) await blob(z);
  }
  for (const z of parsed.ztocs) {
    const layerDigest = z.annotations?.[ANNOTATION_IMAGE_LAYER_DIGEST] ?? "";
    const layer = f.manifest.layers.find((l) => l.digest === layerDigest);
    spanSize = Number(z.annotations?.[ANNOTATION_SPAN_SIZE] ?? 0) || spanSize;
    ztocs.push({
      digest: z.digest, size: z.size, layerDigest, layerSize: layer?.size ?? 0,
      layerMediaType: z.annotations?.[ANNOTATION_IMAGE_LAYER_MEDIA_TYPE] ?? layer?.mediaType ?? "", spanSize, imageRef, createdAt,
    });
  }
  if (!(await store.hasBlob(f.index.digest))) {
    if (f.from === "image") await blob(f.index);
    else await store.putBlob(f.index, f.bytes, { verified: true }); // fetched and checked by getManifest
  }
  const record: IndexRecord = {
    digest: f.index.digest, size: f.index.size, mediaType: MEDIA_TYPE_OCI_MANIFEST, manifestVersion: f.version,
    manifestDigest: f.image.digest, imageRef, imageDigest, platform: f.image.platform ? formatPlatform(f.image.platform) : "",
    spanSize, layers: ztocs.map((z) => ({ layerDigest: z.layerDigest, layerSize: z.layerSize, layerMediaType: z.layerMediaType, ztocDigest: z.digest, ztocSize: z.size })),
    createdAt,
  };
  await store.addRecords({ indexes: [record], ztocs });
  return record;
}

export const pullCommand: CommandSpec = {
  name: "pull",
  args: "<ref>",
  description: "Pull a registry image with all its platforms and SOCI indexes into the local store",
  options: [{ flags: "-o, --output <dir>", description: "Write the image to this OCI layout directory", defaultText: "<store>/images/<name>" }],
  examples: ["soci pull 127.0.0.1:5000/app:1-soci", "soci pull -o ./app registry.example/app@sha256:…"],
  async run(ctx, args, flags) {
    const text = args[0] as string;
    const ref = registryReferenceOf(locationOf(ctx, text));
    if (ref === undefined) throw new UsageError(`Cannot pull ${JSON.stringify(text)}: it is not a registry reference`, { hint: "Pass registry/repository:tag" });
    await pull(ctx, ref, stringFlag(flags, "output", "--output"));
  },
};

async function pull(ctx: Context, ref: Reference, output: string | undefined): Promise<void> {
  const { out } = ctx;
  const dir = output !== undefined ? resolve(ctx.cwd, output) : join(ctx.storeDir, "images", layoutNameOf(ref));
  const tag = ref.digest === undefined ? (ref.tag ?? "latest") : undefined;
  const store = await LocalStore.open(ctx.storeDir);
  const source = openRegistrySource(ctx, ref);
  const copied = await copyImage(source, await OciLayoutWriter.create(dir), { ...(tag ? { tag } : {}), concurrency: ctx.registry.maxConcurrentDownloads });
  const imageRef = `oci:${dir}${tag ? ":" + tag : ""}`;
  out.info(`pulled ${formatReference(ref)} (${copied.descriptor.digest}, ${copied.manifests.length} manifest${copied.manifests.length === 1 ? "" : "s"}, ${copied.blobs} blobs)`);

  // SOCI indexes: v2 from the layout just written, v1 as referrers on the registry.
  const layout = await LayoutSource.openDir(dir, tag);
  const found: Array<Found & { from: "image" | "registry" }> = [];
  const manifests = new Map<string, Manifest>();
  for (const img of copied.manifests) manifests.set(img.digest, parseManifest(await layout.readBlob(img, MAX_MANIFEST_SIZE), `manifest ${img.digest}`));
  const root = await layout.resolveRoot();
  let entries: Descriptor[];
  if (root.kind === "index") entries = parseIndex(root.bytes, `image index ${root.descriptor.digest}`).manifests;
  else {
    const config = manifests.get(root.descriptor.digest)!.config;
    const platform = normalizePlatform(parseConfigPlatform(await layout.readBlob(config, MAX_CONFIG_SIZE), `image config ${config.digest}`));
    entries = [{ ...root.descriptor, platform }];
  }
  const isSociConfig = (t: string | undefined) => t === MEDIA_TYPE_SOCI_INDEX_V1 || t === MEDIA_TYPE_SOCI_INDEX_V2;
  const images = entries.filter((d) => isImageManifestMediaType(d.mediaType) && d.artifactType === undefined && manifests.has(d.digest) && !isSociConfig(manifests.get(d.digest)?.config.mediaType));
  for (const img of images) {
    const m = manifests.get(img.digest);
    const link = m?.annotations?.[ANNOTATION_INDEX_DIGEST];
    if (!m || link === undefined) continue;
    const index = entries.find((d) => d.digest === link);
    if (index === undefined) continue;
    found.push({ version: "v2", index, bytes: await layout.readBlob(index, MAX_MANIFEST_SIZE), image: img, manifest: m, from: "image" });
  }
  for (const img of images) {
    const m = manifests.get(img.digest);
    if (!m) continue;
    const { descriptors } = await source.repo.listReferrers(img.digest, { artifactType: MEDIA_TYPE_SOCI_INDEX_V1 });
    for (const d of descriptors) {
      const { bytes, descriptor } = await source.repo.getManifest(d.digest);
      found.push({ version: "v1", index: descriptor, bytes, image: img, manifest: m, from: "registry" });
    }
  }
  const records: IndexRecord[] = [];
  for (const f of found) {
    // Into the store's content once: hard-linked from the layout just written (verified on the way in),
    // or streamed from the registry (hashed once, by the stream).
    const blob = async (d: Descriptor): Promise<void> => {
      const at = f.from === "image" ? await layout.blobLocation(d) : null;
      if (at !== null) await store.putBlobFrom(d, at, { verified: true });
      else await store.putBlob(d, source.repo.fetchBlob(d), { verified: true });
    };
    const r = await recordIndex(store, f, blob, imageRef, copied.descriptor.digest);
    records.push(r);
    out.info(`soci index ${r.digest} (${r.manifestVersion}, ${r.platform}) for manifest ${r.manifestDigest}`);
  }
  if (out.json) {
    out.printJson({ image: { mediaType: copied.descriptor.mediaType, digest: copied.descriptor.digest, size: copied.descriptor.size }, location: imageRef, blobs: copied.blobs, indexesRecorded: records.map((r) => ({ digest: r.digest, version: r.manifestVersion, platform: r.platform })) });
  } else if (out.quiet) out.line(copied.descriptor.digest);
  else out.info(`image written to ${imageRef}`);
}
