/**
 * spans/: the span manager of a lazily fetched layer (snapshotter §9, §11.3,
 * formats §4.5–§6) — uncompressed range → spans → coalesced range requests →
 * SHA-256 against the zTOC → inflate from checkpoints → span cache — plus the
 * caches and the registry-backed RangeFetcher.
 *
 * Not here: FUSE (layerfs/, fuse/), background scheduling (fetcher/), layer
 * resolution (layers/).
 */
export { SpanManager } from "./span_manager.ts";
export type { RangeFetcher, SpanManagerOptions, SpanStats } from "./types.ts";
export { DiskSpanCache, MemorySpanCache, type SpanCache } from "./cache.ts";
export { registryRangeFetcher } from "./registry_fetcher.ts";
export { FetchLimiter } from "./limiter.ts";
export { prefetchSpanRanges, type PrefetchRangesResult, type SpanIdRange } from "./prefetch_ranges.ts";
