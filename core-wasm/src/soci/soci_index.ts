/**
 * The SOCI index document (formats §7): an OCI image manifest whose config is
 * the 2-byte `{}` blob with the artifact type as its media type, whose layers
 * are zTOC descriptors (then prefetch descriptors), with a `subject` in v1
 * and none in v2, and one annotation naming the build tool. Encoded with the
 * Go encoder (MUST-BYTES, §7.3); never an `artifactType` key.
 *
 * Not here: choosing layers (layer_selection.ts), building zTOCs (ztoc/).
 */
import { sha256Digest, utf8 } from "../bytes/mod.ts";
import { FormatError } from "../errors.ts";
import {
  ANNOTATION_BUILD_TOOL_IDENTIFIER,
  ANNOTATION_DISABLE_XATTRS,
  ANNOTATION_IMAGE_LAYER_DIGEST,
  ANNOTATION_IMAGE_LAYER_MEDIA_TYPE,
  ANNOTATION_SPAN_SIZE,
  encodeManifest,
  MEDIA_TYPE_OCI_MANIFEST,
  MEDIA_TYPE_SOCI_INDEX_V1,
  MEDIA_TYPE_SOCI_INDEX_V2,
  MEDIA_TYPE_SOCI_LAYER,
  MEDIA_TYPE_SOCI_PREFETCH,
  parseManifest,
  type Descriptor,
  type Manifest,
  type PutBlobOptions,
} from "../oci/mod.ts";

export const DEFAULT_BUILD_TOOL_IDENTIFIER = "AWS SOCI CLI v0.2";
export const DEFAULT_SPAN_SIZE = 4194304;
export const DEFAULT_MIN_LAYER_SIZE = 10485760;

/** The `{}` config blob every SOCI index points at (formats §1). */
export const EMPTY_CONFIG_BYTES = utf8("{}");
export const EMPTY_CONFIG_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

export type SociIndexVersion = "v1" | "v2";

export function sociArtifactType(version: SociIndexVersion): string {
  return version === "v1" ? MEDIA_TYPE_SOCI_INDEX_V1 : MEDIA_TYPE_SOCI_INDEX_V2;
}

/** What the index says about one zTOC. */
export interface ZtocLayer {
  /** The zTOC blob. */
  ztocDigest: string;
  ztocSize: number;
  /** The image layer it indexes. */
  layer: Descriptor;
  spanSize: number;
  /** Adds `com.amazon.soci.disable-xattrs: true` (formats §9.5). */
  disableXattrs?: boolean;
}

/** A zTOC descriptor (formats §7.2). */
export function ztocDescriptor(z: ZtocLayer): Descriptor {
  const annotations: Record<string, string> = {
    [ANNOTATION_IMAGE_LAYER_DIGEST]: z.layer.digest,
    [ANNOTATION_IMAGE_LAYER_MEDIA_TYPE]: z.layer.mediaType,
    [ANNOTATION_SPAN_SIZE]: String(z.spanSize),
  };
  if (z.disableXattrs) annotations[ANNOTATION_DISABLE_XATTRS] = "true";
  return { mediaType: MEDIA_TYPE_SOCI_LAYER, digest: z.ztocDigest, size: z.ztocSize, annotations };
}

export interface SociIndexParts {
  version: SociIndexVersion;
  /** zTOC descriptors in image-layer order (formats §9.4). */
  ztocs: ZtocLayer[];
  /** Prefetch descriptors, after the zTOCs. */
  prefetch?: Descriptor[];
  /** v1 only: the image manifest (mediaType, digest, size are kept; nothing else). */
  subject?: Descriptor;
  buildToolIdentifier?: string;
}

export interface BuiltSociIndex {
  manifest: Manifest;
  bytes: Uint8Array;
  /** `{mediaType: OCI manifest, digest, size}` of `bytes`. */
  descriptor: Descriptor;
}

/** Assembles and encodes a SOCI index. TypeError for a v1 without subject or a v2 with one. */
export function buildSociIndex(parts: SociIndexParts): BuiltSociIndex {
  if (parts.version === "v1" && parts.subject === undefined) throw new TypeError("a SOCI index v1 needs a subject");
  if (parts.version === "v2" && parts.subject !== undefined) throw new TypeError("a SOCI index v2 has no subject");
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPE_OCI_MANIFEST,
    config: { mediaType: sociArtifactType(parts.version), digest: EMPTY_CONFIG_DIGEST, size: EMPTY_CONFIG_BYTES.length },
    layers: [...parts.ztocs.map(ztocDescriptor), ...(parts.prefetch ?? [])],
    annotations: { [ANNOTATION_BUILD_TOOL_IDENTIFIER]: parts.buildToolIdentifier ?? DEFAULT_BUILD_TOOL_IDENTIFIER },
  };
  if (parts.subject) manifest.subject = { mediaType: parts.subject.mediaType, digest: parts.subject.digest, size: parts.subject.size };
  const bytes = encodeManifest(manifest);
  return { manifest, bytes, descriptor: { mediaType: MEDIA_TYPE_OCI_MANIFEST, digest: sha256Digest(bytes), size: bytes.length } };
}

/**
 * Writes one SOCI index and what it references, in the order a registry
 * accepts: zTOC blobs, prefetch artifacts, the `{}` config, the index.
 */
export async function putSociArtifacts(
  sink: { putBlob(d: Descriptor, bytes: Uint8Array, opts?: PutBlobOptions): Promise<unknown> },
  parts: { ztocBlobs: ReadonlyMap<string, Uint8Array>; prefetchBlobs: ReadonlyMap<string, Uint8Array>; index: BuiltSociIndex },
): Promise<void> {
  // Every digest here was computed from these very bytes in this process: no second hash.
  const v = { verified: true };
  for (const [digest, bytes] of parts.ztocBlobs) await sink.putBlob({ mediaType: MEDIA_TYPE_SOCI_LAYER, digest, size: bytes.length }, bytes, v);
  for (const [digest, bytes] of parts.prefetchBlobs) await sink.putBlob({ mediaType: MEDIA_TYPE_SOCI_PREFETCH, digest, size: bytes.length }, bytes, v);
  await sink.putBlob({ mediaType: "application/json", digest: EMPTY_CONFIG_DIGEST, size: EMPTY_CONFIG_BYTES.length }, EMPTY_CONFIG_BYTES, v);
  await sink.putBlob(parts.index.descriptor, parts.index.bytes, v);
}

export interface ParsedSociIndex {
  version: SociIndexVersion;
  manifest: Manifest;
  /** Descriptors of zTOCs (media type `application/octet-stream`), in order. */
  ztocs: Descriptor[];
  prefetch: Descriptor[];
}

/** Decodes a SOCI index; FormatError when the config media type is neither artifact type ("unknown index version"). */
export function parseSociIndex(bytes: Uint8Array, doc = "SOCI index"): ParsedSociIndex {
  const manifest = parseManifest(bytes, doc);
  const t = manifest.config.mediaType;
  const version: SociIndexVersion | null = t === MEDIA_TYPE_SOCI_INDEX_V1 ? "v1" : t === MEDIA_TYPE_SOCI_INDEX_V2 ? "v2" : null;
  if (version === null) throw new FormatError(`Cannot parse ${doc}: unknown index version (config media type ${JSON.stringify(t)})`);
  return {
    version,
    manifest,
    ztocs: manifest.layers.filter((d) => d.mediaType === MEDIA_TYPE_SOCI_LAYER),
    prefetch: manifest.layers.filter((d) => d.mediaType === MEDIA_TYPE_SOCI_PREFETCH),
  };
}
