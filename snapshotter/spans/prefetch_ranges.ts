/**
 * `prefetchSpanRanges`: makes a list of inclusive span-id ranges present in a
 * layer's span cache (snapshotter §7.3 step 7, formats §9.6 — the ranges of a
 * prefetch artifact), through the layer's SpanManager, so every span is
 * fetched with coalesced range requests, checked against its SHA-256 and
 * inflated into the cache exactly as a read would; spans already present are
 * not fetched again. Ranges run in parallel: all at once with
 * `maxConcurrency` 0, else at most that many ranges at a time (each range may
 * still be several coalesced requests); the FetchLimiter of the registry
 * bounds the requests in flight on top, and ranks them below readers'.
 *
 * Not here: where the ranges come from (layers/), what a failure means for
 * the mount (the caller decides; prefetch is best effort).
 */
import type { SpanManager } from "./span_manager.ts";

/** An inclusive range of span ids. */
export interface SpanIdRange {
  startSpan: number;
  endSpan: number;
}

export interface PrefetchRangesResult {
  /** Distinct span ids listed. */
  listed: number;
  /** Listed spans present once done (fetched now or found in the cache). */
  present: number;
}

/**
 * Validates every range against `spans.spanCount` first (RangeError naming
 * the first bad range; nothing is fetched then), then prefetches. Every
 * range is tried; rejects afterwards with the first error of a range (the
 * errors of SpanManager.prefetch; the signal's reason when aborted).
 */
export async function prefetchSpanRanges(
  spans: SpanManager,
  ranges: readonly SpanIdRange[],
  opts: { maxConcurrency?: number; signal?: AbortSignal } = {},
): Promise<PrefetchRangesResult> {
  const ids = new Set<number>();
  for (const r of ranges) {
    if (!(Number.isSafeInteger(r.startSpan) && Number.isSafeInteger(r.endSpan) && 0 <= r.startSpan && r.startSpan <= r.endSpan && r.endSpan < spans.spanCount)) {
      throw new RangeError(`span range ${r.startSpan}-${r.endSpan} is outside the layer's spans 0-${spans.spanCount - 1}`);
    }
    for (let id = r.startSpan; id <= r.endSpan; id++) ids.add(id);
  }
  const max = opts.maxConcurrency ?? 0;
  const lanes = max <= 0 ? ranges.length : Math.min(max, ranges.length);
  // Every range is tried even after one fails (best effort); the first error is rethrown at the end.
  const errors: unknown[] = [];
  let next = 0;
  const lane = async () => {
    while (next < ranges.length) {
      const r = ranges[next++];
      try {
        await spans.prefetch(range(r), opts.signal);
      } catch (e) {
        errors.push(e);
        if (opts.signal?.aborted) return;
      }
    }
  };
  await Promise.all(Array.from({ length: lanes }, lane));
  if (errors.length > 0) throw errors[0];
  let present = 0;
  for (const id of ids) if (spans.isPresent(id)) present++;
  return { listed: ids.size, present };
}

function range(r: SpanIdRange): number[] {
  return Array.from({ length: r.endSpan - r.startSpan + 1 }, (_, k) => r.startSpan + k);
}
