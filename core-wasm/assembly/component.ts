/**
 * Entry of the component build (core-wasm/wit/core.wit, world `core`): the
 * canonical-ABI face of the same kernel that index.ts exposes to the binding.
 * scripts/build_component.mjs compiles this file instead of index.ts, renames
 * the `inflate_*` exports to their WIT names and wraps the module with jco.
 * The CLI and snapshotter never load it; they use index.ts via
 * core-wasm/src/wasm/.
 *
 * What differs from index.ts, and why (STYLE §6 is the plain module's ABI):
 *  - Lists cross the boundary, so the host allocates through `cabi_realloc`
 *    in a bump arena above LAYOUT_END; memory may grow (the plain module's
 *    cannot). The arena is reset when a call is done with it: at the end of
 *    crc32 (scalar result), in gunzip's post-return (the host has copied the
 *    result out by then).
 *  - gunzip returns `result<list<u8>, string>`, which flattens to three
 *    values, so per the canonical ABI it returns a pointer to a return area:
 *
 *      offset 0  u8   discriminant: 0 = ok, 1 = err
 *      offset 4  u32  pointer of the output bytes | UTF-8 message
 *      offset 8  u32  length
 *
 * Decoding is the kernel's: each member is fed to index.ts `inflate()` in
 * IN_CAP chunks copied into the input arena, and each call's output is
 * appended to the result list. Only gzip member framing (RFC 1952 §2.3, the
 * same rules as core-wasm/src/gzip/_header.ts and GzipIndexer's default
 * policy) is written here. Not here: checkpoints, spans, streaming input.
 */
import { beginMember, consumed, crc32 as kernelCrc32, crcValue, inflate, init, outputEnd, outputStart, resetStream } from "./index";
import { IN_BASE, IN_CAP, LAYOUT_END } from "./memory";
import * as St from "./status";

const ARENA_BASE: usize = (LAYOUT_END + 15) & ~15;
let arenaTop: usize = ARENA_BASE;
let ready = false;

const RET_AREA = memory.data(12, 4);

// gzip header flag bits (RFC 1952 §2.3.1).
const FHCRC: u32 = 2;
const FEXTRA: u32 = 4;
const FNAME: u32 = 8;
const FCOMMENT: u32 = 16;
const FRESERVED: u32 = 0xe0;

// Framing errors; kernel errors keep their negative status codes (status.ts).
const E_EMPTY: i32 = -100;
const E_MAGIC: i32 = -101;
const E_METHOD: i32 = -102;
const E_FLAGS: i32 = -103;
const E_HCRC: i32 = -104;
const E_TRUNC_HEADER: i32 = -105;
const E_TRUNC_DEFLATE: i32 = -106;
const E_TRUNC_TRAILER: i32 = -107;
const E_CRC: i32 = -108;
const E_ISIZE: i32 = -109;
const E_GARBAGE: i32 = -110;
const E_NO_MEMORY: i32 = -111;

/** Makes [0, end) addressable; false if memory cannot grow that far. */
function ensure(end: usize): bool {
  const have = <usize>memory.size() << 16;
  if (end <= have) return true;
  return memory.grow(<i32>((end - have + 0xffff) >>> 16)) >= 0;
}

/** Canonical ABI allocator: a bump arena; a realloc of the newest block grows it in place. */
export function cabi_realloc(oldPtr: usize, oldSize: usize, align: usize, newSize: usize): usize {
  if (oldPtr != 0 && oldPtr + oldSize == arenaTop) {
    if (newSize > 0xffff_fff0 - oldPtr || !ensure(oldPtr + newSize)) unreachable();
    arenaTop = oldPtr + newSize;
    return oldPtr;
  }
  const p = (arenaTop + align - 1) & ~(align - 1);
  if (newSize > 0xffff_fff0 - p || !ensure(p + newSize)) unreachable();
  if (oldPtr != 0) memory.copy(p, oldPtr, min(oldSize, newSize));
  arenaTop = p + newSize;
  return p;
}

function ensureInit(): void {
  if (ready) return;
  if (init() != 0) unreachable(); // a build bug: static data overlaps the arenas
  ready = true;
}

/** WIT `crc32`: CRC-32 of the list at [ptr, ptr+len). */
export function inflate_crc32(ptr: usize, len: usize): u32 {
  ensureInit();
  const c = kernelCrc32(ptr, <u32>len, 0);
  arenaTop = ARENA_BASE;
  return c;
}

