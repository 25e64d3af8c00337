/**
 * The span manager's public shapes (snapshotter §9): the range fetcher it is
 * given, its options and its statistics. Kept apart so span_manager.ts holds
 * only behaviour.
 */
import type { Ztoc } from "../../core-wasm/src/ztoc/mod.ts";
import type { SpanCache } from "./cache.ts";
import type { FetchLimiter } from "./limiter.ts";

/** Exactly `end - start` bytes of the compressed layer blob [start, end). Throw on failure. */
export type RangeFetcher = (start: number, end: number, signal?: AbortSignal) => Promise<Uint8Array>;

export interface SpanStats {
  layerDigest: string;
  spanCount: number;
  /** Spans fetched over the network, verified and inflated. */
  spansFetched: number;
  /** Spans found in the SpanCache (not counting RAM LRU hits). */
  spansFromCache: number;
  /** Fetched spans whose digest did not match (each refusal counts). */
  spansRefused: number;
  bytesFetched: number;
  fetchRequests: number;
  /** Range requests that failed (threw or returned the wrong length). */
  fetchErrors: number;
  uncompressedBytesServed: number;
  /** Every span is present (see isPresent). */
  complete: boolean;
  /** Spans served from the decoded-span LRU in RAM (an addition to the contract). */
  spansFromMemory: number;
}

export interface SpanManagerOptions {
  ztoc: Ztoc;
  layerDigest: string;
  fetch: RangeFetcher;
  cache?: SpanCache;
  /** Largest compressed size of one coalesced range request (a single bigger span is still one request). Default 16 MiB. */
  maxCoalesceBytes?: number;
  log?: (line: string) => void;
  /** Refetches of a span that fails its digest before the read fails. Default 2. */
  retries?: number;
  /** Bounds range requests in flight; share one per registry. Default: unbounded. */
  limiter?: FetchLimiter;
  /** Decoded spans kept in RAM (LRU). Default 4. */
  memorySpans?: number;
}
