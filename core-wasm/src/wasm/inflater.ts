/**
 * `Inflater`: one kernel instance decoding one raw-DEFLATE stream (STYLE §6).
 * The only code that touches `WebAssembly`, exports or `memory.buffer`.
 *
 * Each call copies one chunk (≤ `Inflater.inputCapacity`, 1 MiB) into the
 * input arena with a single `set` and runs the kernel until that input is used
 * up, the output arena is full, a span boundary is due or the stream ends.
 * The counts of the call are then read from fields; unconsumed input bytes
 * must be passed again (at the front of the next chunk). The module is
 * compiled once per process (synchronously: it is a few KiB), instances are
 * cheap and are never shared between streams.
 *
 * CRC-32 of the output: the runtime's native `zlib.crc32` where it has one
 * (Node ≥ 20.15, Bun, Deno: 4–17 GB/s, with carry-less multiply) over each
 * call's output view, else the kernel's slice-by-16 (≈ 2.9 GB/s; WASM has no
 * carry-less multiply). Same values either way.
 */
import zlib from "node:zlib";
import { FormatError } from "../errors.ts";
import { CORE_WASM_BASE64 } from "./_core_wasm_bytes.ts";
import { describeInflateError } from "./status.ts";

/** The kernel's export list (core-wasm/assembly/index.ts). */
interface KernelExports {
  memory: WebAssembly.Memory;
  abiVersion(): number;
  init(): number;
  resetStream(): void;
  beginMember(): void;
  prime(bits: number, value: number): void;
  presetDictionary(): void;
  inflate(inLen: number, maxOut: number, sinceMark: number, limit: number): number;
  inputPtr(): number;
  inputCap(): number;
  consumed(): number;
  bitsLeft(): number;
  outputStart(): number;
  outputEnd(): number;
  windowPtr(): number;
  isFinalBlock(): number;
  crcValue(): number;
  setCrcEnabled(on: number): void;
  crc32(ptr: number, len: number, crc: number): number;
}

const ABI_VERSION = 1;
export const WINDOW_SIZE = 32768;

let compiled: WebAssembly.Module | undefined;