/** WIT `gunzip`: see the module header for the return area. */
export function inflate_gunzip(ptr: usize, len: usize): usize {
  ensureInit();
  const outPtr = arenaTop;
  const st = gunzipInto(ptr, len, outPtr);
  if (st >= 0) {
    store<u8>(RET_AREA, 0);
    store<u32>(RET_AREA, outPtr, 4);
    store<u32>(RET_AREA, <u32>(arenaTop - outPtr), 8);
  } else {
    arenaTop = outPtr; // drop partial output; the message goes in its place
    const msgLen = writeMessage(outPtr, st, errorOffset);
    arenaTop = outPtr + msgLen;
    store<u8>(RET_AREA, 1);
    store<u32>(RET_AREA, outPtr, 4);
    store<u32>(RET_AREA, <u32>msgLen, 8);
  }
  return RET_AREA;
}

/** Post-return of `gunzip`: the host has copied the result, so the arena is free. */
export function cabi_post_inflate_gunzip(retPtr: usize): void {
  arenaTop = ARENA_BASE;
}

/** Compressed offset of the last error. */
let errorOffset: usize = 0;

/**
 * Decodes every member of [data, data+len) onto the arena at `out` (arenaTop
 * follows the output). Returns 0, or a negative code with errorOffset set.
 */
function gunzipInto(data: usize, len: usize, out: usize): i32 {
  resetStream();
  let pos: usize = 0;
  let members = 0;
  while (true) {
    if (pos == len) {
      if (members > 0) return 0;
      errorOffset = 0;
      return E_EMPTY;
    }
    if (members > 0 && load<u8>(data + pos) == 0) {
      // Zero padding after the last member is tolerated (GzipIndexer's default).
      while (pos < len && load<u8>(data + pos) == 0) pos++;
      if (pos == len) return 0;
      errorOffset = pos;
      return E_GARBAGE;
    }
    const h = headerLength(data + pos, len - pos);
    if (h < 0) {
      errorOffset = pos + headerErrorAt;
      return members > 0 && h == E_MAGIC ? E_GARBAGE : h;
    }
    pos += <usize>h;
    members++;
    beginMember();
    let memberOut: usize = 0;
    while (true) {
      const n = min(len - pos, <usize>IN_CAP);
      memory.copy(IN_BASE, data + pos, n);
      const st = inflate(<u32>n, 0x7fffffff, 0, Infinity);
      const used = <usize>consumed();
      pos += used;
      const o0 = outputStart();
      const produced = outputEnd() - o0;
      if (produced > 0) {
        if (!ensure(arenaTop + produced)) {
          errorOffset = pos;
          return E_NO_MEMORY;
        }
        memory.copy(arenaTop, o0, produced);
        arenaTop += produced;
        memberOut += produced;
      }
      if (st < 0) {
        errorOffset = used > 0 ? pos - 1 : pos;
        return st;
      }
      if (st == St.STREAM_END) break;
      if (st == St.NEED_INPUT && n == len - (pos - used)) {
        errorOffset = pos;
        return E_TRUNC_DEFLATE;
      }
    }
    if (len - pos < 8) {
      errorOffset = pos;
      return E_TRUNC_TRAILER;
    }
    errorOffset = pos;
    if (load<u32>(data + pos) != crcValue()) return E_CRC;
    if (load<u32>(data + pos, 4) != <u32>memberOut) return E_ISIZE;
    pos += 8;
  }
  return 0; // not reached
}

/** Where in the header the last header error is (bytes from the member start). */
let headerErrorAt: usize = 0;

