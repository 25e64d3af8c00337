/**
 * Span digests computed while the blob streams by (formats §4.5, §5).
 *
 * Gzip: span i covers compressed bytes [in_i − (bits_i ? 1 : 0), in_{i+1}),
 * the last one to the end of the blob, so neighbours overlap by a byte when
 * bits ≠ 0. A span's end is only known when the next checkpoint arrives,
 * which may be after the inflater has consumed bytes beyond it; so the
 * compressed bytes from the current span's start onward are kept — by
 * reference, not copied: `buildZtoc`'s caller hands over chunks it will not
 * modify (ImageSource chunks are owned by the reader, a worker's are
 * transferred) — and hashed when the span closes. Memory is one span of
 * compressed data, never the whole blob.
 *
 * Uncompressed: fixed spans of `spanSize` bytes hashed as they pass; no
 * buffering at all.
 */
import { Sha256 } from "../bytes/mod.ts";
import type { Checkpoint } from "../gzip/mod.ts";

export class GzipSpanDigester {
  #chunks: Array<{ start: number; bytes: Uint8Array }> = [];
  #spanStart = -1;
  readonly digests: string[] = [];

  /** Records compressed bytes at `offset` (call before handing them to the inflater). */
  push(chunk: Uint8Array, offset: number): void {
    if (chunk.length > 0) this.#chunks.push({ start: offset, bytes: chunk });
  }

  /** Closes the previous span at `cp.in` and opens the next one. */
  checkpoint(cp: Checkpoint): void {
    if (this.#spanStart >= 0) this.digests.push(this.#hash(this.#spanStart, cp.in));
    this.#spanStart = cp.bits !== 0 ? cp.in - 1 : cp.in;
    while (this.#chunks.length > 0) {
      const c = this.#chunks[0];
      if (c.start + c.bytes.length > this.#spanStart) break;
      this.#chunks.shift();
    }
  }

  /** Closes the last span at the end of the blob and returns all digests. */
  finish(blobSize: number): string[] {
    if (this.#spanStart >= 0) this.digests.push(this.#hash(this.#spanStart, blobSize));
    this.#spanStart = -1;
    this.#chunks = [];
    return this.digests;
  }

  #hash(start: number, end: number): string {
    const h = new Sha256();
    if (this.#chunks.length > 0 && this.#chunks[0].start > start) throw new Error(`span bytes from ${start} were already released`);
    for (const c of this.#chunks) {
      const from = Math.max(start, c.start);
      const to = Math.min(end, c.start + c.bytes.length);
      if (from < to) h.update(c.bytes.subarray(from - c.start, to - c.start));
    }
    if (h.size !== end - start) throw new Error(`span [${start}, ${end}) is not fully buffered`);
    return h.digest();
  }
}

export class FixedSpanDigester {
  readonly #spanSize: number;
  #hash = new Sha256();
  readonly digests: string[] = [];

  constructor(spanSize: number) {
    this.#spanSize = spanSize;
  }

  push(chunk: Uint8Array): void {
    let i = 0;
    while (i < chunk.length) {
      const k = Math.min(this.#spanSize - this.#hash.size, chunk.length - i);
      this.#hash.update(chunk.subarray(i, i + k));
      i += k;
      if (this.#hash.size === this.#spanSize) {
        this.digests.push(this.#hash.digest());
        this.#hash = new Sha256();
      }
    }
  }

  /** Digests of every span; a partial last span is closed here. */
  finish(): string[] {
    if (this.#hash.size > 0) this.digests.push(this.#hash.digest());
    return this.digests;
  }
}
