/**
 * GzipIndexer: one streaming pass over a gzip layer that inflates every
 * member and places checkpoints exactly as upstream's zran-style generator
 * (formats §4.4, zlib Z_BLOCK semantics):
 *
 *  - a checkpoint candidate arises right after each member header and at each
 *    deflate block boundary that is not after a member's final block;
 *  - a candidate becomes a checkpoint iff out == 0 or out − last > span;
 *  - `in` counts every compressed byte so far (headers and trailers too),
 *    `bits` the unused high bits of byte in−1, `window` the 32 KiB of output
 *    before `out` (zero-padded); counters and window carry across members.
 *
 * The kernel stops only where a checkpoint may be due (it is told
 * out-since-last and the span), so long spans cost no extra calls.
 *
 * Policy (differs from upstream only where upstream output is unusable):
 *  - default: a duplicate out=0 checkpoint (empty first member, leading empty
 *    blocks) is dropped — upstream's snapshotter rejects such zTOCs (§4.6);
 *    zero bytes after the last member are tolerated and counted in
 *    `trailingZeroBytes` (Node's gunzip does the same);
 *  - `upstreamCompat: true`: duplicates kept, any trailing byte that is not a
 *    gzip member is a FormatError (upstream fails such layers).
 *  Non-zero trailing garbage is always a FormatError. Each member's CRC-32
 *  and ISIZE are verified; reserved header flags and a bad FHCRC fail.
 *
 * Not done here: zinfo encoding (zinfo.ts), tar parsing (tar/).
 */
import { FormatError } from "../errors.ts";
import { Inflater, inflateError, InflateStatus } from "../wasm/mod.ts";
import { parseGzipHeader } from "./_header.ts";
import type { Checkpoint, GzipIndexerOptions, GzipSummary, InflateSink } from "./types.ts";

/** Bytes of a new chunk joined to leftover input (more than any unit the kernel re-reads). */
const JOIN_HEAD = 4096;

const enum Phase {
  Header,
  Deflate,
  Trailer,
  AfterMember,
  ZeroTail,
}

export class GzipIndexer {
  readonly #span: number;
  readonly #source?: string;
  readonly #compat: boolean;
  readonly #inf = new Inflater();
  #phase = Phase.Header;
  /** Unprocessed input; `#pos` indexes it, `#base` is the compressed offset of `#buf[0]`. */
  #buf: Uint8Array = new Uint8Array(0);
  #pos = 0;
  #base = 0;
  #out = 0;
  #last = 0;
  #memberOut = 0;
  #members = 0;
  #zeros = 0;
  #finished = false;
  readonly #checkpoints: Checkpoint[] = [];

  /** Throws RangeError for a negative or non-integer span size. */
  constructor(opts: GzipIndexerOptions) {
    if (!Number.isSafeInteger(opts.spanSize) || opts.spanSize < 0) throw new RangeError(`span size ${opts.spanSize} must be a non-negative integer`);
    this.#span = opts.spanSize;
    this.#source = opts.source;
    this.#compat = opts.upstreamCompat === true;
    this.#inf.resetStream();
  }

