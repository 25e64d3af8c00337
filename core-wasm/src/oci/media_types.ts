/**
 * OCI and Docker media types, SOCI's own types and annotation keys, and how a
 * layer media type maps to a compression (containerd `images.DiffCompression`,
 * as upstream SOCI uses it: formats §1, §9.2).
 *
 * Not here: the decision whether a layer is indexed (soci/layer_selection.ts).
 */

export const MEDIA_TYPE_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
export const MEDIA_TYPE_OCI_INDEX = "application/vnd.oci.image.index.v1+json";
export const MEDIA_TYPE_OCI_CONFIG = "application/vnd.oci.image.config.v1+json";
export const MEDIA_TYPE_OCI_EMPTY = "application/vnd.oci.empty.v1+json";
export const MEDIA_TYPE_OCI_LAYER = "application/vnd.oci.image.layer.v1.tar";
export const MEDIA_TYPE_OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip";
export const MEDIA_TYPE_OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd";
export const MEDIA_TYPE_OCI_LAYER_NONDISTRIBUTABLE = "application/vnd.oci.image.layer.nondistributable.v1.tar";
export const MEDIA_TYPE_OCI_LAYER_NONDISTRIBUTABLE_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";

export const MEDIA_TYPE_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
export const MEDIA_TYPE_DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";
export const MEDIA_TYPE_DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json";
export const MEDIA_TYPE_DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar";
export const MEDIA_TYPE_DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip";
export const MEDIA_TYPE_DOCKER_LAYER_ZSTD = "application/vnd.docker.image.rootfs.diff.tar.zstd";
export const MEDIA_TYPE_DOCKER_LAYER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar";
export const MEDIA_TYPE_DOCKER_LAYER_FOREIGN_GZIP = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

/** SOCI (formats §1). */
export const MEDIA_TYPE_SOCI_INDEX_V1 = "application/vnd.amazon.soci.index.v1+json";
export const MEDIA_TYPE_SOCI_INDEX_V2 = "application/vnd.amazon.soci.index.v2+json";
export const MEDIA_TYPE_SOCI_LAYER = "application/octet-stream";
export const MEDIA_TYPE_SOCI_PREFETCH = "application/vnd.amazon.soci.prefetch.v1+json";

export const ANNOTATION_IMAGE_LAYER_DIGEST = "com.amazon.soci.image-layer-digest";
export const ANNOTATION_IMAGE_LAYER_MEDIA_TYPE = "com.amazon.soci.image-layer-mediaType";
export const ANNOTATION_SPAN_SIZE = "com.amazon.soci.span-size";
export const ANNOTATION_DISABLE_XATTRS = "com.amazon.soci.disable-xattrs";
export const ANNOTATION_BUILD_TOOL_IDENTIFIER = "com.amazon.soci.build-tool-identifier";
export const ANNOTATION_INDEX_DIGEST = "com.amazon.soci.index-digest";
export const ANNOTATION_IMAGE_MANIFEST_DIGEST = "com.amazon.soci.image-manifest-digest";
/** OCI image layout tag annotation. */
export const ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name";

/** Sent on manifest requests: every manifest type we read. */
export const MANIFEST_ACCEPT = [MEDIA_TYPE_OCI_MANIFEST, MEDIA_TYPE_OCI_INDEX, MEDIA_TYPE_DOCKER_MANIFEST, MEDIA_TYPE_DOCKER_MANIFEST_LIST].join(", ");

export function isIndexMediaType(mediaType: string): boolean {
  return mediaType === MEDIA_TYPE_OCI_INDEX || mediaType === MEDIA_TYPE_DOCKER_MANIFEST_LIST;
}

/** An image manifest (not an index). */
export function isImageManifestMediaType(mediaType: string): boolean {
  return mediaType === MEDIA_TYPE_OCI_MANIFEST || mediaType === MEDIA_TYPE_DOCKER_MANIFEST;
}

/** Any of the four manifest types (image manifest or index). */
export function isManifestMediaType(mediaType: string): boolean {
  return isImageManifestMediaType(mediaType) || isIndexMediaType(mediaType);
}

/**
 * containerd's compression of a layer media type:
 *  - `"gzip"`, `"zstd"`: compressed that way;
 *  - `"unknown"`: Docker's plain `…diff.tar` (may be anything; read as tar);
 *  - `""`: no compression or a wrapping (`+encrypted`, nondistributable tar, …);
 *  - `null`: not a layer media type at all.
 * OCI types with several `+` suffixes: the suffixes are sorted and the last
 * decides (containerd; so `…tar+gzip+encrypted` counts as gzip, formats §9.2).
 */
export function layerCompression(mediaType: string): "gzip" | "zstd" | "unknown" | "" | null {
  const [base, ...ext] = mediaType.split("+");
  ext.sort();
  switch (base) {
    case MEDIA_TYPE_DOCKER_LAYER:
    case MEDIA_TYPE_DOCKER_LAYER_FOREIGN:
      return ext.length > 0 ? "" : "unknown";
    case MEDIA_TYPE_DOCKER_LAYER_GZIP:
    case MEDIA_TYPE_DOCKER_LAYER_FOREIGN_GZIP:
      return ext.length > 0 ? "" : "gzip";
    case MEDIA_TYPE_DOCKER_LAYER_ZSTD:
      return ext.length > 0 ? "" : "zstd";
    case MEDIA_TYPE_OCI_LAYER:
    case MEDIA_TYPE_OCI_LAYER_NONDISTRIBUTABLE: {
      const last = ext[ext.length - 1];
      return last === "gzip" || last === "zstd" ? last : "";
    }
    default:
      return null;
  }
}
