/**
 * The SOCI indexes a registry image carries, found as a snapshotter would
 * (formats §8.6, §7.5): v2 indexes are entries of the image index (with the
 * v2 `artifactType`, or without one but named by an image manifest's
 * `com.amazon.soci.index-digest` — skopeo drops `artifactType`); v1 indexes
 * are referrers of each image manifest (referrers API, else the
 * `sha256-<hex>` tag schema). Rows have the shape of store records, with
 * `createdAt` empty (a registry does not say) and `source: "registry"`.
 * Private to commands/.
 */
import {
  ANNOTATION_IMAGE_MANIFEST_DIGEST,
  ANNOTATION_INDEX_DIGEST,
  formatPlatform,
  isImageManifestMediaType,
  MAX_CONFIG_SIZE,
  MAX_MANIFEST_SIZE,
  MEDIA_TYPE_OCI_MANIFEST,
  MEDIA_TYPE_SOCI_INDEX_V1,
  MEDIA_TYPE_SOCI_INDEX_V2,
  normalizePlatform,
  parseConfigPlatform,
  parseIndex,
  parseManifest,
  type Descriptor,
  type Platform,
  type Reference,
} from "../../core-wasm/src/oci/mod.ts";
import type { IndexRecord } from "../../core-wasm/src/store/mod.ts";
import type { Context } from "../command.ts";
import { formatReference, openRegistrySource } from "./_registry.ts";

export type IndexRow = IndexRecord & { source?: "local" | "registry" };

/** Every SOCI index of the registry image `ref` (v2 first, in index order; then v1 per manifest). */
export async function remoteIndexes(ctx: Context, ref: Reference): Promise<IndexRow[]> {
  const source = openRegistrySource(ctx, ref);
  const root = await source.resolveRoot();
  const imageRef = formatReference(ref);
  const row = (d: Descriptor, version: "v1" | "v2", manifestDigest: string, platform: Platform | undefined): IndexRow => ({
    digest: d.digest,
    size: d.size,
    mediaType: MEDIA_TYPE_OCI_MANIFEST,
    manifestVersion: version,
    manifestDigest,
    imageRef,
    imageDigest: root.descriptor.digest,
    platform: platform ? formatPlatform(platform) : "",
    spanSize: 0,
    layers: [],
    createdAt: "",
    source: "registry",
  });
  let images: Descriptor[];
  const rows: IndexRow[] = [];
  if (root.kind === "manifest") {
    const m = parseManifest(root.bytes, `manifest ${root.descriptor.digest}`);
    const config = await source.readBlob(m.config, MAX_CONFIG_SIZE);
    images = [{ ...root.descriptor, platform: normalizePlatform(parseConfigPlatform(config, `image config ${m.config.digest}`)) }];
  } else {
    const entries = parseIndex(root.bytes, `image index ${root.descriptor.digest}`).manifests;
    const linked = new Map<string, string>();
    images = [];
    for (const d of entries) {
      if (d.artifactType !== undefined || !isImageManifestMediaType(d.mediaType)) continue;
      const m = parseManifest(await source.readBlob(d, MAX_MANIFEST_SIZE), `manifest ${d.digest}`);
      const link = m.annotations?.[ANNOTATION_INDEX_DIGEST];
      if (link !== undefined) linked.set(link, d.digest);
      images.push(d);
    }
    for (const d of entries) {
      const isSoci = d.artifactType === MEDIA_TYPE_SOCI_INDEX_V2 || (d.artifactType === undefined && linked.has(d.digest));
      if (isSoci) rows.push(row(d, "v2", d.annotations?.[ANNOTATION_IMAGE_MANIFEST_DIGEST] ?? linked.get(d.digest) ?? "", d.platform));
    }
    images = images.filter((d) => !linked.has(d.digest)); // a v2 index that lost its artifactType is not an image
  }
  for (const img of images) {
    const { descriptors } = await source.repo.listReferrers(img.digest, { artifactType: MEDIA_TYPE_SOCI_INDEX_V1 });
    for (const d of descriptors) rows.push(row(d, "v1", img.digest, img.platform));
  }
  return rows;
}
