/** Shared gzip-module types (docs/CONTRACTS.md, gzip/mod.ts). */

/** Checkpoint window size (formats §4.1). */
export const ZINFO_WINDOW_SIZE = 32768;

/** A place decompression can restart (formats §4.3). */
export interface Checkpoint {
  /** Compressed bytes fully or partly consumed, from the blob start (headers/trailers included). */
  in: number;
  /** Uncompressed offset (all members concatenated). */
  out: number;
  /** 0..7: unused high bits of byte `in − 1` that belong to the next block. */
  bits: number;
  /** The 32768 uncompressed bytes before `out`, zero-padded on the left; owned. */
  window: Uint8Array;
}

export interface InflateSink {
  /** Uncompressed output in stream order; `chunk` valid only during the call. */
  data(chunk: Uint8Array, uncompressedOffset: number): void;
  /** Called in stream order: after all data before cp.out, before any data at/after cp.out. */
  checkpoint(cp: Checkpoint): void;
}

export interface GzipIndexerOptions {
  /** Minimum uncompressed bytes between checkpoints (strictly more is needed); ≥ 0. */
  spanSize: number;
  /** For error messages (layer digest or path). */
  source?: string;
  /** Reproduce upstream exactly: keep duplicate out=0 checkpoints, fail on ANY trailing bytes. */
  upstreamCompat?: boolean;
}

export interface GzipSummary {
  compressedSize: number;
  uncompressedSize: number;
  members: number;
  /** Zero padding after the last member (tolerated unless upstreamCompat). */
  trailingZeroBytes: number;
  checkpoints: Checkpoint[];
}

export interface GzipZinfo {
  version: 1 | 2;
  spanSize: number;
  checkpoints: Checkpoint[];
}
