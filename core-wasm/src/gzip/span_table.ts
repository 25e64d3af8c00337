/**
 * Span tables: which compressed and uncompressed byte ranges make up span i,
 * and which span holds an uncompressed offset. Gzip layers follow formats
 * §4.5 (spans start at checkpoints; a compressed start backs up one byte when
 * bits ≠ 0; the last span runs to the end of the blob / the archive);
 * uncompressed layers follow §5 (fixed-size spans).
 */
import type { GzipZinfo } from "./types.ts";

export interface SpanTable {
  readonly spanCount: number;
  /** [start, end) in the compressed blob. Throws RangeError for a bad span. */
  compressedRange(span: number): [start: number, end: number];
  /** [start, end) in the uncompressed stream. Throws RangeError for a bad span. */
  uncompressedRange(span: number): [start: number, end: number];
  /** The span holding `uncompressedOffset` (offsets past the end map to the last span). Throws RangeError if there are no spans or the offset is negative. */
  spanFor(uncompressedOffset: number): number;
}

function checkSpan(span: number, count: number): void {
  if (!Number.isInteger(span) || span < 0 || span >= count) throw new RangeError(`span ${span} outside 0..${count - 1}`);
}

function checkOffset(o: number, count: number): void {
  if (count === 0) throw new RangeError("the layer has no spans");
  if (!(o >= 0)) throw new RangeError(`uncompressed offset ${o} is negative`);
}

/** Span table of a gzip layer from its zinfo, compressed blob size C and uncompressed_archive_size U. */
export function gzipSpanTable(z: GzipZinfo, compressedSize: number, uncompressedArchiveSize: number): SpanTable {
  const cps = z.checkpoints;
  const n = cps.length;
  return {
    spanCount: n,
    compressedRange(i) {
      checkSpan(i, n);
      const start = cps[i].bits !== 0 ? cps[i].in - 1 : cps[i].in;
      return [start, i + 1 < n ? cps[i + 1].in : compressedSize];
    },
    uncompressedRange(i) {
      checkSpan(i, n);
      return [cps[i].out, i + 1 < n ? cps[i + 1].out : uncompressedArchiveSize];
    },
    spanFor(o) {
      checkOffset(o, n);
      // Largest k with out_k ≤ o; with equal outs the later checkpoint wins.
      let lo = 0;
      let hi = n;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (cps[mid].out <= o) lo = mid + 1;
        else hi = mid;
      }
      return Math.max(0, lo - 1);
    },
  };
}

/** Span table of an uncompressed layer (formats §5). Throws RangeError for span size ≤ 0 (upstream divides by it). */
export function tarSpanTable(spanSize: number, size: number, uncompressedArchiveSize: number): SpanTable {
  if (!(Number.isSafeInteger(spanSize) && spanSize > 0)) throw new RangeError(`span size ${spanSize} must be a positive integer for uncompressed layers`);
  const n = Math.ceil(size / spanSize);
  return {
    spanCount: n,
    compressedRange(i) {
      checkSpan(i, n);
      return [i * spanSize, Math.min((i + 1) * spanSize, size)];
    },
    uncompressedRange(i) {
      checkSpan(i, n);
      return [i * spanSize, i + 1 < n ? (i + 1) * spanSize : uncompressedArchiveSize];
    },
    spanFor(o) {
      checkOffset(o, n);
      return Math.min(Math.floor(o / spanSize), n - 1);
    },
  };
}
