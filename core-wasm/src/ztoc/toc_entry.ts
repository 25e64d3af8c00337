/**
 * TOC entries from tar entries (formats §3.2–§3.6), and the one rule a
 * consumer checks on the TOC as a whole (formats §2.5).
 *
 * Only the seven typeflags of formats §3.3 make a TOC entry. Upstream fails
 * the whole build on anything else (PAX global header 'g', old GNU sparse
 * 'S', contiguous file '7', GNU 'V'/'M'/'N', vendor types); we raise a
 * FormatError with the reason so the convert step can skip just that layer
 * (pulled in full at run time) and say why.
 */
import { compareBytes, displayText } from "../bytes/mod.ts";
import { FormatError } from "../errors.ts";
import { keepOutOfFtl } from "../runtime/mod.ts";
import type { TarEntry } from "../tar/mod.ts";
import type { TocEntry, TocEntryType } from "./model.ts";
import { formatModTime } from "./mod_time.ts";

const TYPE_BY_FLAG = new Map<number, TocEntryType>([
  [0x30, "reg"], [0x31, "hardlink"], [0x32, "symlink"], [0x33, "char"], [0x34, "block"], [0x35, "dir"], [0x36, "fifo"],
]);

const UNSUPPORTED: Record<string, string> = {
  g: "PAX global header",
  S: "old GNU sparse file",
  "7": "contiguous file",
  V: "GNU volume label",
  M: "GNU multi-volume continuation",
  N: "GNU old long name",
  D: "GNU dump directory",
};

/** Go's %q of a typeflag byte: 'x', or an escape for unprintable bytes. */
function quoteTypeflag(t: number): string {
  return t >= 0x20 && t < 0x7f ? `'${String.fromCharCode(t)}'` : `'\\x${t.toString(16).padStart(2, "0")}'`;
}

/**
 * The TOC entry for a tar entry. Throws FormatError (with the entry's header
 * offset) when its typeflag has no TOC type.
 */
export function tocEntryFromTar(e: TarEntry, source?: string): TocEntry {
  const type = TYPE_BY_FLAG.get(e.typeflag);
  if (type === undefined) {
    const what = UNSUPPORTED[String.fromCharCode(e.typeflag)] ?? "unknown entry type";
    throw new FormatError(
      `Cannot build zTOC: unsupported tar entry ${quoteTypeflag(e.typeflag)} (${what}) ${JSON.stringify(displayText(e.name))}`,
      { source, uncompressedOffset: e.headerOffset },
      { hint: "Upstream SOCI cannot index this layer either; it is skipped and will be pulled in full" },
    );
  }
  const xattrs = e.paxRecords.map((r) => ({ key: r.key, value: r.value }));
  xattrs.sort((a, b) => compareBytes(a.key, b.key));
  return {
    name: e.name,
    type,
    uncompressedOffset: e.dataOffset,
    uncompressedSize: e.size,
    linkname: e.linkname,
    mode: e.mode,
    uid: e.uid >>> 0,
    gid: e.gid >>> 0,
    uname: e.uname,
    gname: e.gname,
    modTime: formatModTime(e.mtime, e.mtimeNanos),
    devmajor: e.devmajor,
    devminor: e.devminor,
    xattrs,
  };
}

keepOutOfFtl(tocEntryFromTar); // runtime/jit_hints.ts

/**
 * The first entry whose derived tar header offset (formats §2.5: the previous
 * entry's offset + size rounded up to 512) lies past its own data offset, or
 * null; `previous` is the entry (in offset order) whose size causes it.
 * Upstream's snapshotter rejects a zTOC with such an entry; PAX sparse files
 * (logical size larger than the stored data) and header-only entries
 * (directories, links, devices) with a non-zero size produce one.
 */
export function findHeaderOffsetViolation(toc: readonly TocEntry[]): { index: number; headerOffset: number; previous: number } | null {
  const sorted = toc.map((e, index) => ({ e, index })).sort((a, b) => a.e.uncompressedOffset - b.e.uncompressedOffset);
  let next = 0;
  let previous = -1;
  for (const { e, index } of sorted) {
    if (next > e.uncompressedOffset) return { index, headerOffset: next, previous };
    next = Math.ceil((e.uncompressedOffset + e.uncompressedSize) / 512) * 512;
    previous = index;
  }
  return null;
}
