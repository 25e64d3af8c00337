/**
 * soci/: SOCI index v1/v2 documents (formats §7), the layer rules and index
 * build (§9), `convert` (§8), `create` (v1), verification of a SOCI-enabled
 * image, and recording results in the local store.
 *
 * zTOCs are built through an injected `buildZtoc`-shaped function
 * (`IndexBuildOptions.buildLayerZtoc`), so a worker pool or a fake fits.
 *
 * Not here: zTOC bytes (ztoc/), image transports (oci/), storage (store/).
 */
export {
  buildSociIndex,
  DEFAULT_BUILD_TOOL_IDENTIFIER,
  DEFAULT_MIN_LAYER_SIZE,
  DEFAULT_SPAN_SIZE,
  EMPTY_CONFIG_BYTES,
  EMPTY_CONFIG_DIGEST,
  parseSociIndex,
  sociArtifactType,
  ztocDescriptor,
  type BuiltSociIndex,
  type ParsedSociIndex,
  type SociIndexParts,
  type SociIndexVersion,
  type ZtocLayer,
} from "./soci_index.ts";
export { selectLayer, type LayerDecision } from "./layer_selection.ts";
export {
  buildIndexForManifest,
  canDisableXattrs,
  runLimited,
  type BuildLayerZtoc,
  type IndexBuildOptions,
  type LayerResult,
  type ManifestIndexBuild,
} from "./build_soci_index.ts";
export { planImage, type ImagePlan, type PlanOptions, type PlatformTarget } from "./plan_image.ts";
export { convertImage, noIndexNotice, rewriteManifest, type ConvertOptions, type ConvertResult, type Notice, type PlatformResult } from "./convert.ts";
export { createSociIndexes, type CreatedIndex, type CreateOptions, type CreateResult } from "./create.ts";
export { verifySociImage, verifySociImageReport } from "./verify.ts";
export {
  listStoredPrefetches,
  readStoredPrefetch,
  recordConversion,
  recordCreation,
  totalPrefetchSpans,
  type RecordMeta,
  type StoredPrefetch,
  type StoredPrefetchRow,
} from "./store_records.ts";
export {
  buildPrefetchArtifacts,
  cleanPrefetchPath,
  encodePrefetchArtifact,
  mergePrefetchSpans,
  parsePrefetchArtifact,
  parsePrefetchFilesJson,
  prefetchDescriptor,
  PREFETCH_ARTIFACT_VERSION,
  type PrefetchArtifact,
  type PrefetchSpan,
} from "./prefetch.ts";
