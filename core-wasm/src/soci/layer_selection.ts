/**
 * Which layers get a zTOC (formats §9.2), checked in upstream's order:
 * prefetch artifact (ignored) → not a layer type (error) → below the minimum
 * size (skip; compared with the compressed descriptor size, equal is built) →
 * unsupported compression (skip) → build as gzip or as an uncompressed tar.
 *
 * Docker's plain `…diff.tar` is "unknown" to containerd and read as a tar, as
 * upstream does; if it is really gzip the build fails and the layer is skipped
 * (build_soci_index.ts).
 *
 * Not here: reuse of stored zTOCs and the build itself.
 */
import { FormatError } from "../errors.ts";
import { layerCompression, MEDIA_TYPE_SOCI_PREFETCH, type Descriptor } from "../oci/mod.ts";

export type LayerDecision =
  | { action: "build"; compression: "gzip" | "uncompressed" }
  | { action: "skip"; reason: "min-layer-size" | "unsupported-compression"; line: string }
  | { action: "ignore" };

/** The decision for one layer; FormatError for a media type that is not a layer type. */
export function selectLayer(layer: Descriptor, minLayerSize: number): LayerDecision {
  if (layer.mediaType === MEDIA_TYPE_SOCI_PREFETCH) return { action: "ignore" };
  const algo = layerCompression(layer.mediaType);
  if (algo === null) {
    throw new FormatError(`Cannot index layer ${layer.digest}: media type ${JSON.stringify(layer.mediaType)} is not a layer mediaType`);
  }
  if (layer.size < minLayerSize) {
    return {
      action: "skip",
      reason: "min-layer-size",
      line: `ztoc skipped - layer ${layer.digest} (${layer.mediaType}) size ${layer.size} is less than min-layer-size ${minLayerSize}`,
    };
  }
  if (algo === "gzip") return { action: "build", compression: "gzip" };
  if (algo === "unknown" || (algo === "" && isPlainOciTar(layer.mediaType))) return { action: "build", compression: "uncompressed" };
  return {
    action: "skip",
    reason: "unsupported-compression",
    line: `ztoc skipped - layer ${layer.digest} (${layer.mediaType}) is compressed in an unsupported format. expect: [tar, gzip, unknown] but got "${algo}"`,
  };
}

/** Only the plain OCI tar type counts as uncompressed; other "" results are wrapped or non-distributable. */
function isPlainOciTar(mediaType: string): boolean {
  return mediaType === "application/vnd.oci.image.layer.v1.tar";
}
