/**
 * BackgroundFetcher (snapshotter §10): while no foreground read has happened
 * for `idleMs`, walk the registered layers round-robin and make their absent
 * spans present in order 0, 1, 2, … a few at a time (one coalesced request
 * per batch), under a global byte-rate limit.
 *
 * Foreground first: any read on a registered SpanManager (or a call to
 * noteForegroundActivity) pauses the loop for `idleMs` and cancels the batch
 * in flight unless a foreground read is waiting on the same spans (the span
 * manager only cancels a fill nobody needs). Each layer is walked once with a
 * cursor; a layer whose batch fails is dropped with a log line (as upstream
 * stops a layer on its first error), and can be added again.
 *
 * Differences from upstream, on purpose: spans are stored uncompressed (the
 * span manager has no "fetched" state), the limit is bytes/second rather than
 * one span per 500 ms (`periodMs` spaces batches as fetch_period_msec
 * does). The queue holds one entry per layer, at most `maxQueueSize`
 * (`max_queue_size`, −1 unbounded); when it is full `dropPolicy`
 * (`drop_policy`) "newest" leaves the layer being added out, "oldest" drops
 * the head to make room — a log line either way, never a blocked mount
 * (snapshotter §10). Callers pass the
 * config's silence period as `idleMs` (snapshotter §10: 30 s), so nothing
 * starts while a container is still paging its first files in.
 *
 * Not here: fetching, verifying, caching (spans/).
 */
import type { SpanManager } from "../spans/mod.ts";

export interface BackgroundFetcherOptions {
  /** Quiet time after the last foreground read before background work resumes. Default 1000 ms. */
  idleMs?: number;
  /** Compressed bytes per second across all layers; 0 or absent = unlimited. */
  maxBytesPerSecond?: number;
  /** Least time between the starts of two batches (`fetch_period_msec`). Default 0. */
  periodMs?: number;
  /** Spans per background batch (one request when adjacent). Default 4. */
  batchSpans?: number;
  /** `background_fetch.disable`: start() does nothing. */
  disabled?: boolean;
  /** Layers queued at most (`max_queue_size`); −1 or absent = unbounded. */
  maxQueueSize?: number;
  /** What `add` does on a full queue (`drop_policy`): "newest" (default) leaves the new layer out, "oldest" drops the head. */
  dropPolicy?: "newest" | "oldest";
  log?: (line: string) => void;
}

interface Entry {
  m: SpanManager;
  cursor: number;
  unsubscribe: () => void;
}

export class BackgroundFetcher {
  readonly #idleMs: number;
  readonly #rate: number;
  readonly #batch: number;
  readonly #period: number;
  readonly #disabled: boolean;
  readonly #maxQueue: number;
  readonly #dropPolicy: "newest" | "oldest";
  readonly #log: (line: string) => void;
  #queue: Entry[] = [];
  #lastForeground = 0;
  #running = false;
  #loop: Promise<void> | null = null;
  #current: { entry: Entry; ctrl: AbortController } | null = null;
  #wake: (() => void) | null = null;
  #sleepCtrl: AbortController | null = null;
  /** Earliest time the next batch may start (rate limit). */
  #notBefore = 0;

  constructor(opts: BackgroundFetcherOptions = {}) {
    this.#idleMs = opts.idleMs ?? 1000;
    this.#rate = opts.maxBytesPerSecond ?? 0;
    this.#batch = Math.max(1, opts.batchSpans ?? 4);
    this.#period = Math.max(0, opts.periodMs ?? 0);
    this.#disabled = opts.disabled === true;
    this.#maxQueue = opts.maxQueueSize !== undefined && opts.maxQueueSize >= 0 ? opts.maxQueueSize : Infinity;
    this.#dropPolicy = opts.dropPolicy ?? "newest";
    this.#log = opts.log ?? (() => undefined);
  }

