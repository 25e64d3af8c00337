/**
 * GNU sparse maps as Go `archive/tar` reads them (formats §3.6): the PAX
 * 0.0/0.1 map in records, the PAX 1.0 map at the start of the data area
 * (newline-separated decimals in whole 512-byte blocks), and the old GNU
 * ('S') map in the header plus extension blocks. Only the map's validity and
 * the bytes it occupies matter to the walker; the file content is never read.
 *
 * Old GNU extension block: 21 entries of offset 12 + length 12 bytes, then
 * isextended at byte 504.
 */
import { parseGoNumber, parseNumeric } from "./_numbers.ts";
import type { PaxRecords } from "./_pax.ts";

export interface SparseEntry {
  offset: number;
  length: number;
}

/** Which PAX sparse format the records announce (Go `readGNUSparsePAXHeaders`). */
export function paxSparseFormat(records: PaxRecords): "0.x" | "1.0" | null {
  const major = records.text("GNU.sparse.major");
  const minor = records.text("GNU.sparse.minor");
  if (major === "0" && (minor === "0" || minor === "1")) return "0.x";
  if (major === "1" && minor === "0") return "1.0";
  if (major !== "" || minor !== "") return null; // unknown version: a plain file
  if (records.text("GNU.sparse.map") !== "") return "0.x";
  return null;
}

/** The logical size override of a PAX sparse file, if any. */
export function paxSparseSize(records: PaxRecords): Uint8Array | undefined {
  const size = records.get("GNU.sparse.size");
  if (size !== undefined && size.length > 0) return size;
  const real = records.get("GNU.sparse.realsize");
  return real !== undefined && real.length > 0 ? real : undefined;
}

function parsePairs(tokens: Uint8Array[], count: number): SparseEntry[] | null {
  const out: SparseEntry[] = [];
  for (let i = 0; i < count; i++) {
    const offset = parseGoNumber(tokens[2 * i]);
    const length = parseGoNumber(tokens[2 * i + 1]);
    if (!offset.ok || !length.ok) return null;
    out.push({ offset: offset.value, length: length.value });
  }
  return out;
}

function split(b: Uint8Array, sep: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let start = 0;
  for (;;) {
    const i = b.indexOf(sep, start);
    if (i < 0) break;
    out.push(b.subarray(start, i));
    start = i + 1;
  }
  out.push(b.subarray(start));
  return out;
}

/** Go `readGNUSparseMap0x1`: `GNU.sparse.numblocks` pairs in `GNU.sparse.map`. */
export function paxSparseMap0x(records: PaxRecords): SparseEntry[] | null {
  const count = parseGoNumber(records.get("GNU.sparse.numblocks") ?? new Uint8Array(0));
  if (!count.ok || count.value < 0) return null;
  const map = records.get("GNU.sparse.map") ?? new Uint8Array(0);
  const tokens = map.length === 0 ? [] : split(map, 0x2c);
  if (tokens.length !== 2 * count.value) return null;
  return parsePairs(tokens, count.value);
}

/**
 * The PAX 1.0 map read so far: `needed()` says how many more newlines must
 * arrive before `parse()` can run (Go `readGNUSparseMap1x0` reads whole
 * blocks until it has them).
 */
export class SparseMap1x0 {
  #blocks: Uint8Array[] = [];
  #newlines = 0;
  #count = -1;

  get bytes(): number {
    return this.#blocks.length * 512;
  }

  /** Adds one 512-byte block (copied). Returns a problem string or null. */
  add(block: Uint8Array): string | null {
    this.#blocks.push(block.slice());
    for (let i = 0; i < block.length; i++) if (block[i] === 0x0a) this.#newlines++;
    if (this.#count < 0 && this.#newlines >= 1) {
      const first = this.#tokens()[0];
      const n = parseGoNumber(first);
      if (!n.ok || n.value < 0) return "invalid GNU sparse 1.0 entry count";
      this.#count = n.value;
    }
    return null;
  }

  /** True once the count and all 2·count numbers have arrived. */
  get complete(): boolean {
    return this.#count >= 0 && this.#newlines >= 1 + 2 * this.#count;
  }

  parse(): SparseEntry[] | null {
    return parsePairs(this.#tokens().slice(1), this.#count);
  }

  #tokens(): Uint8Array[] {
    const all = new Uint8Array(this.bytes);
    this.#blocks.forEach((b, i) => all.set(b, i * 512));
    return split(all, 0x0a);
  }
}

/** Entries of an old GNU map from `count` 24-byte slots at `b[off..]`; stops at an empty slot. */
export function oldGnuEntries(b: Uint8Array, off: number, count: number, into: SparseEntry[]): boolean {
  for (let i = 0; i < count; i++) {
    const at = off + 24 * i;
    if (b[at] === 0) break;
    const offset = parseNumeric(b, at, at + 12);
    const length = parseNumeric(b, at + 12, at + 24);
    if (!offset.ok || !length.ok) return false;
    into.push({ offset: offset.value, length: length.value });
  }
  return true;
}

/** Go `validateSparseEntries`: non-negative, in order, not overlapping, within `size`. */
export function validSparseEntries(entries: SparseEntry[], size: number): boolean {
  if (size < 0) return false;
  let preEnd = 0;
  for (const e of entries) {
    if (e.offset < 0 || e.length < 0) return false;
    const end = e.offset + e.length;
    if (end > size || preEnd > e.offset) return false;
    preEnd = end;
  }
  return true;
}
