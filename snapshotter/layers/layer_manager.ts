/**
 * `LayerManager`: one layer at a time, lazily or locally (snapshotter §5,
 * §7, §12). `mountLayer` serves a layer that has a zTOC as its own FUSE
 * filesystem (spans/ fetch + verify + cache, layerfs/ tree) at a directory;
 * it throws `NotLazyError` when the layer has no usable zTOC or is under the
 * minimum size, and the caller unpacks instead (`unpackLayer`: verified
 * download + safe untar into `<root>/layers/<hex>/fs`, reused later).
 *
 * Layout under `root`: `cache/` the span cache shared by every layer (keys
 * carry the layer digest; kept across mounts and restarts, so a second mount
 * fetches nothing), `layers/<hex>/fs` unpacked layers. Mountpoints are the
 * caller's. With `backgroundFetch`, one BackgroundFetcher fills the caches
 * of every lazy layer once reads have been quiet for the silence period
 * (snapshotter §10, default 30 s). Range requests go through one
 * FetchLimiter per registry (`maxConcurrentFetches`, default 6), so layers
 * read at once fetch concurrently without flooding the link.
 *
 * With `prefetch.enable` (`[prefetch] enable`, `soci mount --prefetch`),
 * `resolveImage` also loads each layer's prefetch artifact and `mountLayer`
 * fetches its spans before it resolves (formats §9.6, snapshotter §7.3 step
 * 7; best effort, see _lazy.ts); `stats()` says per layer what happened
 * (`prefetchedSpans`, `prefetch`).
 *
 * Not here: image resolution (resolve_image.ts), overlay and the daemon
 * (mount/), the snapshot service (snapshots/).
 */
import { join } from "node:path";
import { FormatError, SociError } from "../../core-wasm/src/errors.ts";
import type { Descriptor, ImageSource } from "../../core-wasm/src/oci/mod.ts";
import type { Repository } from "../../core-wasm/src/registry/mod.ts";
import { BackgroundFetcher } from "../fetcher/mod.ts";
import { cleanupStaleMount, type FuseMount } from "../fuse/mod.ts";
import { DiskSpanCache, FetchLimiter } from "../spans/mod.ts";
import { mountLazyLayer, type LazyLayer, type LazyLayerOptions, type LazyStats } from "./_lazy.ts";
import { NotLazyError } from "./not_lazy_error.ts";
import { resolveImage, type ResolvedImage, type ResolvedLayer, type ResolveImageOptions } from "./resolve_image.ts";
import { unpackLayer } from "./unpack_layer.ts";

export interface LayerManagerOptions {
  /** State root (see the module header). */
  root: string;
  /** Span cache budget (all layers), bytes. */
  spanCacheBytes: number;
  /** Fetch the remaining spans in the background while idle (snapshotter §10). */
  backgroundFetch: boolean;
  /** Quiet time after the last read before background fetching (re)starts (`silence_period_msec`). Default 30000. */
  backgroundSilenceMs?: number;
  /** Least time between background batches (`fetch_period_msec`). Default 500. */
  backgroundPeriodMs?: number;
  /** Layers the background fetcher queues at most (`max_queue_size`, −1 unbounded; default 300) and what a full queue drops (`drop_policy`). */
  backgroundMaxQueue?: number;
  backgroundDropPolicy?: "newest" | "oldest";
  /** Range requests in flight per registry host. Default 6. */
  maxConcurrentFetches?: number;
  /** Layers smaller than this (compressed bytes) are unpacked even with a zTOC (§5 step 3; 0 = never). */
  minLayerSize?: number;
  /** Prefetch artifacts (formats §9.6): off by default; `maxConcurrency` 0 = all of a layer's ranges at once. */
  prefetch?: { enable: boolean; maxConcurrency?: number };
  /** Apply owners, devices and xattrs when unpacking (default: running as root). */
  privileged?: boolean;
  /** Skip the first-read tar header check of §8.6 (`disable_verification`; default false). */
  disableVerification?: boolean;
  log?: (line: string) => void;
}

/** Everything `mountLayer`/`unpackLayer` need about one layer. */
export interface LayerRef {
  /** Where blobs come from (registry or local layout). */
  source: ImageSource;
  /** The registry repository, for range fetches; absent for local images. */
  repository?: Repository;
  layer: ResolvedLayer;
  /** True when the image has no SOCI index at all. */
  noIndex?: boolean;
}

export interface LayerMountInfo {
  digest: string;
  /** Compressed size. */
  size: number;
  mode: "lazy" | "unpacked";
  /** The directory to use as an overlay lower dir. */
  dir: string;
  /** Why it is unpacked (when it is). */
  reason?: string;
  /** Unpacked: true when an earlier unpack was reused. */
  reused?: boolean;
}