  /**
   * Registers a layer (and pauses background work for idleMs); its reads count
   * as foreground activity. Adding twice is a no-op. Returns false when the
   * full queue left it out (drop policy "newest").
   */
  add(m: SpanManager): boolean {
    if (this.#queue.some((e) => e.m === m)) return true;
    if (this.#queue.length >= this.#maxQueue) {
      if (this.#dropPolicy === "newest" || this.#queue.length === 0) {
        this.#log(`background fetch queue full (${this.#queue.length} layers): layer ${m.layerDigest} is not queued (drop_policy newest); its spans are fetched when read`);
        return false;
      }
      const head = this.#queue[0];
      this.#drop(0);
      if (this.#current?.entry === head) this.#current.ctrl.abort(new DOMException("dropped from a full queue", "AbortError"));
      this.#log(`background fetch queue full: layer ${head.m.layerDigest} dropped (drop_policy oldest) to queue layer ${m.layerDigest}`);
    }
    const unsubscribe = m.onRead(() => this.noteForegroundActivity());
    this.#queue.push({ m, cursor: 0, unsubscribe });
    this.noteForegroundActivity(); // a new mount is about to be read: pause as upstream does (§10)
    this.#wake?.();
    return true;
  }

  /** Unregisters a layer, cancelling its batch in flight. */
  remove(m: SpanManager): void {
    const i = this.#queue.findIndex((e) => e.m === m);
    if (i >= 0) this.#drop(i);
    if (this.#current?.entry.m === m) this.#current.ctrl.abort(new DOMException("layer removed", "AbortError"));
  }

  /** Layers still queued (for tests and status). */
  get pending(): number {
    return this.#queue.length;
  }

  start(): void {
    if (this.#disabled || this.#running) return;
    this.#running = true;
    this.#loop = this.#run();
  }

  /** Stops the loop, cancels the batch in flight and resolves when the loop has ended. */
  async stop(): Promise<void> {
    this.#running = false;
    this.#current?.ctrl.abort(new DOMException("background fetcher stopped", "AbortError"));
    this.#sleepCtrl?.abort();
    this.#wake?.();
    await this.#loop;
    this.#loop = null;
  }

  /** Readers call this so background work yields to them for `idleMs`. */
  noteForegroundActivity(): void {
    this.#lastForeground = Date.now();
    this.#current?.ctrl.abort(new DOMException("foreground read", "AbortError"));
  }

  #drop(i: number): void {
    this.#queue[i].unsubscribe();
    this.#queue.splice(i, 1);
  }

  async #run(): Promise<void> {
    while (this.#running) {
      const quiet = this.#lastForeground + this.#idleMs - Date.now();
      const wait = Math.max(quiet, this.#notBefore - Date.now());
      if (wait > 0) {
        await this.#sleep(wait);
        continue;
      }
      const entry = this.#queue.shift();
      if (entry === undefined) {
        await new Promise<void>((ok) => (this.#wake = ok));
        this.#wake = null;
        continue;
      }
      const ids = this.#nextBatch(entry);
      if (ids.length === 0) {
        entry.unsubscribe();
        this.#log(`background fetch of layer ${entry.m.layerDigest} ${entry.m.closed ? "dropped: the layer was closed" : "done"}`);
        continue;
      }
      this.#queue.push(entry); // round-robin: back to the tail before the batch runs
      await this.#fetchBatch(entry, ids);
    }
  }

  /** Up to `batch` absent spans from the cursor on (cursor moves past present ones). */
  #nextBatch(e: Entry): number[] {
    if (e.m.closed) return [];
    while (e.cursor < e.m.spanCount && e.m.isPresent(e.cursor)) e.cursor++;
    const ids: number[] = [];
    for (let id = e.cursor; id < e.m.spanCount && ids.length < this.#batch; id++) {
      if (!e.m.isPresent(id)) ids.push(id);
    }
    return ids;
  }

  async #fetchBatch(entry: Entry, ids: number[]): Promise<void> {
    const ctrl = new AbortController();
    this.#current = { entry, ctrl };
    this.#notBefore = Math.max(this.#notBefore, Date.now() + this.#period);
    const before = entry.m.stats().bytesFetched;
    try {
      await entry.m.prefetch(ids, ctrl.signal);
      entry.cursor = ids[ids.length - 1] + 1;
    } catch (e) {
      if (!ctrl.signal.aborted && !entry.m.closed) {
        // Handled as upstream does: this layer stops; foreground reads still fetch on demand.
        this.#log(`background fetch of layer ${entry.m.layerDigest} stopped at span ${ids[0]}: ${e instanceof Error ? e.message : String(e)}`);
        const i = this.#queue.indexOf(entry);
        if (i >= 0) this.#drop(i);
      }
    } finally {
      this.#current = null;
    }
    if (this.#rate > 0) {
      const spent = entry.m.stats().bytesFetched - before;
      this.#notBefore = Math.max(this.#notBefore, Date.now()) + (spent * 1000) / this.#rate;
    }
  }

  #sleep(ms: number): Promise<void> {
    const ctrl = new AbortController();
    this.#sleepCtrl = ctrl;
    return new Promise<void>((ok) => {
      const t = setTimeout(ok, ms);
      ctrl.signal.addEventListener("abort", () => {
        clearTimeout(t);
        ok();
      }, { once: true });
    }).finally(() => {
      if (this.#sleepCtrl === ctrl) this.#sleepCtrl = null;
    });
  }
}
