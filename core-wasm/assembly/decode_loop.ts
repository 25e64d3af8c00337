/**
 * The fast Huffman decode loop (libdeflate / zlib inflate_fast style). This is
 * the one long function of the kernel (STYLE §5): splitting it would force
 * the bit buffer and pointers out of locals on every symbol.
 *
 * The loop condition proves room, so the body checks no bounds:
 *  - input: ≥ FAST_IN_MARGIN bytes left. One iteration refills at most twice
 *    and a refill reads 8 bytes and advances ≤ 7, so every load stays inside
 *    the copied-in chunk (plus IN_SLACK).
 *  - output: ≥ FAST_OUT_MARGIN bytes of room. An iteration writes either ≤ 4
 *    literals, or one subtable literal, or a match of ≤ 258 bytes whose wide
 *    copy may overrun the match end by ≤ 29 bytes (FAST_OUT_MARGIN has 32).
 *
 * Bit budget after a refill: 56..63 bits. A root literal costs ≤ 11 bits:
 * four are decoded per refill (44 bits), leaving ≥ 12 for the look-ahead
 * lookup, which is carried to the loop top (and refilled under). A length
 * costs ≤ 15 + 5, a distance ≤ 15 + 13; 20 + 28 ≤ 56, so a length and its
 * distance never need a refill between them.
 *
 * Refill (branchless): OR 8 input bytes in above the valid bits, advance by
 * the whole bytes that fit, and set bitCnt to 56 + (bitCnt & 7). Bits above
 * bitCnt then hold the next stream bits, which the next refill ORs in again
 * unchanged (state.ts).
 *
 * Bit count in the low 6 bits only (libdeflate's trick): `bb >>= entry` and
 * `bc -= entry` use the whole entry word, because a 64-bit shift takes its
 * count mod 64 and an entry's low 6 bits are exactly its `total` (bit 5 is
 * 0, huffman.ts); a borrow only reaches bc's bits ≥ 6, which nothing reads:
 * refills shift by bc (mod 64) and advance by (~bc >> 3) & 7 = (63 − bc) >> 3,
 * and the count is masked when saved. Saves two ANDs per symbol.
 *
 * The same holds for `cwlen` (bits 8..11): a 32-bit shift by `e >> 8` takes
 * bits 8..12, and bit 12 (EOB) is 0 in every entry that reaches a length,
 * distance or subtable-index computation, so no `& 15` is needed (−19 M
 * instructions per debian-minbase pass under V8, callgrind).
 */
import * as S from "./state";
import * as St from "./status";
import { E_EOB, E_EXC, E_LIT, E_SUB } from "./huffman";
import { DIST_ROOT_BITS, LITLEN_ROOT_BITS } from "./memory";

const FAST_IN_MARGIN: usize = 32;
const FAST_OUT_MARGIN: usize = 2 + 258 + 32 + 44;
const LIT_MASK: u32 = (1 << LITLEN_ROOT_BITS) - 1;
const DIST_MASK: u32 = (1 << DIST_ROOT_BITS) - 1;

