/**
 * tar/: the raw tar walker (Go `archive/tar` semantics and exact byte
 * positions, formats §3) and a small USTAR/PAX writer.
 *
 * Bytes stay bytes: names, link targets, user/group names and PAX records are
 * `Uint8Array`s exactly as stored. Typeflags are reported, not judged: the
 * zTOC builder decides which ones a TOC can hold.
 *
 * Not here: decompression (gzip/), TOC entries and their policy (ztoc/).
 */
export { isHeaderOnlyType, TarWalker, type TarEntry, type TarSummary, type TarWalkerOptions } from "./tar_walker.ts";
export type { PaxRecord } from "./_pax.ts";
export type { SparseEntry } from "./_sparse.ts";
export { encodePaxRecord, encodeTarHeader, tarPadding, TarWriter, writeTar, type TarWriteEntry, type TarWriteType } from "./tar_writer.ts";