  /**
   * Feeds the next compressed bytes (any size; the chunk is not kept after the
   * call). Output and checkpoints go to `sink` in stream order.
   * Throws FormatError (with compressedOffset) on corrupt data.
   */
  push(chunk: Uint8Array, sink: InflateSink): void {
    if (this.#finished) throw new TypeError("GzipIndexer.push() after finish()");
    const rest = this.#buf.length - this.#pos;
    // Join the small leftover with only the chunk's head; once decoding has
    // moved past the leftover, go on in the chunk itself (no bulk copy).
    const head = rest > 0 ? Math.min(chunk.length, JOIN_HEAD) : 0;
    if (rest > 0) {
      const joined = new Uint8Array(rest + head);
      joined.set(this.#buf.subarray(this.#pos));
      joined.set(chunk.subarray(0, head), rest);
      this.#base += this.#pos;
      this.#buf = joined;
      this.#pos = 0;
      this.#drive(sink, false);
      if (this.#pos >= rest) {
        this.#base += rest;
        this.#buf = chunk;
        this.#pos -= rest;
      } else if (head < chunk.length) {
        this.#joinAll(chunk.subarray(head));
      }
    } else {
      this.#base += this.#buf.length;
      this.#buf = chunk;
      this.#pos = 0;
    }
    if (this.#buf === chunk || head < chunk.length) this.#drive(sink, false);
    // Keep only what is left, copied: the caller may reuse `chunk`.
    this.#base += this.#pos;
    this.#buf = this.#buf.slice(this.#pos);
    this.#pos = 0;
  }

  #joinAll(more: Uint8Array): void {
    const rest = this.#buf.subarray(this.#pos);
    const joined = new Uint8Array(rest.length + more.length);
    joined.set(rest);
    joined.set(more, rest.length);
    this.#base += this.#pos;
    this.#buf = joined;
    this.#pos = 0;
  }

  /**
   * Ends the input. Throws FormatError if it ends inside a member, if no member
   * was seen, or on trailing data the policy refuses. Returns the summary
   * (checkpoints with owned windows).
   */
  finish(sink: InflateSink): GzipSummary {
    if (this.#finished) throw new TypeError("GzipIndexer.finish() called twice");
    this.#drive(sink, true);
    this.#finished = true;
    return {
      compressedSize: this.#offset(),
      uncompressedSize: this.#out,
      members: this.#members,
      trailingZeroBytes: this.#zeros,
      checkpoints: this.#checkpoints,
    };
  }

  #offset(): number {
    return this.#base + this.#pos;
  }

  #truncated(where: string): FormatError {
    return new FormatError(`Cannot inflate gzip data: the input ends ${where}`, { source: this.#source, compressedOffset: this.#offset() }, {
      hint: "The layer is truncated; fetch it again",
    });
  }

  #drive(sink: InflateSink, final: boolean): void {
    for (;;) {
      const avail = this.#buf.length - this.#pos;
      switch (this.#phase) {
        case Phase.Header: {
          if (avail === 0 && !final) return;
          const n = parseGzipHeader(this.#buf, this.#pos, this.#offset(), this.#source, (b) => this.#inf.crc32(b));
          if (n < 0) {
            if (final) throw this.#base + this.#buf.length === 0 ? this.#noMember() : this.#truncated("inside a gzip header");
            return;
          }
          this.#pos += n;
          this.#members++;
          this.#memberOut = 0;
          this.#inf.beginMember();
          this.#phase = Phase.Deflate;
          this.#candidate(sink, 0);
          break;
        }
        case Phase.Deflate:
          if (!this.#inflateStep(sink, avail, final)) return;
          break;
        case Phase.Trailer:
          if (avail < 8) {
            if (final) throw this.#truncated("inside a gzip trailer");
            return;
          }
          this.#checkTrailer();
          this.#pos += 8;
          this.#phase = Phase.AfterMember;
          break;
        case Phase.AfterMember:
          if (avail === 0) return;
          this.#phase = this.#buf[this.#pos] === 0 && !this.#compat ? Phase.ZeroTail : Phase.Header;
          if (this.#phase === Phase.Header && this.#buf[this.#pos] !== 0x1f) throw this.#garbage();
          break;
        case Phase.ZeroTail:
          for (; this.#pos < this.#buf.length; this.#pos++, this.#zeros++) {
            if (this.#buf[this.#pos] !== 0) throw this.#garbage();
          }
          return;
      }
    }
  }

  /** One kernel call. Returns false when more input is needed. */
  #inflateStep(sink: InflateSink, avail: number, final: boolean): boolean {
    if (avail === 0) {
      if (final) throw this.#truncated("inside a deflate stream");
      return false;
    }
    const n = Math.min(avail, Inflater.inputCapacity);
    const inf = this.#inf;
    // Before any output every boundary is a candidate (out == 0); after, only past the span.
    const st = this.#out === 0
      ? inf.inflate(this.#buf.subarray(this.#pos, this.#pos + n), { sinceMark: 0, limit: -1 })
      : inf.inflate(this.#buf.subarray(this.#pos, this.#pos + n), { sinceMark: this.#out - this.#last, limit: this.#span });
    this.#pos += inf.consumed;
    const out = inf.output();
    if (out.length > 0) {
      sink.data(out, this.#out);
      this.#out += out.length;
      this.#memberOut += out.length;
    }
    // The bad bits are in the last byte the kernel touched.
    if (st < 0) throw inflateError(st, this.#offset() - (inf.consumed > 0 ? 1 : 0), this.#source);
    if (st === InflateStatus.BOUNDARY) this.#candidate(sink, inf.bitsLeft);
    else if (st === InflateStatus.STREAM_END) this.#phase = Phase.Trailer;
    else if (st === InflateStatus.NEED_INPUT && n === avail) {
      if (final) throw this.#truncated("inside a deflate stream");
      return false;
    }
    return true;
  }

  /** A checkpoint candidate at the current position (formats §4.4 step 5). */
  #candidate(sink: InflateSink, bits: number): void {
    const out = this.#out;
    if (!(out === 0 || out - this.#last > this.#span)) return;
    if (out === 0 && this.#checkpoints.length > 0 && !this.#compat) return; // duplicate out=0: dropped by policy
    const cp: Checkpoint = { in: this.#offset(), out, bits, window: this.#inf.window().slice() };
    this.#checkpoints.push(cp);
    this.#last = out;
    sink.checkpoint(cp);
  }

  #checkTrailer(): void {
    const b = this.#buf;
    const p = this.#pos;
    const crc = (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24)) >>> 0;
    const isize = (b[p + 4] | (b[p + 5] << 8) | (b[p + 6] << 16) | (b[p + 7] << 24)) >>> 0;
    const where = { source: this.#source, compressedOffset: this.#offset() };
    const hint = { hint: "The layer is corrupt; fetch it again" };
    if (crc !== this.#inf.crc) {
      throw new FormatError(`Cannot verify gzip member ${this.#members}: CRC-32 0x${this.#inf.crc.toString(16)} does not match trailer 0x${crc.toString(16)}`, where, hint);
    }
    const size = this.#memberOut % 0x1_0000_0000;
    if (isize !== size) {
      throw new FormatError(`Cannot verify gzip member ${this.#members}: size ${size} (mod 2^32) does not match trailer ISIZE ${isize}`, where, hint);
    }
  }

  #garbage(): FormatError {
    return new FormatError(
      this.#compat
        ? "Cannot inflate gzip data: bytes after the last member are not a gzip member (upstream fails such layers)"
        : "Cannot inflate gzip data: non-zero bytes after the last member are not a gzip member",
      { source: this.#source, compressedOffset: this.#offset() },
      { hint: "Strip the trailing bytes from the layer" },
    );
  }

  #noMember(): FormatError {
    return new FormatError("Cannot inflate gzip data: the input is empty", { source: this.#source, compressedOffset: 0 });
  }
}