/** Per-layer figures, as `soci mount --stats` prints them (span figures as LazyStats). */
export interface LayerStats extends LayerMountInfo, LazyStats {}

interface Mounted {
  info: LayerMountInfo;
  lazy?: LazyLayer;
  /** Date.now() of the last successful §6.1 connectivity check. */
  checkedAt?: number;
}

export class LayerManager {
  readonly root: string;
  readonly #opts: LayerManagerOptions;
  readonly #mounted = new Map<string, Mounted>();
  readonly #unpacked: LayerMountInfo[] = [];
  #cache: DiskSpanCache | null = null;
  #fetcher: BackgroundFetcher | null = null;
  readonly #limiters = new Map<string, FetchLimiter>();

  constructor(opts: LayerManagerOptions) {
    this.root = opts.root;
    this.#opts = opts;
  }

  /** Picks the platform manifest, finds + validates the SOCI index and zTOCs (resolve_image.ts). */
  resolveImage(source: ImageSource, opts: ResolveImageOptions = {}): Promise<ResolvedImage> {
    return resolveImage(source, { log: this.#opts.log, prefetch: this.#opts.prefetch?.enable ?? false, ...opts });
  }

  /**
   * Mounts the layer lazily at `dir` (created if missing). Resolves once the
   * FUSE mount is up. Throws NotLazyError (unpack instead) or the error of the
   * span manager / FUSE mount (nothing stays mounted then).
   */
  async mountLayer(ref: LayerRef, dir: string): Promise<LayerMountInfo> {
    const l = ref.layer;
    const digest = l.descriptor.digest;
    if (l.ztoc === undefined) throw new NotLazyError(digest, l.notLazyReason ?? "the layer has no zTOC", ref.noIndex ?? false);
    const min = this.#opts.minLayerSize ?? 0;
    if (min > 0 && l.descriptor.size < min) throw new NotLazyError(digest, `the layer is ${l.descriptor.size} bytes, under the minimum of ${min}`, false);
    let lazy: LazyLayer;
    try {
      lazy = await mountLazyLayer({
        ztoc: l.ztoc,
        layer: l.descriptor,
        source: ref.source,
        repository: ref.repository,
        dir,
        cache: (this.#cache ??= new DiskSpanCache({ dir: join(this.root, "cache"), maxBytes: this.#opts.spanCacheBytes })),
        limiter: this.#limiter(ref.repository?.registry ?? ""),
        ...(this.#opts.backgroundFetch ? { fetcher: this.#backgroundFetcher() } : {}),
        disableXattrs: l.disableXattrs,
        verifyHeaders: this.#opts.disableVerification !== true,
        ...this.#prefetchPlan(l),
        log: this.#opts.log,
      });
    } catch (e) {
      // formats §2.5/§4.6: a zTOC that cannot be served lazily means the layer is pulled in full, not a failed mount.
      if (e instanceof FormatError) throw new NotLazyError(digest, `its zTOC cannot be served lazily: ${e.message}`, false);
      throw e;
    }
    const info: LayerMountInfo = { digest, size: l.descriptor.size, mode: "lazy", dir };
    this.#mounted.set(dir, { info, lazy });
    return info;
  }

  /**
   * Downloads (digest-checked) and unpacks the layer into
   * `<root>/layers/<hex>/fs`, or reuses it. `reason` says why it is not lazy.
   */
  async unpackLayer(ref: LayerRef, reason: string, opts: { onProgress?: (bytes: number) => void } = {}): Promise<LayerMountInfo> {
    const d: Descriptor = ref.layer.descriptor;
    const dest = join(this.root, "layers", hexOf(d.digest), "fs");
    const r = await unpackLayer(d, ref.source.openBlob(d), dest, { privileged: this.#opts.privileged, log: this.#opts.log, onProgress: opts.onProgress, ...(ref.layer.diffId ? { diffId: ref.layer.diffId } : {}) });
    const info: LayerMountInfo = { digest: d.digest, size: d.size, mode: "unpacked", dir: r.dir, reason, reused: r.reused };
    this.#unpacked.push(info);
    return info;
  }

  /** Lazy if possible, else unpacked (the reason recorded). */
  async mountOrUnpack(ref: LayerRef, dir: string): Promise<LayerMountInfo> {
    try {
      return await this.mountLayer(ref, dir);
    } catch (e) {
      if (!(e instanceof NotLazyError)) throw e;
      return this.unpackLayer(ref, e.reason);
    }
  }

  /** Unmounts a lazy layer mounted at `dir` and drops its span manager. No-op for unknown dirs. */
  async unmountLayer(dir: string): Promise<void> {
    const m = this.#mounted.get(dir);
    if (m === undefined) return;
    this.#mounted.delete(dir);
    await m.lazy?.stop();
  }

  /**
   * snapshotter §6.1 for the lazy layer at `dir`: it must be served by this
   * manager, and while spans are still missing its blob must be reachable —
   * a ranged GET of 2 bytes (`bytes=0-1`), at most once per `validIntervalMs`
   * per layer unless `always`. Throws SociError saying which.
   */
  async checkLayer(dir: string, opts: { validIntervalMs: number; always?: boolean }): Promise<void> {
    const m = this.#mounted.get(dir);
    if (m?.lazy === undefined) throw new SociError(`Cannot find the lazy layer at ${JSON.stringify(dir)}: this process does not serve it`);
    if (m.lazy.spans.stats().complete) return;
    const now = Date.now();
    if (!opts.always && m.checkedAt !== undefined && now - m.checkedAt < opts.validIntervalMs) return;
    try {
      await m.lazy.probe();
    } catch (e) {
      throw new SociError(`Cannot reach the blob of layer ${m.info.digest}: ${e instanceof Error ? e.message : String(e)}`, {
        cause: e, hint: "Its spans not fetched yet could not be read; check the registry and the network",
      });
    }
    m.checkedAt = now;
  }

  /** Figures of every layer this manager mounted or unpacked. */
  stats(): LayerStats[] {
    const zero = { spanCount: 0, spansFetched: 0, spansFromCache: 0, spansRefused: 0, bytesFetched: 0, fetchRequests: 0, fetchErrors: 0, uncompressedBytesServed: 0, prefetchedSpans: 0 };
    const out: LayerStats[] = [];
    for (const m of this.#mounted.values()) {
      const s = m.lazy?.stats();
      out.push({ ...m.info, ...zero, ...(s ?? {}), complete: s?.complete ?? false });
    }
    for (const u of this.#unpacked) out.push({ ...u, ...zero, bytesFetched: u.reused ? 0 : u.size, complete: true });
    return out;
  }

  /** The FUSE mounts currently served (for callers that watch them). */
  fuseMounts(): FuseMount[] {
    return [...this.#mounted.values()].flatMap((m) => (m.lazy ? [m.lazy.fuse] : []));
  }

  /**
   * Restart (§12.1): removes mounts left at `dirs` by a daemon that died
   * (ENOTCONN); live mounts are left alone unless `force`. Returns the dirs cleaned.
   */
  async restore(dirs: string[], opts: { force?: boolean } = {}): Promise<string[]> {
    const cleaned: string[] = [];
    for (const d of dirs) if ((await cleanupStaleMount(d, opts)) === "cleaned") cleaned.push(d);
    return cleaned;
  }

  /** What mountLazyLayer does about the layer's prefetch artifact: fetch its ranges, or only report why not. */
  #prefetchPlan(l: ResolvedLayer): Pick<LazyLayerOptions, "prefetch" | "prefetchNote"> {
    if (l.prefetchDescriptor === undefined) return {};
    if (!this.#opts.prefetch?.enable) return { prefetchNote: `not used: the SOCI index has prefetch artifact ${l.prefetchDescriptor.digest}, but prefetch is off` };
    if (l.prefetchSpans !== undefined) return { prefetch: { ranges: l.prefetchSpans, maxConcurrency: this.#opts.prefetch.maxConcurrency ?? 0 } };
    return { prefetchNote: l.prefetchIgnored ?? `not used: prefetch artifact ${l.prefetchDescriptor.digest} was not loaded when the image was resolved` };
  }

  #limiter(host: string): FetchLimiter {
    let l = this.#limiters.get(host);
    if (l === undefined) this.#limiters.set(host, (l = new FetchLimiter(Math.max(1, this.#opts.maxConcurrentFetches ?? 6))));
    return l;
  }

  #backgroundFetcher(): BackgroundFetcher {
    if (this.#fetcher === null) {
      this.#fetcher = new BackgroundFetcher({
        idleMs: this.#opts.backgroundSilenceMs ?? 30_000,
        periodMs: this.#opts.backgroundPeriodMs ?? 500,
        maxQueueSize: this.#opts.backgroundMaxQueue ?? 300,
        dropPolicy: this.#opts.backgroundDropPolicy ?? "newest",
        ...(this.#opts.log ? { log: this.#opts.log } : {}),
      });
      this.#fetcher.start();
    }
    return this.#fetcher;
  }

  /** Stops background fetching, then unmounts every lazy layer. */
  async close(): Promise<void> {
    await this.#fetcher?.stop();
    this.#fetcher = null;
    await Promise.allSettled([...this.#mounted.keys()].map((d) => this.unmountLayer(d)));
  }
}

export function hexOf(digest: string): string {
  const i = digest.indexOf(":");
  return i < 0 ? digest : digest.slice(i + 1);
}
