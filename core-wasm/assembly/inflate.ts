/**
 * The block-level state machine of raw DEFLATE (RFC 1951): block headers,
 * stored copies and the careful (tail) Huffman loop; the fast loop lives in
 * decode_loop.ts.
 *
 * Resumption without per-bit states: every unit that must be read whole (a
 * block header incl. the dynamic code lengths, a stored LEN/NLEN, one
 * literal/length symbol with its distance) saves (inPos, bitBuf, bitCnt)
 * first and restores it when the input ends inside the unit, returning
 * NEED_INPUT; the binding then re-supplies the unconsumed bytes with more
 * behind them. Output is only written for whole units, and a unit starts only
 * with 258 bytes of room, so no partial match is ever pending.
 *
 * Stops (formats §4.4, zlib Z_BLOCK): after each block, the final one ends the
 * stream (STREAM_END, rest of the byte dropped, like zlib's BYTEBITS); a
 * non-final one returns BOUNDARY when output-since-mark > limit.
 */
import * as S from "./state";
import { MODE_DONE, MODE_HEADER, MODE_HUFFMAN, MODE_STORED } from "./state";
import * as St from "./status";
import {
  buildTable, BUILD_OK, E_EOB, E_EXC, E_LIT, E_SUB, KIND_DIST, KIND_LITLEN, KIND_PRECODE,
} from "./huffman";
import {
  DIST_ROOT_BITS, DYN_DIST, DYN_LITLEN, FIXED_DIST, FIXED_LITLEN, LENS, LITLEN_ROOT_BITS,
  PRECODE_ROOT_BITS, PRECODE_TABLE,
} from "./memory";
import { fastLoop } from "./decode_loop";

const MAX_MATCH: usize = 258;
// Order in which code-length code lengths are sent (RFC 1951 §3.2.7).
const PRECODE_ORDER = memory.data<u8>([16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]);

@inline function refillCareful(): void {
  while (S.bitCnt <= 56 && S.inPos < S.inEnd) {
    S.bitBuf |= (<u64>load<u8>(S.inPos)) << S.bitCnt;
    S.inPos++;
    S.bitCnt += 8;
  }
}

@inline function need(n: u32): bool {
  if (S.bitCnt < n) refillCareful();
  return S.bitCnt >= n;
}

/** The next n (≤ 31) bits, LSB first. */
@inline function peek(n: u32): u32 {
  return <u32>S.bitBuf & ((1 << n) - 1);
}

@inline function drop(n: u32): void {
  S.bitBuf >>= n;
  S.bitCnt -= n;
}

/** Builds the fixed-Huffman tables (RFC 1951 §3.2.6); called once by `init`. */
export function buildFixedTables(): void {
  for (let s: usize = 0; s < 288; s++) store<u8>(LENS + s, s < 144 ? 8 : s < 256 ? 9 : s < 280 ? 7 : 8);
  buildTable(KIND_LITLEN, LENS, 288, FIXED_LITLEN, LITLEN_ROOT_BITS);
  for (let s: usize = 0; s < 32; s++) store<u8>(LENS + s, 5);
  buildTable(KIND_DIST, LENS, 32, FIXED_DIST, DIST_ROOT_BITS);
}

/** Runs blocks until a stop; see the module header. */
export function run(sinceMark: f64, limit: f64): i32 {
  while (true) {
    let st: i32;
    const m = S.mode;
    if (m == MODE_HUFFMAN) st = decodeHuffman();
    else if (m == MODE_HEADER) st = readBlockHeader();
    else if (m == MODE_STORED) st = copyStored();
    else return St.STREAM_END;
    if (st == St.CONTINUE) continue;
    if (st != St.BLOCK_END) return st;
    S.mode = MODE_HEADER;
    if (S.finalBlock) {
      drop(S.bitCnt & 7);
      S.mode = MODE_DONE;
      return St.STREAM_END;
    }
    if (<f64>(S.outPos - S.outStart) + sinceMark > limit) return St.BOUNDARY;
  }
}

