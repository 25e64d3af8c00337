/**
 * One lazily served layer (snapshotter §7 steps 5–6, §8, §9): a range
 * fetcher for the blob (registry ranges via spans/, or the local layout
 * file), a `SpanManager` (fetch, verify, inflate, cache), a `LayerFs` over
 * the TOC, and its FUSE mount. `stop()` unmounts (readers end with ENODEV),
 * leaves the background fetcher and closes the span manager.
 *
 * Sequential read-ahead: once reads have continued each other (within 1 MiB,
 * as async reads arrive slightly out of order) for 4 MiB, each read starts
 * the fill of the span after the one it ends in, so the range request, digest
 * check and cache write of span n+1 overlap the reads of span n. Shorter runs
 * (small files, libraries paged in) fetch nothing extra. Measured in
 * bench/mount (sequential cold read) and mount_lazy_test (bytes fetched).
 *
 * Prefetch (snapshotter §7.3 step 7, formats §9.6): given the span ranges of
 * the layer's prefetch artifact, they are fetched into the span cache
 * (spans/ prefetchSpanRanges: coalesced, verified, inflated) while the FUSE
 * mount comes up, and `mountLazyLayer` resolves only once both are done. A
 * failed prefetch is one log line and a `prefetch` note in the stats; the
 * layer is still mounted and reads fetch what is missing.
 *
 * Not here: span states, verification and caching (spans/), the tree
 * (layerfs/), the FUSE protocol (fuse/), loading the artifact (resolve_image.ts).
 */
import { statfsSync } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { dirname } from "node:path";
import { FormatError } from "../../core-wasm/src/errors.ts";
import type { Descriptor, ImageSource } from "../../core-wasm/src/oci/mod.ts";
import type { Repository } from "../../core-wasm/src/registry/mod.ts";
import { ztocSpans, type Ztoc } from "../../core-wasm/src/ztoc/mod.ts";
import type { BackgroundFetcher } from "../fetcher/mod.ts";
import { mountFuse, type FuseMount, type FuseStatfs } from "../fuse/mod.ts";
import { LAYER_CACHE_TIMEOUTS, LayerFs } from "../layerfs/mod.ts";
import { prefetchSpanRanges, registryRangeFetcher, SpanManager, type FetchLimiter, type RangeFetcher, type SpanCache, type SpanIdRange, type SpanStats } from "../spans/mod.ts";

export interface LazyLayerOptions {
  ztoc: Ztoc;
  layer: Descriptor;
  source: ImageSource;
  repository?: Repository;
  dir: string;
  cache: SpanCache;
  /** Bounds the range requests in flight (shared by the layers of one registry). */
  limiter?: FetchLimiter;
  /** Registered with it when given (background fetch on). */
  fetcher?: BackgroundFetcher;
  /** The zTOC says the layer has no xattrs: GETXATTR/LISTXATTR answer ENOSYS, so the kernel stops asking. */
  disableXattrs: boolean;
  /** snapshotter §8.6 first-read tar header check (default true). */
  verifyHeaders?: boolean;
  /** Spans to make present before the layer is reported mounted (a prefetch artifact's ranges). */
  prefetch?: { ranges: SpanIdRange[]; maxConcurrency: number };
  /** What to report about prefetch when there is nothing to fetch (artifact ignored, prefetch off). */
  prefetchNote?: string;
  log?: (line: string) => void;
}

/** The span figures a lazy layer reports (the span manager's, without its own digest and RAM hits), plus prefetch. */
export type LazyStats = Omit<SpanStats, "layerDigest" | "spansFromMemory"> & {
  /** Spans of the prefetch artifact present when the layer was reported mounted (0: no prefetch). */
  prefetchedSpans: number;
  /** What happened to the layer's prefetch artifact, in words (absent: no artifact, prefetch off). */
  prefetch?: string;
};

export interface LazyLayer {
  fuse: FuseMount;
  spans: SpanManager;
  stats(): LazyStats;
  /** Reads the blob's first bytes from where spans come from (registry or file), outside the stats: the §6.1 connectivity check. */
  probe(): Promise<void>;
  stop(): Promise<void>;
}

/** The blob's bytes from the registry, or from a local layout file. */
async function rangeFetcherFor(opts: LazyLayerOptions): Promise<{ fetch: RangeFetcher; close(): Promise<void> }> {
  const { layer } = opts;
  if (opts.repository !== undefined) return { fetch: registryRangeFetcher(opts.repository, layer), close: async () => {} };
  const loc = await opts.source.blobLocation?.(layer);
  if (!loc) throw new FormatError(`Cannot mount layer ${layer.digest} lazily: ${opts.source.name} has no local file for it`);
  let fh: FileHandle | null = await open(loc.path, "r");
  return {
    fetch: async (start, end) => {
      if (fh === null) throw new FormatError(`Cannot read layer ${layer.digest}: it was unmounted`);
      const buf = new Uint8Array(end - start);
      const { bytesRead } = await fh.read(buf, 0, buf.length, loc.offset + start);
      if (bytesRead !== buf.length) throw new FormatError(`Cannot read layer ${layer.digest}: the blob file is short`);
      return buf;
    },
    close: async () => {
      await fh?.close();
      fh = null;
    },
  };
}

const READ_AHEAD_SLACK = 1 << 20;
/** Sequential bytes read before read-ahead starts: small files and page-fault reads of libraries fetch nothing extra. */
const READ_AHEAD_AFTER = 4 << 20;

