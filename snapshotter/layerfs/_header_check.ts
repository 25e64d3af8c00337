/**
 * The first-read tar header check of snapshotter §8.6 (upstream's
 * verification unless `disable_verification`): before a regular file's data
 * is served, the bytes `[tar header offset, data offset)` of the uncompressed
 * layer are parsed as tar headers and must be exactly one entry — PAX and GNU
 * long-name pseudo-entries included — whose fields equal the TOC entry's:
 * raw name, size, mod time (the instant; upstream may write a local zone),
 * link name, type and permission bits, uid, gid, device numbers and the
 * `SCHILY.xattr.*` records. A zTOC whose offsets point a name at another
 * file's bytes is caught here instead of serving those bytes.
 *
 * The header offset is derived as in formats §2.5 — 0 for the first entry by
 * offset, else the previous entry's data end rounded up to 512 — except that
 * only regular files have a data area, as in the tar reader (§3.1). Upstream
 * counts the size field of every type, so a directory or link with a size
 * pushes the next header offset past the real one: upstream then rejects the
 * zTOC, or, when the overshoot lands exactly on the next data offset, fails
 * that file's check on an empty region. Both cases read correctly here.
 *
 * Not here: reading the bytes (layer_fs.ts through the span manager).
 */
import { TarWalker, type TarEntry } from "../../core-wasm/src/tar/mod.ts";
import { tocEntryFromTar, type TocEntry } from "../../core-wasm/src/ztoc/mod.ts";
import { parseModTime } from "./_mod_time.ts";

/** Header offsets of the entries of `toc` (formats §2.5), by entry. */
export function headerOffsets(toc: readonly TocEntry[]): Map<TocEntry, number> {
  const sorted = [...toc].sort((a, b) => a.uncompressedOffset - b.uncompressedOffset);
  const out = new Map<TocEntry, number>();
  let next = 0;
  for (const e of sorted) {
    out.set(e, next);
    next = Math.ceil((e.uncompressedOffset + (e.type === "reg" ? e.uncompressedSize : 0)) / 512) * 512;
  }
  return out;
}

const XATTR_PREFIX = "SCHILY.xattr.";
const dec = new TextDecoder("latin1");

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function schilyXattrs(e: TocEntry): string[] {
  return e.xattrs.filter((x) => dec.decode(x.key).startsWith(XATTR_PREFIX)).map((x) => `${dec.decode(x.key)}=${dec.decode(x.value)}`);
}

/**
 * Checks `region` (the header bytes of `entry`) against `entry`. Returns
 * null when they agree, else what differs, in words.
 */
export function checkTarHeader(region: Uint8Array, entry: TocEntry): string | null {
  const found: TarEntry[] = [];
  try {
    const w = new TarWalker({ onEntry: (e) => found.push(e) });
    w.push(region, 0);
  } catch (e) {
    return `its ${region.length} header bytes do not parse as tar: ${e instanceof Error ? e.message : String(e)}`;
  }
  if (found.length !== 1) return `its ${region.length} header bytes hold ${found.length} tar entries, not 1`;
  const t = found[0];
  if (t.headerOffset !== 0 || t.dataOffset !== region.length) {
    return `the tar header found spans bytes ${t.headerOffset}..${t.dataOffset} of the ${region.length}-byte header region`;
  }
  let h: TocEntry;
  try {
    h = tocEntryFromTar(t);
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
  const diffs: string[] = [];
  if (!equalBytes(h.name, entry.name)) diffs.push(`name ${JSON.stringify(dec.decode(h.name))}`);
  if (h.type !== entry.type) diffs.push(`type ${h.type}`);
  if (h.uncompressedSize !== entry.uncompressedSize) diffs.push(`size ${h.uncompressedSize}`);
  if (!equalBytes(h.linkname, entry.linkname)) diffs.push(`link name ${JSON.stringify(dec.decode(h.linkname))}`);
  if ((h.mode & 0o7777) !== (entry.mode & 0o7777)) diffs.push(`mode ${(h.mode & 0o7777).toString(8)}`);
  if (h.uid >>> 0 !== entry.uid >>> 0 || h.gid >>> 0 !== entry.gid >>> 0) diffs.push(`owner ${h.uid >>> 0}:${h.gid >>> 0}`);
  if (h.devmajor !== entry.devmajor || h.devminor !== entry.devminor) diffs.push(`device ${h.devmajor},${h.devminor}`);
  const want = parseModTime(entry.modTime);
  const got = parseModTime(h.modTime);
  // An unreadable stored time is already logged when the tree is built; only two readable instants are compared.
  if (want !== null && got !== null && (want.sec !== got.sec || want.nsec !== got.nsec)) diffs.push(`mod time ${dec.decode(h.modTime)}`);
  const hx = schilyXattrs(h);
  const ex = schilyXattrs(entry);
  if (hx.length !== ex.length || hx.some((x, i) => x !== ex[i])) diffs.push(`xattrs [${hx.join(", ")}]`);
  return diffs.length === 0 ? null : `its tar header says ${diffs.join(", ")}`;
}
