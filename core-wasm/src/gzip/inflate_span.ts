/**
 * inflateSpan: decompress part of a span from its checkpoint (formats §6) —
 * raw DEFLATE primed with the checkpoint's `bits` from the first compressed
 * byte and preset with its 32 KiB window. When the member ends and more
 * output is needed, the 8-byte trailer of that member is skipped unchecked
 * (its CRC covers bytes before the span), the next header is parsed and
 * decoding goes on; a member that starts and ends inside the data has its
 * CRC-32/ISIZE verified. Kernel instances are pooled (each used by one call
 * at a time).
 */
import { FormatError } from "../errors.ts";
import { Inflater, inflateError, InflateStatus } from "../wasm/mod.ts";
import { parseGzipHeader } from "./_header.ts";
import { ZINFO_WINDOW_SIZE, type Checkpoint } from "./types.ts";

const pool: Inflater[] = [];
const POOL_MAX = 4;

/**
 * Inflates `length` bytes starting `skip` bytes after checkpoint `cp.out`,
 * from `compressed`, which begins at the span's compressed start (byte
 * `cp.in − 1` when `cp.bits ≠ 0`, else `cp.in`) and may run across member
 * boundaries. Returns a new array of exactly `length` bytes. Throws
 * FormatError (compressedOffset in the blob, derived from the checkpoint) on
 * corrupt data or when the data ends before `skip + length` bytes were
 * produced (upstream would zero-fill; we refuse to serve invented bytes).
 * Throws RangeError for bad arguments.
 */
export function inflateSpan(cp: Checkpoint, compressed: Uint8Array, skip: number, length: number): Uint8Array {
  if (!(Number.isSafeInteger(skip) && skip >= 0 && Number.isSafeInteger(length) && length >= 0)) {
    throw new RangeError(`skip ${skip} and length ${length} must be non-negative integers`);
  }
  if (cp.window.length !== ZINFO_WINDOW_SIZE) throw new RangeError(`checkpoint window is ${cp.window.length} bytes`);
  const result = new Uint8Array(length);
  if (length === 0) return result;
  const inf = pool.pop() ?? new Inflater();
  try {
    new SpanRun(inf, cp, compressed, skip, result).run();
  } finally {
    if (pool.length < POOL_MAX) pool.push(inf);
  }
  return result;
}

class SpanRun {
  readonly #inf: Inflater;
  readonly #data: Uint8Array;
  readonly #base: number; // compressed offset of data[0]
  readonly #out: Uint8Array;
  #pos = 0;
  #skip: number;
  #got = 0;
  #firstMember = true;
  #memberOut = 0;

  constructor(inf: Inflater, cp: Checkpoint, data: Uint8Array, skip: number, out: Uint8Array) {
    this.#inf = inf;
    this.#data = data;
    this.#base = cp.bits !== 0 ? cp.in - 1 : cp.in;
    this.#out = out;
    this.#skip = skip;
    inf.resetStream();
    inf.beginMember();
    inf.crcEnabled = false;
    if (cp.bits !== 0) {
      if (data.length === 0) throw this.#short();
      inf.prime(cp.bits, data[0] >> (8 - cp.bits));
      this.#pos = 1;
    }
    inf.presetDictionary(cp.window);
  }

  run(): void {
    const inf = this.#inf;
    while (this.#got < this.#out.length) {
      const avail = this.#data.length - this.#pos;
      const n = Math.min(avail, Inflater.inputCapacity);
      const want = this.#skip + (this.#out.length - this.#got);
      const st = inf.inflate(this.#data.subarray(this.#pos, this.#pos + n), { maxOut: want });
      this.#pos += inf.consumed;
      this.#take(inf.output());
      if (st < 0) throw inflateError(st, this.#base + this.#pos - (inf.consumed > 0 ? 1 : 0), undefined, "span");
      if (st === InflateStatus.STREAM_END) {
        if (this.#got < this.#out.length && !this.#nextMember()) throw this.#short();
      } else if (st === InflateStatus.NEED_INPUT && n === avail && this.#got < this.#out.length) {
        throw this.#short();
      }
    }
  }

  #take(chunk: Uint8Array): void {
    this.#memberOut += chunk.length;
    let c = chunk;
    if (this.#skip > 0) {
      const s = Math.min(this.#skip, c.length);
      this.#skip -= s;
      c = c.subarray(s);
    }
    const room = this.#out.length - this.#got;
    if (c.length > room) c = c.subarray(0, room);
    this.#out.set(c, this.#got);
    this.#got += c.length;
  }

  /** After a member's final block: trailer, then the next header. False if the data ends first. */
  #nextMember(): boolean {
    const d = this.#data;
    if (d.length - this.#pos < 8) return false;
    if (!this.#firstMember) this.#checkTrailer();
    this.#pos += 8;
    const n = parseGzipHeader(d, this.#pos, this.#base + this.#pos, undefined, (b) => this.#inf.crc32(b));
    if (n < 0) return false;
    this.#pos += n;
    this.#firstMember = false;
    this.#memberOut = 0;
    this.#inf.beginMember();
    this.#inf.crcEnabled = true;
    return true;
  }

  #checkTrailer(): void {
    const d = this.#data;
    const p = this.#pos;
    const crc = (d[p] | (d[p + 1] << 8) | (d[p + 2] << 16) | (d[p + 3] << 24)) >>> 0;
    const isize = (d[p + 4] | (d[p + 5] << 8) | (d[p + 6] << 16) | (d[p + 7] << 24)) >>> 0;
    if (crc !== this.#inf.crc || isize !== this.#memberOut % 0x1_0000_0000) {
      throw new FormatError("Cannot inflate span: a gzip member inside the span fails its CRC-32/ISIZE check", {
        compressedOffset: this.#base + p,
      });
    }
  }

  #short(): FormatError {
    return new FormatError(
      `Cannot inflate span: the compressed data ends after ${this.#got} of ${this.#out.length} requested bytes`,
      { compressedOffset: this.#base + this.#pos },
      { hint: "Fetch the whole span (formats §4.5) and check uncompressed_archive_size" },
    );
  }
}
