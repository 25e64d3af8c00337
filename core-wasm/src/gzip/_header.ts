/**
 * gzip member header (RFC 1952 §2.3): magic 1f 8b, CM 8, FLG, MTIME, XFL,
 * OS, then FEXTRA (XLEN + bytes), FNAME and FCOMMENT (zero-terminated) and
 * FHCRC (low 16 bits of the CRC-32 of the header so far) as flagged. Reserved
 * FLG bits are an error, as in zlib. Headers longer than MAX_HEADER_SIZE are
 * refused (FNAME/FCOMMENT are otherwise unbounded).
 */
import { FormatError } from "../errors.ts";

export const FTEXT = 1;
export const FHCRC = 2;
export const FEXTRA = 4;
export const FNAME = 8;
export const FCOMMENT = 16;
const FRESERVED = 0xe0;
export const MAX_HEADER_SIZE = 1 << 20;

/**
 * Length of the header starting at `bytes[pos]`, or -1 if more bytes are
 * needed. `offset` is the compressed offset of `bytes[pos]` (for errors);
 * `crc32` computes a CRC-32 for FHCRC. Throws FormatError on a bad header.
 */
export function parseGzipHeader(
  bytes: Uint8Array,
  pos: number,
  offset: number,
  source: string | undefined,
  crc32: (b: Uint8Array) => number,
): number {
  const avail = bytes.length - pos;
  const at = (i: number) => bytes[pos + i];
  const fail = (what: string, i: number) =>
    new FormatError(`Cannot parse gzip header: ${what}`, { source, compressedOffset: offset + i }, {
      hint: "The layer is not gzip data or is corrupt",
    });
  if (avail >= 1 && at(0) !== 0x1f) throw fail(`bad magic byte 0x${at(0).toString(16).padStart(2, "0")}`, 0);
  if (avail >= 2 && at(1) !== 0x8b) throw fail(`bad magic byte 0x${at(1).toString(16).padStart(2, "0")}`, 1);
  if (avail >= 3 && at(2) !== 8) throw fail(`unknown compression method ${at(2)}`, 2);
  if (avail >= 4 && (at(3) & FRESERVED) !== 0) throw fail(`reserved flag bits set (FLG 0x${at(3).toString(16)})`, 3);
  if (avail < 10) return -1;
  const flg = at(3);
  let n = 10;
  if (flg & FEXTRA) {
    if (avail < n + 2) return -1;
    n += 2 + (at(n) | (at(n + 1) << 8));
  }
  for (const f of [FNAME, FCOMMENT]) {
    if (!(flg & f)) continue;
    while (n < avail && at(n) !== 0) n++;
    if (n >= avail) return tooLongOrMore(n);
    n++;
  }
  if (flg & FHCRC) {
    if (avail < n + 2) return tooLongOrMore(n);
    const want = at(n) | (at(n + 1) << 8);
    const got = crc32(bytes.subarray(pos, pos + n)) & 0xffff;
    if (got !== want) throw fail(`header CRC16 0x${want.toString(16)} does not match 0x${got.toString(16)}`, n);
    n += 2;
  }
  return avail < n ? tooLongOrMore(n) : n;

  function tooLongOrMore(len: number): number {
    if (len > MAX_HEADER_SIZE) throw fail(`header longer than ${MAX_HEADER_SIZE} bytes`, 0);
    return -1;
  }
}
