/**
 * CRC-32 (gzip, reflected polynomial 0xEDB88320) by slice-by-16: sixteen
 * 256-entry tables let one step fold 16 input bytes with 16 independent
 * lookups, which keeps the check well ahead of the inflate loop (WASM has no
 * carry-less multiply for folding). Table k maps a byte to its CRC
 * contribution when followed by k zero bytes.
 */
import { CRC_TABLES } from "./memory";

const POLY: u32 = 0xedb88320;

@inline function tab(k: usize, i: u32): u32 {
  return load<u32>(CRC_TABLES + (k << 10) + (<usize>i << 2));
}

/** Fills the sixteen tables; called once by `init`. */
export function buildCrcTables(): void {
  for (let i: u32 = 0; i < 256; i++) {
    let c = i;
    for (let j = 0; j < 8; j++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    store<u32>(CRC_TABLES + (<usize>i << 2), c);
  }
  for (let k: usize = 1; k < 16; k++) {
    for (let i: u32 = 0; i < 256; i++) {
      const prev = tab(k - 1, i);
      store<u32>(CRC_TABLES + (k << 10) + (<usize>i << 2), (prev >>> 8) ^ tab(0, prev & 255));
    }
  }
}

/** Continues `crc` (a finished CRC-32 value, 0 to start) over [ptr, ptr+len). */
export function crc32Update(crc: u32, ptr: usize, len: usize): u32 {
  let c = ~crc;
  const end = ptr + len;
  while (ptr < end && (ptr & 7) != 0) {
    c = tab(0, (c ^ load<u8>(ptr)) & 255) ^ (c >>> 8);
    ptr++;
  }
  while (end - ptr >= 16) {
    const a = load<u32>(ptr) ^ c;
    const b = load<u32>(ptr, 4);
    const d = load<u32>(ptr, 8);
    const e = load<u32>(ptr, 12);
    c =
      tab(15, a & 255) ^ tab(14, (a >>> 8) & 255) ^ tab(13, (a >>> 16) & 255) ^ tab(12, a >>> 24) ^
      tab(11, b & 255) ^ tab(10, (b >>> 8) & 255) ^ tab(9, (b >>> 16) & 255) ^ tab(8, b >>> 24) ^
      tab(7, d & 255) ^ tab(6, (d >>> 8) & 255) ^ tab(5, (d >>> 16) & 255) ^ tab(4, d >>> 24) ^
      tab(3, e & 255) ^ tab(2, (e >>> 8) & 255) ^ tab(1, (e >>> 16) & 255) ^ tab(0, e >>> 24);
    ptr += 16;
  }
  while (ptr < end) {
    c = tab(0, (c ^ load<u8>(ptr)) & 255) ^ (c >>> 8);
    ptr++;
  }
  return ~c;
}
