/**
 * The kernel's ABI: this export list is everything the binding
 * (core-wasm/src/wasm/) may call. Numbers only (STYLE §6.3); per-call counts,
 * never absolute stream offsets (§6.5). One instance decodes one stream.
 *
 * Lifecycle: init() once → resetStream() per stream → beginMember() before
 * each raw deflate stream (each gzip member; optionally prime()/
 * presetDictionary() for a span) → inflate() repeatedly. After every call the
 * binding reads consumed()/bitsLeft(), the output [outputStart(), outputEnd())
 * and, at a boundary, the 32 KiB window at windowPtr().
 *
 * component.ts is a second entry, compiled separately (the WebAssembly
 * component of core-wasm/wit/): it calls these functions directly and adds
 * nothing to this module's exports.
 */
import * as S from "./state";
import { MODE_HEADER } from "./state";
import { HISTORY, IN_BASE, IN_CAP, LAYOUT_BASE, LAYOUT_END, OUT_BASE, OUT_CAP, OUT_END, OUT_HISTORY_END } from "./memory";
import { buildCrcTables, crc32Update } from "./crc32";
import { buildFixedTables, run } from "./inflate";

const ABI_VERSION: i32 = 1;
const MIN_OUT: usize = 1024;

export function abiVersion(): i32 {
  return ABI_VERSION;
}

/** Builds the constant tables. Returns 0, or 1 if the static data overlaps the arenas, 2 if memory is too small. */
export function init(): i32 {
  if (__heap_base > LAYOUT_BASE) return 1;
  if (<usize>memory.size() << 16 < LAYOUT_END) return 2;
  buildCrcTables();
  buildFixedTables();
  resetStream();
  return 0;
}

/** Starts a new stream: zero history (so windows are zero-padded), no output yet. */
export function resetStream(): void {
  memory.fill(OUT_BASE, 0, HISTORY);
  S.outPos = OUT_HISTORY_END;
  S.outStart = OUT_HISTORY_END;
  beginMember();
}

/** Starts a raw deflate stream at the current output position; distances cannot reach earlier output. */
export function beginMember(): void {
  S.mode = MODE_HEADER;
  S.finalBlock = false;
  S.bitBuf = 0;
  S.bitCnt = 0;
  S.storedLeft = 0;
  S.validStart = S.outPos;
  S.crc = 0;
}

/** zlib inflatePrime: the next `bits` (0..7) stream bits are the low bits of `value`. */
export function prime(bits: u32, value: u32): void {
  S.bitBuf |= (<u64>(value & ((1 << bits) - 1))) << S.bitCnt;
  S.bitCnt += bits;
}

/** The caller wrote a 32 KiB dictionary at windowPtr(); distances may now reach all of it. */
export function presetDictionary(): void {
  S.validStart = S.outPos - HISTORY;
}

/**
 * Decodes up to `inLen` bytes at inputPtr() and at most ~`maxOut` bytes of
 * output (a call may exceed it by < 258). At a non-final block boundary it
 * stops if output-before-this-call `sinceMark` + output-in-this-call > `limit`
 * (−1: every boundary; Infinity: never). Returns a status (status.ts).
 */
export function inflate(inLen: u32, maxOut: u32, sinceMark: f64, limit: f64): i32 {
  if (S.outPos > OUT_HISTORY_END + (OUT_CAP >> 1)) slideHistory();
  S.inPos = IN_BASE;
  S.inEnd = IN_BASE + <usize>min(inLen, IN_CAP);
  S.outStart = S.outPos;
  const cap = max(<usize>maxOut, MIN_OUT);
  S.outEnd = OUT_END - S.outPos < cap ? OUT_END : S.outPos + cap;
  const st = run(sinceMark, limit);
  // Hand back whole buffered bytes: between calls fewer than 8 bits remain.
  S.inPos -= S.bitCnt >> 3;
  S.bitCnt &= 7;
  S.bitBuf &= (<u64>1 << S.bitCnt) - 1;
  if (S.crcEnabled) S.crc = crc32Update(S.crc, S.outStart, S.outPos - S.outStart);
  return st;
}

/** Moves the last 32 KiB of output to the arena start so the next call has room. */
function slideHistory(): void {
  const shift = S.outPos - OUT_HISTORY_END;
  memory.copy(OUT_BASE, S.outPos - HISTORY, HISTORY);
  S.outPos = OUT_HISTORY_END;
  S.outStart = OUT_HISTORY_END;
  S.validStart = S.validStart > OUT_BASE + shift ? S.validStart - shift : OUT_BASE;
}

export function inputPtr(): usize {
  return IN_BASE;
}
export function inputCap(): u32 {
  return IN_CAP;
}
/** Bytes of the last call's input consumed, counting a partly used last byte. */
export function consumed(): u32 {
  return <u32>(S.inPos - IN_BASE);
}
/** Unused high bits of the last consumed byte (0..7). */
export function bitsLeft(): u32 {
  return S.bitCnt;
}
export function outputStart(): usize {
  return S.outStart;
}
export function outputEnd(): usize {
  return S.outPos;
}
/** The 32 KiB ending at the output position (zero-padded at stream start). */
export function windowPtr(): usize {
  return S.outPos - HISTORY;
}
export function isFinalBlock(): i32 {
  return S.finalBlock ? 1 : 0;
}
/** CRC-32 of this member's output so far. */
export function crcValue(): u32 {
  return S.crc;
}
export function setCrcEnabled(on: i32): void {
  S.crcEnabled = on != 0;
}
/** CRC-32 of [ptr, ptr+len) continuing `crc`; for header checks over bytes in the input arena. */
export function crc32(ptr: usize, len: u32, crc: u32): u32 {
  return crc32Update(crc, ptr, len);
}