function readBlockHeader(): i32 {
  const savedPos = S.inPos;
  const savedBuf = S.bitBuf;
  const savedCnt = S.bitCnt;
  if (!need(3)) return St.NEED_INPUT;
  const isFinal = (S.bitBuf & 1) != 0;
  const type = peek(3) >> 1;
  drop(3);
  let st: i32 = St.CONTINUE;
  if (type == 0) st = readStoredHeader();
  else if (type == 1) {
    S.litTable = FIXED_LITLEN;
    S.distTable = FIXED_DIST;
    S.mode = MODE_HUFFMAN;
  } else if (type == 2) st = readDynamicHeader();
  else return St.ERR_BLOCK_TYPE;
  if (st == St.NEED_INPUT) {
    S.inPos = savedPos;
    S.bitBuf = savedBuf;
    S.bitCnt = savedCnt;
  } else if (st == St.CONTINUE) S.finalBlock = isFinal;
  return st;
}

function readStoredHeader(): i32 {
  drop(S.bitCnt & 7);
  if (!need(32)) return St.NEED_INPUT;
  const len = <u32>S.bitBuf & 0xffff;
  const nlen = <u32>(S.bitBuf >> 16) & 0xffff;
  drop(32);
  if (len != (~nlen & 0xffff)) return St.ERR_STORED_LENGTH;
  // Byte-aligned now: hand whole buffered bytes back so the copy reads them.
  S.inPos -= S.bitCnt >> 3;
  S.bitBuf = 0;
  S.bitCnt = 0;
  S.storedLeft = len;
  S.mode = MODE_STORED;
  return St.CONTINUE;
}

function copyStored(): i32 {
  let n = <usize>S.storedLeft;
  const inAvail = S.inEnd - S.inPos;
  const outRoom = S.outEnd - S.outPos;
  if (inAvail < n) n = inAvail;
  if (outRoom < n) n = outRoom;
  memory.copy(S.outPos, S.inPos, n);
  S.outPos += n;
  S.inPos += n;
  S.storedLeft -= <u32>n;
  if (S.storedLeft == 0) return St.BLOCK_END;
  return S.inPos == S.inEnd ? St.NEED_INPUT : St.OUTPUT_FULL;
}

function readDynamicHeader(): i32 {
  if (!need(14)) return St.NEED_INPUT;
  const nlen = peek(5) + 257;
  const ndist = (peek(10) >> 5) + 1;
  const ncode = (peek(14) >> 10) + 4;
  drop(14);
  if (nlen > 286 || ndist > 30) return St.ERR_TOO_MANY_CODES;
  memory.fill(LENS, 0, 19);
  for (let i: u32 = 0; i < ncode; i++) {
    if (!need(3)) return St.NEED_INPUT;
    store<u8>(LENS + load<u8>(PRECODE_ORDER + i), peek(3));
    drop(3);
  }
  if (buildTable(KIND_PRECODE, LENS, 19, PRECODE_TABLE, PRECODE_ROOT_BITS) != BUILD_OK) return St.ERR_CODE_LENGTHS_CODE;
  const st = readCodeLengths(nlen + ndist);
  if (st != St.CONTINUE) return st;
  if (load<u8>(LENS + 256) == 0) return St.ERR_MISSING_EOB;
  if (buildTable(KIND_LITLEN, LENS, nlen, DYN_LITLEN, LITLEN_ROOT_BITS) != BUILD_OK) return St.ERR_LITLEN_CODE;
  if (buildTable(KIND_DIST, LENS + nlen, ndist, DYN_DIST, DIST_ROOT_BITS) != BUILD_OK) return St.ERR_DIST_CODE;
  S.litTable = DYN_LITLEN;
  S.distTable = DYN_DIST;
  S.mode = MODE_HUFFMAN;
  return St.CONTINUE;
}

