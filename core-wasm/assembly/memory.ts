/**
 * Linear-memory layout of the inflate kernel (STYLE §6.2).
 *
 * Every arena sits at a fixed address above the compiler's static data and is
 * reserved once: `--initialMemory` in scripts/build_wasm.mjs covers
 * `LAYOUT_END`, `init()` checks that `__heap_base` stays below `LAYOUT_BASE`,
 * and nothing is allocated after that (stub runtime, no `new`).
 *
 *   LAYOUT_BASE
 *   ├─ CRC_TABLES      16 × 256 u32  slice-by-16 CRC-32 tables
 *   ├─ FIXED_LITLEN    LITLEN_ENTRIES u32   fixed-Huffman litlen table (built once)
 *   ├─ FIXED_DIST      DIST_ENTRIES u32     fixed-Huffman distance table (built once)
 *   ├─ DYN_LITLEN      LITLEN_ENTRIES u32   current dynamic block's litlen table
 *   ├─ DYN_DIST        DIST_ENTRIES u32     current dynamic block's distance table
 *   ├─ PRECODE_TABLE   128 u32              code-length code table (7-bit root)
 *   ├─ LENS            320 u8               code lengths being decoded
 *   ├─ SORTED          320 u16              symbols in canonical order (builder scratch)
 *   ├─ IN_BASE         IN_CAP + IN_SLACK    input chunk copied in by the binding
 *   └─ OUT_BASE        HISTORY + OUT_CAP + OUT_SLACK
 *        [OUT_BASE, OUT_BASE+HISTORY) holds the 32 KiB before the first new
 *        byte of a call (zeros at stream start), so a checkpoint window is
 *        always the 32 KiB ending at the output position.
 */

// Coupled constants: table sizes follow from the root widths (see huffman.ts).
export const LITLEN_ROOT_BITS: u32 = 11;
export const DIST_ROOT_BITS: u32 = 8;
export const PRECODE_ROOT_BITS: u32 = 7;
export const MAX_CODE_BITS: u32 = 15;
// Root table + one subtable of 2^(15 - root) entries per possible long code.
export const LITLEN_ENTRIES: u32 = (1 << LITLEN_ROOT_BITS) + 288 * (1 << (MAX_CODE_BITS - LITLEN_ROOT_BITS));
export const DIST_ENTRIES: u32 = (1 << DIST_ROOT_BITS) + 32 * (1 << (MAX_CODE_BITS - DIST_ROOT_BITS));

export const HISTORY: u32 = 32768;
export const IN_CAP: u32 = 1 << 20;
export const IN_SLACK: u32 = 64;
export const OUT_CAP: u32 = 1 << 20;
// The fast loop's match copy may write up to 29 bytes past a match; the
// slack keeps that inside the arena even for the last match before OUT_END.
export const OUT_SLACK: u32 = 512;

export const LAYOUT_BASE: usize = 65536;
export const CRC_TABLES: usize = LAYOUT_BASE;
export const FIXED_LITLEN: usize = CRC_TABLES + 16 * 1024;
export const FIXED_DIST: usize = FIXED_LITLEN + (<usize>LITLEN_ENTRIES << 2);
export const DYN_LITLEN: usize = FIXED_DIST + (<usize>DIST_ENTRIES << 2);
export const DYN_DIST: usize = DYN_LITLEN + (<usize>LITLEN_ENTRIES << 2);
export const PRECODE_TABLE: usize = DYN_DIST + (<usize>DIST_ENTRIES << 2);
export const LENS: usize = PRECODE_TABLE + 128 * 4;
export const SORTED: usize = LENS + 512;
export const IN_BASE: usize = (SORTED + 1024 + 63) & ~63;
export const OUT_BASE: usize = (IN_BASE + IN_CAP + IN_SLACK + 63) & ~63;
export const OUT_HISTORY_END: usize = OUT_BASE + HISTORY;
export const OUT_END: usize = OUT_HISTORY_END + OUT_CAP;
export const LAYOUT_END: usize = OUT_END + OUT_SLACK;
