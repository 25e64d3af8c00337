/**
 * Canonical-Huffman decode tables (RFC 1951 §3.2.2) with one packed u32 per
 * entry, indexed by the next bits of the stream (LSB first, so codes are
 * stored bit-reversed). A root table of 2^root entries resolves every code
 * of at most `root` bits in one lookup; a longer code's root entry points at
 * a subtable of 2^(maxLen − root) entries indexed by the following bits.
 *
 * Entry layout (shared by litlen, distance and code-length tables):
 *
 *   31            16 15  14  13  12 11     8 7    5 4      0
 *  +----------------+---+---+---+---+--------+------+--------+
 *  |     value      |LIT|EXC|SUB|EOB| cwlen  |  0   | total  |
 *  +----------------+---+---+---+---+--------+------+--------+
 *
 *   value  literal byte | length base 3..258 | distance base 1..24577 |
 *          code-length symbol 0..18 | subtable start index (SUB)
 *   LIT    literal: emit `value`
 *   EXC    not a plain length/distance: EOB, subtable pointer or invalid
 *   SUB    (with EXC) subtable pointer: drop `total` (= root) bits, then
 *          index the subtable with the next `cwlen` bits
 *   EOB    (with EXC) end of block
 *   cwlen  codeword bits (in a subtable: bits beyond the root)
 *   total  cwlen + extra bits; the symbol's full bit cost, so
 *          `value + (bits & mask(total)) >> cwlen` is length/distance
 *   An invalid entry is EXC alone with cwlen = total = its code length (1
 *   for the unused half of an incomplete one-code table): that many bits
 *   must be present before the error is certain.
 *
 * Acceptance follows zlib's inflate_table(): over-subscribed sets are
 * rejected; incomplete sets only when the longest code has 1 bit (a lone
 * code) or no code exists, and never for the code-length code.
 */
import { MAX_CODE_BITS, SORTED } from "./memory";

export const E_LIT: u32 = 1 << 15;
export const E_EXC: u32 = 1 << 14;
export const E_SUB: u32 = 1 << 13;
export const E_EOB: u32 = 1 << 12;
export const E_INVALID_1BIT: u32 = E_EXC | (1 << 8) | 1;

export const KIND_LITLEN: i32 = 0;
export const KIND_DIST: i32 = 1;
export const KIND_PRECODE: i32 = 2;

export const BUILD_OK: i32 = 0;
export const BUILD_OVERSUBSCRIBED: i32 = 1;
export const BUILD_INCOMPLETE: i32 = 2;

// RFC 1951 §3.2.5 base values and extra-bit counts.
const LENGTH_BASE = memory.data<u16>([3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258]);
const LENGTH_EXTRA = memory.data<u8>([0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]);
const DIST_BASE = memory.data<u16>([1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577]);
const DIST_EXTRA = memory.data<u8>([0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13]);

const COUNTS = memory.data(32); // u16 per code length 0..15
const OFFSETS = memory.data(34); // u16 per code length 0..16

/** Entry bits for `sym` without the length fields; extra-bit count in the low 5 bits. */
function symbolEntry(kind: i32, sym: u32): u32 {
  if (kind == KIND_LITLEN) {
    if (sym < 256) return E_LIT | (sym << 16);
    if (sym == 256) return E_EXC | E_EOB;
    if (sym < 286) {
      const i = <usize>(sym - 257);
      return (<u32>load<u16>(LENGTH_BASE + (i << 1)) << 16) | load<u8>(LENGTH_EXTRA + i);
    }
    return E_EXC;
  }
  if (kind == KIND_DIST) {
    if (sym < 30) return (<u32>load<u16>(DIST_BASE + (<usize>sym << 1)) << 16) | load<u8>(DIST_EXTRA + <usize>sym);
    return E_EXC;
  }
  return sym << 16;
}

/** The low `len` (1..15) bits of `code` in reverse order (a 16-bit swap network, then a shift). */
@inline function reverseBits(code: u32, len: u32): u32 {
  let r = ((code & 0x5555) << 1) | ((code >> 1) & 0x5555);
  r = ((r & 0x3333) << 2) | ((r >> 2) & 0x3333);
  r = ((r & 0x0f0f) << 4) | ((r >> 4) & 0x0f0f);
  r = ((r & 0x00ff) << 8) | ((r >> 8) & 0x00ff);
  return r >> (16 - len);
}

