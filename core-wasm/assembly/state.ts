/**
 * The resumable decoder state: the kernel's only mutable globals. Between
 * calls the bit buffer holds fewer than 8 bits (the unused high bits of the
 * last consumed byte) and bits above `bitCnt` are zero. Inside a call, bits
 * above `bitCnt` may also hold the *next* stream bits (the fast loop's
 * branchless refill); OR-ing the same bits again is harmless.
 */
import { IN_BASE, OUT_HISTORY_END } from "./memory";

export const MODE_HEADER: i32 = 0; // at a block start: next comes a block header
export const MODE_STORED: i32 = 1; // inside a stored block, `storedLeft` bytes to copy
export const MODE_HUFFMAN: i32 = 2; // inside a fixed or dynamic Huffman block
export const MODE_DONE: i32 = 3; // the final block has ended

export let inPos: usize = IN_BASE;
export let inEnd: usize = IN_BASE;
export let bitBuf: u64 = 0;
export let bitCnt: u32 = 0;

/** Next output byte; output of this call is [outStart, outPos). */
export let outPos: usize = OUT_HISTORY_END;
export let outStart: usize = OUT_HISTORY_END;
export let outEnd: usize = OUT_HISTORY_END;
/** Oldest byte a distance may reach (member start, or dictionary start). */
export let validStart: usize = OUT_HISTORY_END;

export let mode: i32 = MODE_HEADER;
export let finalBlock: bool = false;
export let storedLeft: u32 = 0;
export let litTable: usize = 0;
export let distTable: usize = 0;

export let crc: u32 = 0;
export let crcEnabled: bool = true;
