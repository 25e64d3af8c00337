/**
 * Which manifests to index, for which platforms (formats §8.3), shared by
 * `convert` and `create`.
 *
 *  - single-manifest source: the image config's platform, normalised; each
 *    `--platform` must match it strictly (else "not found");
 *  - index source: the host default, each `--platform` (normalised), or with
 *    `--all-platforms` every listed platform verbatim (entries without a
 *    platform, `unknown` ones and SOCI index entries left out). Duplicates
 *    after normalisation are dropped, first wins. Each platform takes the
 *    first entry that strictly matches; every entry examined before must
 *    carry a platform.
 * Sources whose index lists another index are refused: upstream's output for
 * them is broken (formats §8.2 step 4).
 */
import { FailedPreconditionError, NotFoundError } from "../errors.ts";
import {
  formatPlatform,
  hostPlatform,
  isIndexMediaType,
  isImageManifestMediaType,
  matchPlatform,
  MAX_MANIFEST_SIZE,
  MEDIA_TYPE_OCI_INDEX,
  MEDIA_TYPE_SOCI_INDEX_V2,
  normalizePlatform,
  parseConfigPlatform,
  parseIndex,
  parseManifest,
  parsePlatform,
  samePlatform,
  MAX_CONFIG_SIZE,
  type Descriptor,
  type ImageRoot,
  type ImageSource,
  type Index,
  type Manifest,
  type Platform,
} from "../oci/mod.ts";

export interface PlatformTarget {
  /** The platform written on the SOCI index descriptor. */
  platform: Platform;
  /** Position of the manifest's entry in `ImagePlan.index.manifests`. */
  entry: number;
  /** The manifest's descriptor as found in the source. */
  descriptor: Descriptor;
  manifest: Manifest;
}

export interface ImagePlan {
  root: ImageRoot;
  /** The source index (media type forced to OCI index) or a one-entry index around a single manifest. */
  index: Index;
  single: boolean;
  targets: PlatformTarget[];
}

export interface PlanOptions {
  platforms?: ReadonlyArray<string | Platform>;
  allPlatforms?: boolean;
  /** Defaults to the host's (containerd `DefaultSpec`). */
  hostPlatform?: Platform;
}

function dedupe(ps: Platform[]): Platform[] {
  const out: Platform[] = [];
  for (const p of ps) if (!out.some((q) => samePlatform(normalizePlatform(q), normalizePlatform(p)))) out.push(p);
  return out;
}

/** Resolves the source and picks the manifests to index. NotFoundError/FailedPreconditionError/FormatError as described above. */
export async function planImage(source: ImageSource, opts: PlanOptions): Promise<ImagePlan> {
  const root = await source.resolveRoot();
  const host = opts.hostPlatform ?? hostPlatform();
  const requested = (opts.platforms ?? []).map((p) => (typeof p === "string" ? parsePlatform(p, host) : normalizePlatform(p)));
  if (root.kind === "manifest") {
    const manifest = parseManifest(root.bytes, `manifest ${root.descriptor.digest}`);
    const config = await source.readBlob(manifest.config, MAX_CONFIG_SIZE);
    const configPlatform = normalizePlatform(parseConfigPlatform(config, `image config ${manifest.config.digest}`));
    const entry: Descriptor = { mediaType: root.descriptor.mediaType, digest: root.descriptor.digest, size: root.descriptor.size, platform: configPlatform };
    const index: Index = { schemaVersion: 2, mediaType: MEDIA_TYPE_OCI_INDEX, manifests: [entry] };
    const platforms = requested.length > 0 && !opts.allPlatforms ? dedupe(requested) : [configPlatform];
    const targets = platforms.map((platform) => {
      if (!matchPlatform(platform, configPlatform)) {
        throw new NotFoundError(`Cannot index platform ${formatPlatform(platform)}: not found in ${source.name}, whose image is ${formatPlatform(configPlatform)}`, {
          hint: "Leave out --platform for a single-platform image",
        });
      }
      return { platform, entry: 0, descriptor: entry, manifest };
    });
    return { root, index, single: true, targets };
  }

  const src = parseIndex(root.bytes, `image index ${root.descriptor.digest}`);
  const nested = src.manifests.findIndex((d) => isIndexMediaType(d.mediaType));
  if (nested >= 0) {
    throw new FailedPreconditionError(`Cannot convert ${source.name}: its index lists another index (${src.manifests[nested].digest})`, {
      hint: "Nested indexes are not supported; point the source at the inner index (oci:DIR:TAG) instead",
    });
  }
  const index: Index = { ...src, mediaType: MEDIA_TYPE_OCI_INDEX, manifests: src.manifests.map((d) => ({ ...d })) };
  let platforms: Platform[];
  if (opts.allPlatforms) {
    platforms = src.manifests
      .filter((d) => d.artifactType !== MEDIA_TYPE_SOCI_INDEX_V2 && d.platform && d.platform.os !== "unknown" && d.platform.architecture !== "unknown")
      .map((d) => d.platform!);
  } else platforms = requested.length > 0 ? requested : [host];
  const targets: PlatformTarget[] = [];
  for (const platform of dedupe(platforms)) {
    const entry = selectEntry(index.manifests, platform, source.name);
    const descriptor = index.manifests[entry];
    if (!isImageManifestMediaType(descriptor.mediaType) || !(await source.hasBlob(descriptor.digest))) {
      throw new NotFoundError(`Cannot index platform ${formatPlatform(platform)}: its manifest ${descriptor.digest} is not present in ${source.name}`);
    }
    const manifest = parseManifest(await source.readBlob(descriptor, MAX_MANIFEST_SIZE), `manifest ${descriptor.digest}`);
    targets.push({ platform, entry, descriptor, manifest });
  }
  return { root, index, single: false, targets };
}

function selectEntry(entries: Descriptor[], platform: Platform, name: string): number {
  for (let i = 0; i < entries.length; i++) {
    const d = entries[i];
    if (d.artifactType === MEDIA_TYPE_SOCI_INDEX_V2) continue;
    if (d.platform === undefined) {
      throw new FailedPreconditionError(`Cannot select platform ${formatPlatform(platform)} in ${name}: index entry ${i} (${d.digest}) has no platform`);
    }
    if (matchPlatform(platform, d.platform)) return i;
  }
  const listed = entries.filter((d) => d.platform && d.artifactType !== MEDIA_TYPE_SOCI_INDEX_V2).map((d) => formatPlatform(d.platform!));
  throw new NotFoundError(`Cannot index platform ${formatPlatform(platform)}: not found in ${name}`, {
    hint: listed.length > 0 ? `Platforms listed: ${[...new Set(listed)].join(", ")}` : undefined,
  });
}