@inline function countOf(len: u32): u32 {
  return load<u16>(COUNTS + (<usize>len << 1));
}

/**
 * Builds the table for `n` code lengths (u8 each at `lens`) into `table` with
 * a 2^root root. Returns BUILD_OK, BUILD_OVERSUBSCRIBED or BUILD_INCOMPLETE.
 */
export function buildTable(kind: i32, lens: usize, n: u32, table: usize, root: u32): i32 {
  memory.fill(COUNTS, 0, 32);
  for (let s: u32 = 0; s < n; s++) {
    const p = COUNTS + (<usize>load<u8>(lens + s) << 1);
    store<u16>(p, load<u16>(p) + 1);
  }
  let maxLen = MAX_CODE_BITS;
  while (maxLen > 0 && countOf(maxLen) == 0) maxLen--;
  let left: i32 = 1;
  for (let l: u32 = 1; l <= MAX_CODE_BITS; l++) {
    left = (left << 1) - <i32>countOf(l);
    if (left < 0) return BUILD_OVERSUBSCRIBED;
  }
  const rootSize: u32 = 1 << root;
  if (left > 0) {
    if (kind == KIND_PRECODE || maxLen > 1) return BUILD_INCOMPLETE;
    for (let j: u32 = 0; j < rootSize; j++) store<u32>(table + (<usize>j << 2), E_INVALID_1BIT);
    if (maxLen == 0) return BUILD_OK;
  }
  sortSymbols(lens, n);
  fillEntries(kind, table, root, maxLen);
  return BUILD_OK;
}

/** Writes the symbols with a code into SORTED (u16) in canonical order: by length, then symbol. */
function sortSymbols(lens: usize, n: u32): void {
  store<u16>(OFFSETS + 2, 0);
  for (let l: u32 = 1; l < MAX_CODE_BITS; l++) {
    store<u16>(OFFSETS + (<usize>(l + 1) << 1), load<u16>(OFFSETS + (<usize>l << 1)) + countOf(l));
  }
  for (let s: u32 = 0; s < n; s++) {
    const l = <usize>load<u8>(lens + s);
    if (l == 0) continue;
    const p = OFFSETS + (l << 1);
    const at = load<u16>(p);
    store<u16>(SORTED + (<usize>at << 1), <u16>s);
    store<u16>(p, at + 1);
  }
}

function fillEntries(kind: i32, table: usize, root: u32, maxLen: u32): void {
  const rootSize: u32 = 1 << root;
  const subBits: u32 = maxLen > root ? maxLen - root : 0;
  let nextSub: u32 = rootSize;
  let subStart: u32 = 0;
  let prefix: i32 = -1;
  let code: u32 = 0;
  let idx: usize = 0;
  // Root entries by doubling: before the codes of length l are stored, the
  // prefix of 2^(l-1) entries (all shorter codes, replicated) is copied
  // after itself, so each code ≤ root is stored once, at its reversed code.
  // Slots of longer codes hold copies of not-yet-written entries until
  // those codes are stored (a prefix-free code never shares a slot).
  let size: usize = 1;
  for (let l: u32 = 1; l <= maxLen; l++) {
    if (l <= root) {
      memory.copy(table + (size << 2), table, size << 2);
      size <<= 1;
    }
    const cnt = countOf(l);
    for (let k: u32 = 0; k < cnt; k++) {
      const se = symbolEntry(kind, load<u16>(SORTED + (idx << 1)));
      idx++;
      const extra = se & 31;
      const base = se & ~31;
      const rev = reverseBits(code, l);
      code++;
      if (l <= root) {
        store<u32>(table + (<usize>rev << 2), base | (l << 8) | (l + extra));
        continue;
      }
      const p = <i32>(rev & (rootSize - 1));
      if (p != prefix) {
        prefix = p;
        subStart = nextSub;
        nextSub += 1 << subBits;
        store<u32>(table + (<usize>p << 2), (subStart << 16) | E_EXC | E_SUB | (subBits << 8) | root);
      }
      const sl = l - root;
      const e = base | (sl << 8) | (sl + extra);
      for (let j = rev >> root; j < <u32>(1 << subBits); j += 1 << sl) {
        store<u32>(table + (<usize>(subStart + j) << 2), e);
      }
    }
    code <<= 1;
  }
  while (size < <usize>rootSize) {
    memory.copy(table + (size << 2), table, size << 2);
    size <<= 1;
  }
}