/** Length of the gzip member header at p (avail bytes), or a negative code. */
function headerLength(p: usize, avail: usize): i32 {
  headerErrorAt = 0;
  if (load<u8>(p) != 0x1f) return E_MAGIC;
  headerErrorAt = 1;
  if (avail < 2) return E_TRUNC_HEADER;
  if (load<u8>(p, 1) != 0x8b) return E_MAGIC;
  headerErrorAt = 2;
  if (avail < 3) return E_TRUNC_HEADER;
  if (load<u8>(p, 2) != 8) return E_METHOD;
  headerErrorAt = 3;
  if (avail < 4) return E_TRUNC_HEADER;
  const flg = <u32>load<u8>(p, 3);
  if (flg & FRESERVED) return E_FLAGS;
  headerErrorAt = avail;
  if (avail < 10) return E_TRUNC_HEADER;
  let n: usize = 10;
  if (flg & FEXTRA) {
    if (avail < n + 2) return E_TRUNC_HEADER;
    n += 2 + <usize>load<u16>(p + n);
  }
  if (flg & FNAME) {
    while (n < avail && load<u8>(p + n) != 0) n++;
    if (n >= avail) return E_TRUNC_HEADER;
    n++;
  }
  if (flg & FCOMMENT) {
    while (n < avail && load<u8>(p + n) != 0) n++;
    if (n >= avail) return E_TRUNC_HEADER;
    n++;
  }
  if (flg & FHCRC) {
    if (avail < n + 2) return E_TRUNC_HEADER;
    headerErrorAt = n;
    if ((kernelCrc32(p, <u32>n, 0) & 0xffff) != <u32>load<u16>(p + n)) return E_HCRC;
    n += 2;
  }
  if (n > avail) return E_TRUNC_HEADER;
  return <i32>n;
}

/** Reason text; kernel codes mirror core-wasm/src/wasm/status.ts ERROR_TEXT. */
function reason(code: i32): string {
  switch (code) {
    case St.ERR_BLOCK_TYPE: return "invalid deflate block type 3";
    case St.ERR_STORED_LENGTH: return "stored block length does not match its complement";
    case St.ERR_TOO_MANY_CODES: return "too many literal/length or distance codes";
    case St.ERR_CODE_LENGTHS_CODE: return "invalid code-length code (over-subscribed or incomplete)";
    case St.ERR_LENGTH_REPEAT: return "invalid code-length repeat";
    case St.ERR_MISSING_EOB: return "literal/length code has no end-of-block symbol";
    case St.ERR_LITLEN_CODE: return "invalid literal/length code lengths (over-subscribed or incomplete)";
    case St.ERR_DIST_CODE: return "invalid distance code lengths (over-subscribed or incomplete)";
    case St.ERR_LITLEN_SYMBOL: return "invalid literal/length symbol";
    case St.ERR_DIST_SYMBOL: return "invalid distance symbol";
    case St.ERR_DISTANCE_TOO_FAR: return "distance reaches before the start of the available history";
    case E_EMPTY: return "the input is empty";
    case E_MAGIC: return "bad gzip magic bytes";
    case E_METHOD: return "unknown compression method";
    case E_FLAGS: return "reserved gzip header flag bits set";
    case E_HCRC: return "gzip header CRC16 does not match";
    case E_TRUNC_HEADER: return "the input ends inside a gzip header";
    case E_TRUNC_DEFLATE: return "the input ends inside a deflate stream";
    case E_TRUNC_TRAILER: return "the input ends inside a gzip trailer";
    case E_CRC: return "member CRC-32 does not match its trailer";
    case E_ISIZE: return "member size does not match its trailer ISIZE";
    case E_GARBAGE: return "non-zero bytes after the last member are not a gzip member";
    case E_NO_MEMORY: return "the output does not fit in the component's memory";
  }
  return "unknown error";
}

/** Writes `Cannot inflate gzip data: <reason> (compressed offset <n>)` as ASCII at p; returns its length. */
function writeMessage(p: usize, code: i32, offset: usize): usize {
  let n = writeAscii(p, "Cannot inflate gzip data: ");
  n += writeAscii(p + n, reason(code));
  n += writeAscii(p + n, " (compressed offset ");
  n += writeDecimal(p + n, offset);
  n += writeAscii(p + n, ")");
  return n;
}

/** Narrows an ASCII string literal (UTF-16 static data, never allocated) to bytes at p. */
function writeAscii(p: usize, s: string): usize {
  const len = <usize>s.length;
  if (!ensure(p + len)) unreachable();
  const src = changetype<usize>(s);
  for (let i: usize = 0; i < len; i++) store<u8>(p + i, <u8>load<u16>(src + (i << 1)));
  return len;
}

function writeDecimal(p: usize, v: usize): usize {
  let digits: usize = 1;
  for (let t = v; t >= 10; t /= 10) digits++;
  if (!ensure(p + digits)) unreachable();
  for (let i = digits; i > 0; i--) {
    store<u8>(p + i - 1, <u8>(48 + v % 10));
    v /= 10;
  }
  return digits;
}
