/**
 * oci/: the OCI vocabulary and plumbing — media types, the descriptor /
 * manifest / index / platform model with validating parsers, the canonical Go
 * JSON encoder used for every document we write (formats §7.3), containerd's
 * platform rules (§8.3), image locations, and image layouts and archives as
 * `ImageSource`/`ImageSink` (§8.10).
 *
 * Not here: SOCI documents and conversion (soci/), the local store (store/),
 * HTTP (registry/).
 */
export * from "./media_types.ts";
export {
  isDigestGrammar,
  MAX_CONFIG_SIZE,
  MAX_MANIFEST_SIZE,
  parseConfigPlatform,
  parseDescriptor,
  parseIndex,
  parseJsonObject,
  parseManifest,
  sniffManifestKind,
  type Descriptor,
  type Index,
  type Manifest,
  type Platform,
} from "./model.ts";
export {
  compareUtf8,
  encodeDescriptor,
  encodeDescriptorJson,
  encodeGoJsonValue,
  encodeIndex,
  encodeManifest,
  encodePlatformJson,
  goJsonString,
  goJsonStringMap,
} from "./go_json.ts";
export { formatPlatform, hostPlatform, matchPlatform, normalizePlatform, parsePlatform, samePlatform } from "./platform.ts";
export {
  formatImageLocation,
  formatReference,
  parseImageLocation,
  parseReference,
  type ImageLocation,
  type PathKind,
  type Reference,
} from "./reference.ts";
export {
  collectChunks,
  verifyChunks,
  type BlobLocation,
  type ImageRoot,
  type ImageSink,
  type ImageSource,
  type OpenBlobOptions,
  type PutBlobOptions,
} from "./image_source.ts";
export { removeStrayTemps, TEMP_PREFIX, tempPathFor, writeFileAtomic } from "./atomic_file.ts";
export { blobPath, LayoutSource, OCI_LAYOUT_BYTES, OCI_LAYOUT_FILE, OciLayoutWriter } from "./layout.ts";
export { DockerArchiveSource, OciArchiveWriter, openOciArchive } from "./archive.ts";
export { openImageSink, openImageSource, type ImageTarget, type OpenImageOptions } from "./open_image.ts";
