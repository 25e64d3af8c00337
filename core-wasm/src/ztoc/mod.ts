/**
 * ztoc/: the zTOC model, its FlatBuffers codec (byte-identical to upstream,
 * formats §2.4), the one-pass builder from a layer blob (TOC from the tar
 * walker, checkpoints from gzip/, span digests) and reading through a zTOC
 * (ranges, whole files, the `ztoc info` document).
 *
 * Policy on inputs upstream fails or cannot mount is described in
 * build_ztoc.ts: such layers raise FormatError so the caller skips the layer
 * with the message as the reason.
 *
 * Not here: choosing layers or writing indexes (soci/), storage (store/).
 */
export {
  DEFAULT_BUILD_TOOL_IDENTIFIER,
  TOC_ENTRY_TYPES,
  ZTOC_VERSION,
  type CompressionAlgorithm,
  type TocEntry,
  type TocEntryType,
  type Xattr,
  type Ztoc,
} from "./model.ts";
export { formatModTime } from "./mod_time.ts";
export { decodeZtoc, encodeZtoc } from "./codec.ts";
export { findHeaderOffsetViolation, tocEntryFromTar } from "./toc_entry.ts";
export { buildZtoc, isBlobMismatch, type BlobHasher, type BuildZtocOptions, type BuiltZtoc } from "./build_ztoc.ts";
export { findTocFile, readTocFile, readUncompressed, ztocSpans, type FetchCompressed } from "./read_uncompressed.ts";
export { ztocInfo, type ZtocInfo, type ZtocInfoFile } from "./ztoc_info.ts";
