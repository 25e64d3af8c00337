/**
 * The zTOC in memory (formats §2.2): the root fields, the TOC entries and the
 * compression info, with every string that comes from a tar kept as raw bytes
 * (names, link targets, user/group names, PAX records, `mod_time`), because
 * tar names and PAX values need not be UTF-8 (formats §2.4).
 */

/** One PAX record of a TOC entry; the name `xattrs` is historical (formats §3.5). */
export interface Xattr {
  key: Uint8Array;
  value: Uint8Array;
}

export type TocEntryType = "reg" | "dir" | "symlink" | "hardlink" | "char" | "block" | "fifo";

export const TOC_ENTRY_TYPES: readonly TocEntryType[] = ["reg", "dir", "symlink", "hardlink", "char", "block", "fifo"];

export interface TocEntry {
  /** Path exactly as in the tar (no normalisation). */
  name: Uint8Array;
  type: TocEntryType;
  /** Offset of the entry's data in the uncompressed tar. */
  uncompressedOffset: number;
  /** Size from the header (logical size for sparse files; not zeroed for links/dirs). */
  uncompressedSize: number;
  linkname: Uint8Array;
  /** The raw mode field, type bits included. */
  mode: number;
  /** uint32 (the tar value modulo 2^32). */
  uid: number;
  gid: number;
  uname: Uint8Array;
  gname: Uint8Array;
  /** RFC 3339 text as stored (formats §3.4); empty for years outside 0000–9999. */
  modTime: Uint8Array;
  devmajor: number;
  devminor: number;
  /** All PAX records of the entry, ascending by key bytes. */
  xattrs: Xattr[];
}

export type CompressionAlgorithm = "gzip" | "uncompressed";

export interface Ztoc {
  version: string;
  buildToolIdentifier: string;
  /** Size of the layer blob as stored. */
  compressedArchiveSize: number;
  /** Tar reader position at the end of the archive (formats §3.7). */
  uncompressedArchiveSize: number;
  toc: TocEntry[];
  compressionAlgorithm: CompressionAlgorithm;
  /** Number of spans − 1. */
  maxSpanId: number;
  /** `sha256:<hex>` per span, span order. */
  spanDigests: string[];
  /** The raw `checkpoints` bytes: gzip zinfo (formats §4) or TarZinfo (formats §5). */
  zinfo: Uint8Array;
}

/** The zTOC `version` upstream writes. */
export const ZTOC_VERSION = "0.9";
/** The build tool identifier upstream writes (also the SOCI index annotation). */
export const DEFAULT_BUILD_TOOL_IDENTIFIER = "AWS SOCI CLI v0.2";