/** `spans` as a LayerReader that prefetches the next span during long sequential reads (see the module header). */
function withReadAhead(spans: SpanManager, ztoc: Ztoc) {
  const { table } = ztocSpans(ztoc);
  const limit = table.spanCount > 0 ? table.uncompressedRange(table.spanCount - 1)[1] : 0;
  let runStart = -1;
  let runEnd = -1;
  return {
    read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
      const p = spans.read(offset, length, signal);
      const end = Math.min(offset + length, limit);
      if (runEnd >= 0 && Math.abs(offset - runEnd) <= READ_AHEAD_SLACK) runEnd = Math.max(runEnd, end);
      else [runStart, runEnd] = [offset, end];
      if (runEnd - runStart >= READ_AHEAD_AFTER && end > offset) {
        const next = table.spanFor(end - 1) + 1;
        if (next < table.spanCount && !spans.isPresent(next)) spans.prefetch([next]).catch(() => {}); // a failed prefetch costs nothing: the read itself retries
      }
      return p;
    },
  };
}

/**
 * snapshotter §8.6 statfs: the numbers of the disk holding `path` (a directory
 * beside the mount point, never inside it: that would ask this daemon),
 * namelen 255; zeros with 4096-byte blocks if the disk cannot be asked.
 */
export function diskStatfs(path: string): FuseStatfs {
  try {
    const s = statfsSync(path);
    return { blocks: s.blocks, bfree: s.bfree, bavail: s.bavail, files: s.files, ffree: s.ffree, bsize: s.bsize, namelen: 255, frsize: s.bsize };
  } catch {
    return { blocks: 0, bfree: 0, bavail: 0, files: 0, ffree: 0, bsize: 4096, namelen: 255, frsize: 4096 };
  }
}

/** Mounts the layer lazily at `opts.dir`; nothing stays mounted or registered when it throws. */
export async function mountLazyLayer(opts: LazyLayerOptions): Promise<LazyLayer> {
  const { layer, ztoc, log } = opts;
  const fetcher = await rangeFetcherFor(opts);
  let spans: SpanManager;
  let fs: LayerFs;
  try {
    // Both throw FormatError for a zTOC that cannot be served (spans that do not advance, a TOC that is no tree).
    spans = new SpanManager({ ztoc, layerDigest: layer.digest, fetch: fetcher.fetch, cache: opts.cache, ...(opts.limiter ? { limiter: opts.limiter } : {}), ...(log ? { log } : {}) });
    const statfsPath = dirname(opts.dir);
    const s = spans;
    fs = new LayerFs(ztoc.toc, withReadAhead(s, ztoc), {
      layerDigest: layer.digest,
      statfs: () => diskStatfs(statfsPath),
      // §8.7 state file: the layer's compressed size and the compressed bytes fetched for it.
      fetchStats: () => ({ size: layer.size, fetchedSize: s.stats().bytesFetched }),
      verifyHeaders: opts.verifyHeaders ?? true,
      ...(log ? { log } : {}),
    });
  } catch (e) {
    await fetcher.close();
    throw e;
  }
  let prefetchedSpans = 0;
  let prefetchNote = opts.prefetchNote;
  const stopPrefetch = new AbortController();
  const prefetching = opts.prefetch === undefined ? Promise.resolve() : (async (p) => {
    const t0 = performance.now();
    try {
      const r = await prefetchSpanRanges(spans, p.ranges, { maxConcurrency: p.maxConcurrency, signal: stopPrefetch.signal });
      prefetchedSpans = r.present;
      prefetchNote = `${r.present} of ${r.listed} listed spans in ${p.ranges.length} range(s) present before the layer was mounted (${(performance.now() - t0).toFixed(0)} ms)`;
    } catch (e) {
      const present = new Set<number>();
      for (const r of p.ranges) for (let id = Math.max(0, r.startSpan); id <= Math.min(r.endSpan, spans.spanCount - 1); id++) if (spans.isPresent(id)) present.add(id);
      prefetchedSpans = present.size;
      prefetchNote = `prefetch failed, the layer is mounted lazily without it: ${e instanceof Error ? e.message : String(e)}`;
    }
    log?.(`layer ${layer.digest}: ${prefetchNote}`);
  })(opts.prefetch);
  let fuse: FuseMount;
  try {
    // Two reader threads per layer: they only pick requests up (replies may be in flight in any number,
    // fuse.md §9.1), and an image's mounts start faster with fewer threads.
    fuse = await mountFuse(fs, opts.dir, { fsname: "soci", source: "soci", defaultPermissions: false, readers: 2, fast: fs.fastSource(), server: { ...LAYER_CACHE_TIMEOUTS, disableXattrs: opts.disableXattrs, ...(log ? { log } : {}) }, ...(log ? { log } : {}) });
  } catch (e) {
    stopPrefetch.abort(e);
    await prefetching;
    spans.close();
    await fetcher.close();
    throw e;
  }
  await prefetching; // never rejects: the layer is "ready" only once its prefetch is done
  opts.fetcher?.add(spans);
  return {
    fuse,
    spans,
    probe: async () => {
      await fetcher.fetch(0, Math.min(2, layer.size));
    },
    stats: () => {
      const s = spans.stats();
      return {
        spanCount: s.spanCount, spansFetched: s.spansFetched, spansFromCache: s.spansFromCache, spansRefused: s.spansRefused, bytesFetched: s.bytesFetched,
        fetchRequests: s.fetchRequests, fetchErrors: s.fetchErrors, uncompressedBytesServed: s.uncompressedBytesServed, complete: s.complete,
        prefetchedSpans, ...(prefetchNote !== undefined ? { prefetch: prefetchNote } : {}),
      };
    },
    stop: async () => {
      opts.fetcher?.remove(spans);
      await fuse.stop();
      await spans.flush(); // cache writes land, so a later mount finds the spans
      spans.close();
      await fetcher.close();
    },
  };
}