/** Decodes while the margins hold. Returns CONTINUE (margins gone), BLOCK_END or an error. */
export function fastLoop(): i32 {
  let ip = S.inPos;
  let bb = S.bitBuf;
  let bc = <u64>S.bitCnt;
  let op = S.outPos;
  const validStart = S.validStart;
  const lit = S.litTable;
  const dist = S.distTable;
  const inLimit = S.inEnd - FAST_IN_MARGIN;
  const outLimit = S.outEnd - FAST_OUT_MARGIN;
  let st = St.CONTINUE;

  // Invariant at the loop top: the buffer was refilled (≥ 56 bits) and `e`
  // is the litlen entry for its low bits.
  if (ip > inLimit || op > outLimit) return St.CONTINUE;
  bb |= load<u64>(ip) << bc;
  ip += <usize>((~bc >> 3) & 7);
  bc |= 56;
  let e = load<u32>(lit + (<usize>(<u32>bb & LIT_MASK) << 2));
  while (ip <= inLimit && op <= outLimit) {
    if (e & E_LIT) {
      // Up to four root literals (≤ 44 bits) per refill; the entry after
      // them is looked up from the ≥ 12 bits left and carried to the top.
      bb >>= <u64>e;
      bc -= <u64>e;
      store<u8>(op, e >> 16);
      e = load<u32>(lit + (<usize>(<u32>bb & LIT_MASK) << 2));
      if (e & E_LIT) {
        bb >>= <u64>e;
        bc -= <u64>e;
        store<u8>(op, e >> 16, 1);
        e = load<u32>(lit + (<usize>(<u32>bb & LIT_MASK) << 2));
        if (e & E_LIT) {
          bb >>= <u64>e;
          bc -= <u64>e;
          store<u8>(op, e >> 16, 2);
          e = load<u32>(lit + (<usize>(<u32>bb & LIT_MASK) << 2));
          if (e & E_LIT) {
            bb >>= <u64>e;
            bc -= <u64>e;
            store<u8>(op, e >> 16, 3);
            e = load<u32>(lit + (<usize>(<u32>bb & LIT_MASK) << 2));
            op += 4;
          } else op += 3;
        } else op += 2;
      } else op += 1;
      bb |= load<u64>(ip) << bc;
      ip += <usize>((~bc >> 3) & 7);
      bc |= 56;
      continue;
    }
    if (e & E_EXC) {
      if (e & E_SUB) {
        bb >>= <u64>e;
        bc -= <u64>e;
        e = load<u32>(lit + (<usize>((e >> 16) + (<u32>bb & ((1 << (e >> 8)) - 1))) << 2));
        if (e & E_LIT) {
          bb >>= <u64>e;
          bc -= <u64>e;
          store<u8>(op, e >> 16);
          op += 1;
          bb |= load<u64>(ip) << bc;
          ip += <usize>((~bc >> 3) & 7);
          bc |= 56;
          e = load<u32>(lit + (<usize>(<u32>bb & LIT_MASK) << 2));
          continue;
        }
      }
      if (e & E_EXC) {
        if (e & E_EOB) {
          bb >>= <u64>e;
          bc -= <u64>e;
          st = St.BLOCK_END;
        } else st = St.ERR_LITLEN_SYMBOL;
        break;
      }
    }
    // Length: base + extra bits above the codeword.
    let total = e & 31;
    const len = <usize>((e >> 16) + ((<u32>bb & ((1 << total) - 1)) >> (e >> 8)));
    bb >>= <u64>e;
    bc -= <u64>e;
    // Distance.
    let d = load<u32>(dist + (<usize>(<u32>bb & DIST_MASK) << 2));
    if (d & E_EXC) {
      if (d & E_SUB) {
        bb >>= <u64>d;
        bc -= <u64>d;
        d = load<u32>(dist + (<usize>((d >> 16) + (<u32>bb & ((1 << (d >> 8)) - 1))) << 2));
      }
      if (d & E_EXC) {
        st = St.ERR_DIST_SYMBOL;
        break;
      }
    }
    total = d & 31;
    const distance = <usize>((d >> 16) + ((<u32>bb & ((1 << total) - 1)) >> (d >> 8)));
    bb >>= <u64>d;
    bc -= <u64>d;
    let src = op - distance;
    if (src < validStart) {
      st = St.ERR_DISTANCE_TOO_FAR;
      break;
    }
    // Refill and look up the next symbol before the copy so they overlap.
    bb |= load<u64>(ip) << bc;
    ip += <usize>((~bc >> 3) & 7);
    bc |= 56;
    e = load<u32>(lit + (<usize>(<u32>bb & LIT_MASK) << 2));
    // Match copy; may write ≤ 29 bytes past the end (covered by the out margin).
    const end = op + len;
    let dst = op;
    if (distance >= 16) {
      // Two words unconditionally: ≈ 97 % of matches are ≤ 32 bytes, so the
      // loop (and its exit branch) runs only for the rest. Sequential
      // stores keep LZ77 semantics for distances 16..31.
      v128.store(dst, v128.load(src));
      v128.store(dst, v128.load(src, 16), 16);
      if (len > 32) {
        dst += 32;
        src += 32;
        do {
          v128.store(dst, v128.load(src));
          dst += 16;
          src += 16;
        } while (dst < end);
      }
    } else if (distance == 1) {
      const v = i8x16.splat(load<u8>(src));
      do {
        v128.store(dst, v);
        dst += 16;
      } while (dst < end);
    } else if (distance >= 8) {
      do {
        store<u64>(dst, load<u64>(src));
        dst += 8;
        src += 8;
      } while (dst < end);
    } else {
      // Period < 8: lay down 8 bytes one by one, then copy 8-byte words from
      // a whole number of periods back (step ≥ 8, and step − distance ≤ 8 so
      // the source was already written).
      for (let i: usize = 0; i < 8; i++) store<u8>(dst + i, load<u8>(src + i));
      const step = distance * ((8 + distance - 1) / distance);
      dst += 8;
      src = dst - step;
      while (dst < end) {
        store<u64>(dst, load<u64>(src));
        dst += 8;
        src += 8;
      }
    }
    op = end;
  }

  S.inPos = ip;
  S.bitBuf = bb;
  S.bitCnt = <u32>bc & 63;
  S.outPos = op;
  return st;
}
