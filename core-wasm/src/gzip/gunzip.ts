/**
 * gunzip: a whole gzip stream to bytes — every member, CRC-32 and ISIZE
 * verified — by running GzipIndexer with an unreachable span (so it stops
 * only for checkpoint 0) and collecting the output.
 */
import { GzipIndexer } from "./gzip_indexer.ts";
import type { InflateSink } from "./types.ts";

export interface GunzipOptions {
  source?: string;
  /** As GzipIndexerOptions.upstreamCompat: any trailing byte fails. */
  upstreamCompat?: boolean;
}

/**
 * Decompresses `bytes` (one or more gzip members, optionally followed by zero
 * padding unless `upstreamCompat`). Returns a new array. Throws FormatError on
 * corrupt, truncated or empty input, or non-zero trailing bytes.
 */
export function gunzip(bytes: Uint8Array, opts: GunzipOptions = {}): Uint8Array {
  const chunks: Uint8Array[] = [];
  let total = 0;
  const sink: InflateSink = {
    data(chunk) {
      chunks.push(chunk.slice());
      total += chunk.length;
    },
    checkpoint() {},
  };
  const ix = new GzipIndexer({ spanSize: Number.MAX_SAFE_INTEGER, source: opts.source, upstreamCompat: opts.upstreamCompat });
  ix.push(bytes, sink);
  ix.finish(sink);
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}
