/**
 * One 512-byte tar header block decoded the way Go `archive/tar`'s
 * `readHeader` does (formats §3.1–§3.2): checksum (unsigned or signed sum),
 * format guess from magic/version/trailer, V7 fields, then format-specific
 * fields (USTAR/PAX prefix, GNU atime/ctime with the pre-Go-1.8 prefix
 * fallback, STAR prefix and times). Numeric parse errors anywhere are an
 * error, as in Go.
 *
 * Block layout (offset, size):
 *
 *   V7     name 0/100  mode 100/8  uid 108/8  gid 116/8  size 124/12
 *          mtime 136/12  chksum 148/8  typeflag 156/1  linkname 157/100
 *   USTAR  magic 257/6  version 263/2  uname 265/32  gname 297/32
 *          devmajor 329/8  devminor 337/8  prefix 345/155
 *   GNU    atime 345/12  ctime 357/12  ... sparse 386/4×24
 *          isextended 482/1  realsize 483/12
 *   STAR   prefix 345/131  atime 476/12  ctime 488/12  trailer 508/4
 *
 * Not here: PAX records, long names, sparse maps (tar_walker.ts).
 */
import { keepOutOfFtl } from "../runtime/mod.ts";
import { cString, cStringEnd, parseNumeric, parseOctal, type NumberResult } from "./_numbers.ts";

export const BLOCK_SIZE = 512;

export const enum Format {
  V7 = 1,
  UstarOrPax = 2,
  Gnu = 3,
  Star = 4,
}

/** The fields of one header block, before PAX/GNU merging. */
export interface RawHeader {
  format: Format;
  typeflag: number;
  name: Uint8Array;
  linkname: Uint8Array;
  size: number;
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch; ±Infinity when beyond 2^53 (Go formats those as ""). */
  mtime: number;
  uname: Uint8Array;
  gname: Uint8Array;
  devmajor: number;
  devminor: number;
}

/** Why a block is not a header: a short reason for the error message. */
export type HeaderProblem = string;

const EMPTY = new Uint8Array(0);

/** True when `b[off, off+512)` is all zeros. */
export function isZeroBlock(b: Uint8Array, off: number): boolean {
  for (let i = off; i < off + BLOCK_SIZE; i++) if (b[i] !== 0) return false;
  return true;
}

function equalAscii(b: Uint8Array, off: number, s: string): boolean {
  for (let i = 0; i < s.length; i++) if (b[off + i] !== s.charCodeAt(i)) return false;
  return true;
}

/** Go `block.getFormat`: 0 when the checksum does not match. */
export function headerFormat(b: Uint8Array, off: number): Format | 0 {
  const stored = parseOctal(b, off + 148, off + 156);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK_SIZE; i++) {
    // The checksum field itself counts as eight spaces.
    const c = i >= 148 && i < 156 ? 0x20 : b[off + i];
    unsigned += c;
    signed += c < 128 ? c : c - 256;
  }
  if (!stored.ok || (stored.value !== unsigned && stored.value !== signed)) return 0;
  const ustarMagic = equalAscii(b, off + 257, "ustar\0");
  if (ustarMagic && equalAscii(b, off + 508, "tar\0")) return Format.Star;
  if (ustarMagic) return Format.UstarOrPax;
  if (equalAscii(b, off + 257, "ustar ") && equalAscii(b, off + 263, " \0")) return Format.Gnu;
  return Format.V7;
}

/**
 * Decodes the header block at `b[off, off+512)` (not all zero). Returns the
 * fields, or a problem string where Go returns ErrHeader.
 */
export function decodeHeader(b: Uint8Array, off: number): RawHeader | HeaderProblem {
  const format = headerFormat(b, off);
  if (format === 0) return "header checksum mismatch";
  let problem: HeaderProblem | null = null;
  const num = (start: number, len: number, what: string): number => {
    const r: NumberResult = parseNumeric(b, off + start, off + start + len);
    if (!r.ok) problem = r.tooLarge ? `${what} field is beyond 2^53` : `invalid ${what} field`;
    return r.value;
  };
  // Times only need to be valid for Go; one past 2^53 seconds formats as "" (formats §3.4).
  const time = (start: number, what: string): number => {
    const r = parseNumeric(b, off + start, off + start + 12);
    if (r.tooLarge) return b[off + start] & 0x40 ? -Infinity : Infinity;
    if (!r.ok) problem = `invalid ${what} field`;
    return r.value;
  };
  const h: RawHeader = {
    format,
    typeflag: b[off + 156],
    name: cString(b, off, off + 100),
    linkname: cString(b, off + 157, off + 257),
    size: num(124, 12, "size"),
    mode: num(100, 8, "mode"),
    uid: num(108, 8, "uid"),
    gid: num(116, 8, "gid"),
    mtime: time(136, "mtime"),
    uname: EMPTY,
    gname: EMPTY,
    devmajor: 0,
    devminor: 0,
  };
  if (format !== Format.V7) {
    h.uname = cString(b, off + 265, off + 297);
    h.gname = cString(b, off + 297, off + 329);
    h.devmajor = num(329, 8, "devmajor");
    h.devminor = num(337, 8, "devminor");
    const prefixStart = off + 345;
    let prefixEnd = prefixStart; // empty prefix
    if (format === Format.UstarOrPax) {
      prefixEnd = cStringEnd(b, off + 345, off + 500);
    } else if (format === Format.Star) {
      prefixEnd = cStringEnd(b, off + 345, off + 476);
      time(476, "atime");
      time(488, "ctime");
    } else if (gnuTimesInvalid(b, off)) {
      // Pre-Go-1.8 writers put a USTAR prefix where GNU keeps atime/ctime;
      // Go falls back to reading it as a prefix when it is ASCII.
      const end = cStringEnd(b, off + 345, off + 500);
      let ascii = true;
      for (let i = off + 345; i < end; i++) if (b[i] >= 0x80) ascii = false;
      if (ascii) prefixEnd = end;
    }
    if (prefixEnd > prefixStart) {
      const name = new Uint8Array(prefixEnd - prefixStart + 1 + h.name.length);
      name.set(b.subarray(prefixStart, prefixEnd));
      name[prefixEnd - prefixStart] = 0x2f; // '/'
      name.set(h.name, prefixEnd - prefixStart + 1);
      h.name = name;
    }
  }
  return problem ?? h;
}

/** GNU atime/ctime are parsed only when their first byte is non-zero; a failure triggers Go's fallback. */
function gnuTimesInvalid(b: Uint8Array, off: number): boolean {
  for (const start of [345, 357]) {
    if (b[off + start] === 0) continue;
    const r = parseNumeric(b, off + start, off + start + 12);
    if (!r.ok && !r.tooLarge) return true;
  }
  return false;
}

keepOutOfFtl(headerFormat, decodeHeader); // runtime/jit_hints.ts