function kernelModule(): WebAssembly.Module {
  if (compiled === undefined) {
    const bin = atob(CORE_WASM_BASE64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    compiled = new WebAssembly.Module(bytes);
  }
  return compiled;
}

/** Options of one `inflate` call. */
export interface InflateCallOptions {
  /** Output produced since the last span mark, before this call (bytes). */
  sinceMark?: number;
  /** Stop at a non-final block boundary when sinceMark + output of this call > limit; −1 = every boundary. Default: never. */
  limit?: number;
  /** Soft cap on output bytes of this call (it may exceed it by < 258). Default: the arena. */
  maxOut?: number;
}

/** The runtime's native CRC-32 (zlib's), or null (then the kernel computes it). */
const nativeCrc32: ((data: Uint8Array, value?: number) => number) | null =
  typeof (zlib as { crc32?: unknown }).crc32 === "function" ? (zlib as unknown as { crc32: (d: Uint8Array, v?: number) => number }).crc32 : null;

export class Inflater {
  /** Largest chunk one `inflate` call accepts. */
  static readonly inputCapacity = 1 << 20;

  readonly #x: KernelExports;
  #mem: Uint8Array;
  #inPtr: number;
  /** With `nativeCrc32`: whether the member CRC is kept, and its value (the kernel's own CRC stays off). */
  #crcOn = true;
  #crc = 0;
  /** Input bytes the last call consumed (a partly used last byte counts). */
  consumed = 0;
  /** Unused high bits of the last consumed byte after the last call (0..7). */
  bitsLeft = 0;

  readonly #native: ((data: Uint8Array, value?: number) => number) | null;

  /**
   * Instantiates a kernel. Throws Error if the embedded module is unusable (a
   * build bug). `kernelCrc` keeps the CRC-32 in the kernel even where the
   * runtime has a native one (tests, measurements).
   */
  constructor(opts: { kernelCrc?: boolean } = {}) {
    this.#native = opts.kernelCrc === true ? null : nativeCrc32;
    const inst = new WebAssembly.Instance(kernelModule(), {});
    this.#x = inst.exports as unknown as KernelExports;
    if (this.#x.abiVersion() !== ABI_VERSION) throw new Error(`core.wasm ABI ${this.#x.abiVersion()}, expected ${ABI_VERSION}`);
    const rc = this.#x.init();
    if (rc !== 0) throw new Error(`core.wasm init failed (${rc})`);
    if (this.#x.inputCap() !== Inflater.inputCapacity) throw new Error("core.wasm input arena size mismatch");
    this.#mem = new Uint8Array(this.#x.memory.buffer);
    this.#inPtr = this.#x.inputPtr();
    if (this.#native !== null) this.#x.setCrcEnabled(0);
  }

  #memory(): Uint8Array {
    // The memory cannot grow (maximum = initial); a detached view means a bug.
    if (this.#mem.buffer !== this.#x.memory.buffer) throw new Error("core.wasm memory grew after init");
    return this.#mem;
  }

  /** Starts a new stream: no output, zero history (windows are zero-padded). */
  resetStream(): void {
    this.#x.resetStream();
    this.#crc = 0;
  }

  /** Starts a raw DEFLATE stream (a gzip member's body) at the current output position. */
  beginMember(): void {
    this.#x.beginMember();
    this.#crc = 0;
  }

  /** zlib inflatePrime: the next `bits` (0..7) stream bits are the low bits of `value`. */
  prime(bits: number, value: number): void {
    if (!(bits >= 0 && bits <= 7)) throw new RangeError(`prime bits ${bits} outside 0..7`);
    this.#x.prime(bits, value);
  }

  /** Presets the 32 KiB history (a checkpoint window) that distances may reach. Call after beginMember. */
  presetDictionary(window: Uint8Array): void {
    if (window.length !== WINDOW_SIZE) throw new RangeError(`dictionary must be ${WINDOW_SIZE} bytes, got ${window.length}`);
    this.#memory().set(window, this.#x.windowPtr());
    this.#x.presetDictionary();
  }

  set crcEnabled(on: boolean) {
    if (this.#native !== null) this.#crcOn = on;
    else this.#x.setCrcEnabled(on ? 1 : 0);
  }

  /** CRC-32 of the member output since beginMember (when enabled). */
  get crc(): number {
    return this.#native !== null ? this.#crc >>> 0 : this.#x.crcValue() >>> 0;
  }

  /** True once the current block is the member's final one. */
  get finalBlock(): boolean {
    return this.#x.isFinalBlock() !== 0;
  }

  /**
   * Decodes from `input` (≤ inputCapacity bytes; only `consumed` of them are
   * used). Returns an InflateStatus code (negative = corrupt data; see
   * `inflateError`). Sets `consumed` and `bitsLeft`; the output is `output()`.
   */
  inflate(input: Uint8Array, opts: InflateCallOptions = {}): number {
    if (input.length > Inflater.inputCapacity) throw new RangeError(`chunk of ${input.length} bytes exceeds ${Inflater.inputCapacity}`);
    this.#memory().set(input, this.#inPtr);
    const st = this.#x.inflate(input.length, Math.min(opts.maxOut ?? 0x7fffffff, 0x7fffffff), opts.sinceMark ?? 0, opts.limit ?? Infinity);
    this.consumed = this.#x.consumed();
    this.bitsLeft = this.#x.bitsLeft();
    if (this.#native !== null && this.#crcOn) this.#crc = this.#native(this.output(), this.#crc);
    return st;
  }

  /** Output of the last call. The view is valid until the next call on this instance. */
  output(): Uint8Array {
    return this.#memory().subarray(this.#x.outputStart(), this.#x.outputEnd());
  }

  /** The 32768 bytes before the output position (zero-padded). Valid until the next call. */
  window(): Uint8Array {
    const p = this.#x.windowPtr();
    return this.#memory().subarray(p, p + WINDOW_SIZE);
  }

  /** CRC-32 of `bytes` continuing `crc` (uses the input arena; no stream state changes). */
  crc32(bytes: Uint8Array, crc = 0): number {
    if (this.#native !== null) return this.#native(bytes, crc) >>> 0;
    const mem = this.#memory();
    for (let off = 0; off < bytes.length; off += Inflater.inputCapacity) {
      const part = bytes.subarray(off, off + Inflater.inputCapacity);
      mem.set(part, this.#inPtr);
      crc = this.#x.crc32(this.#inPtr, part.length, crc) >>> 0;
    }
    return crc >>> 0;
  }
}

/**
 * The FormatError for a negative kernel status at `compressedOffset` of
 * `source`: `Cannot inflate <what>: <reason>`.
 */
export function inflateError(status: number, compressedOffset: number, source?: string, what = "gzip data"): FormatError {
  return new FormatError(
    `Cannot inflate ${what}: ${describeInflateError(status)}`,
    { source, compressedOffset },
    { hint: "The compressed data is corrupt; fetch the blob again or rebuild it" },
  );
}