/** Decodes `total` litlen+distance code lengths into LENS with the code-length code. */
function readCodeLengths(total: u32): i32 {
  let i: u32 = 0;
  while (i < total) {
    refillCareful();
    const e = load<u32>(PRECODE_TABLE + (<usize>peek(PRECODE_ROOT_BITS) << 2));
    const len = e & 31;
    if (len > S.bitCnt) return St.NEED_INPUT;
    drop(len);
    const sym = e >> 16;
    if (sym < 16) {
      store<u8>(LENS + i, sym);
      i++;
      continue;
    }
    let rep: u32;
    let value: u32 = 0;
    if (sym == 16) {
      if (i == 0) return St.ERR_LENGTH_REPEAT;
      if (!need(2)) return St.NEED_INPUT;
      rep = 3 + peek(2);
      drop(2);
      value = load<u8>(LENS + i - 1);
    } else if (sym == 17) {
      if (!need(3)) return St.NEED_INPUT;
      rep = 3 + peek(3);
      drop(3);
    } else {
      if (!need(7)) return St.NEED_INPUT;
      rep = 11 + peek(7);
      drop(7);
    }
    if (i + rep > total) return St.ERR_LENGTH_REPEAT;
    memory.fill(LENS + i, <u8>value, rep);
    i += rep;
  }
  return St.CONTINUE;
}

function decodeHuffman(): i32 {
  const st = fastLoop();
  if (st != St.CONTINUE) return st;
  return carefulLoop();
}

/** Looks up the entry for the next code in `table`; sets `lookupBits` to the bits it spans before `total`. */
let lookupBits: u32 = 0;
@inline function lookup(table: usize, root: u32): u32 {
  let e = load<u32>(table + (<usize>peek(root) << 2));
  lookupBits = 0;
  if ((e & (E_EXC | E_SUB)) == (E_EXC | E_SUB)) {
    lookupBits = e & 31;
    const sub = <u32>(S.bitBuf >> lookupBits) & ((1 << ((e >> 8) & 15)) - 1);
    e = load<u32>(table + (<usize>((e >> 16) + sub) << 2));
  }
  return e;
}

/** Value of a length/distance entry: base + extra bits (after `pre` root bits). */
@inline function entryValue(e: u32, pre: u32): u32 {
  const bits = <u32>(S.bitBuf >> pre);
  return (e >> 16) + ((bits & ((1 << (e & 31)) - 1)) >> ((e >> 8) & 15));
}

/** One symbol (with its distance) at a time, exact copies; for the last bytes of input or output. */
function carefulLoop(): i32 {
  while (true) {
    const savedPos = S.inPos;
    const savedBuf = S.bitBuf;
    const savedCnt = S.bitCnt;
    if (S.outEnd - S.outPos < MAX_MATCH) return St.OUTPUT_FULL;
    refillCareful();
    const e = lookup(S.litTable, LITLEN_ROOT_BITS);
    const pre = lookupBits;
    const cost = pre + (e & 31);
    if (cost > S.bitCnt) return restoreUnit(savedPos, savedBuf, savedCnt);
    if (e & E_LIT) {
      drop(cost);
      store<u8>(S.outPos, e >> 16);
      S.outPos++;
      continue;
    }
    if (e & E_EXC) {
      if (!(e & E_EOB)) return St.ERR_LITLEN_SYMBOL;
      drop(cost);
      return St.BLOCK_END;
    }
    const len = <usize>entryValue(e, pre);
    drop(cost);
    const d = lookup(S.distTable, DIST_ROOT_BITS);
    const dpre = lookupBits;
    const dcost = dpre + (d & 31);
    if (dcost > S.bitCnt) return restoreUnit(savedPos, savedBuf, savedCnt);
    if (d & E_EXC) return St.ERR_DIST_SYMBOL;
    const dist = <usize>entryValue(d, dpre);
    drop(dcost);
    if (dist > S.outPos - S.validStart) return St.ERR_DISTANCE_TOO_FAR;
    copyExact(S.outPos, dist, len);
    S.outPos += len;
  }
  return St.NEED_INPUT; // not reached
}

/** The input ended inside a unit: undo it and wait for more. */
function restoreUnit(pos: usize, buf: u64, cnt: u32): i32 {
  S.inPos = pos;
  S.bitBuf = buf;
  S.bitCnt = cnt;
  return St.NEED_INPUT;
}

@inline function copyExact(dst: usize, dist: usize, len: usize): void {
  if (dist >= len) {
    memory.copy(dst, dst - dist, len);
    return;
  }
  const end = dst + len;
  while (dst < end) {
    store<u8>(dst, load<u8>(dst - dist));
    dst++;
  }
}
