/**
 * SpanManager: uncompressed reads of one lazily fetched layer (snapshotter §9,
 * formats §4.5–§6).
 *
 *   read [a, b) → spans spanFor(a) … spanFor(b − 1)
 *     per span: decoded-span LRU (RAM) → being written to the cache (RAM)
 *       → the cache's range read of just [a, b) ∩ span (no whole-span load)
 *       → in-flight fill (shared) → new fill
 *   fill: SpanCache look-ups → absent spans grouped into runs of adjacent spans
 *     (≤ maxCoalesceBytes compressed) → ONE range request per run → split per
 *     span → SHA-256 against the zTOC's span digest → inflate from the span's
 *     checkpoint (gzip; a tar span's bytes are its data) → waiters, then
 *     cache.put off the reply path (flush() waits for those writes)
 *   range requests: at most `limiter.max` in flight (a FetchLimiter shared by
 *     the layers of one registry); the runs of one fill go concurrently
 *
 * Every span is in one of three states: absent, in flight (one shared
 * Deferred; later readers wait on it, so N readers cost one request), present
 * (in the cache, or only in the RAM LRU when there is no cache). A failed fill
 * rejects all its waiters and leaves the span absent, so the next read tries
 * again. A fill is cancelled only when every reader waiting on it has aborted
 * (FillGroup), so one reader's abort never fails another's read.
 *
 * Deviations from upstream, on purpose: there is no "fetched" (compressed in
 * cache) state — background fetches store uncompressed spans too, so a later
 * read costs no inflate; a span failing its digest is refetched `retries`
 * times (default 2) before the read fails; a read ending on a span boundary
 * does not touch the next span (§9.3 note).
 *
 * Not here: FUSE (layerfs/), scheduling background work (fetcher/), HTTP
 * retries (registry/, behind the RangeFetcher).
 */
import { sha256Digest } from "../../core-wasm/src/bytes/mod.ts";
import { FailedPreconditionError, FormatError, SociError } from "../../core-wasm/src/errors.ts";
import { inflateSpan, type GzipZinfo, type SpanTable } from "../../core-wasm/src/gzip/mod.ts";
import { ztocSpans, type Ztoc } from "../../core-wasm/src/ztoc/mod.ts";
import type { SpanCache } from "./cache.ts";
import type { FetchLimiter } from "./limiter.ts";
import { coalesceRuns, digestError, fetchError } from "./_span_helpers.ts";
import type { RangeFetcher, SpanManagerOptions, SpanStats } from "./types.ts";
import { deferred, FillGroup, Lru, withSignal, type Deferred } from "./_waiters.ts";

interface Inflight {
  d: Deferred<Uint8Array>;
  group: FillGroup;
}

const DEFAULT_COALESCE = 16 * 1024 * 1024;

export class SpanManager {
  readonly spanCount: number;
  readonly layerDigest: string;
  readonly #z: Ztoc;
  readonly #table: SpanTable;
  readonly #gzip: GzipZinfo | null;
  readonly #limit: number;
  readonly #fetch: RangeFetcher;
  readonly #cache: SpanCache | undefined;
  readonly #limiter: FetchLimiter | undefined;
  /** Verified spans whose cache write is in flight: served from here until it lands. */
  readonly #writing = new Map<number, Uint8Array>();
  readonly #writes = new Set<Promise<void>>();
  readonly #maxCoalesce: number;
  readonly #retries: number;
  readonly #log: (line: string) => void;
  readonly #mem: Lru<number, Uint8Array>;
  readonly #inflight = new Map<number, Inflight>();
  readonly #readListeners = new Set<() => void>();
  #closed = false;
  readonly #stats: Omit<SpanStats, "complete" | "layerDigest" | "spanCount"> = {
    spansFetched: 0, spansFromCache: 0, spansRefused: 0, bytesFetched: 0, fetchRequests: 0, fetchErrors: 0,
    uncompressedBytesServed: 0, spansFromMemory: 0,
  };

  /** Throws FormatError when the zTOC's zinfo or span digests are unusable. */
  constructor(opts: SpanManagerOptions) {
    const { table, gzip } = ztocSpans(opts.ztoc);
    this.#z = opts.ztoc;
    this.#table = table;
    this.#gzip = gzip;
    this.spanCount = table.spanCount;
    this.layerDigest = opts.layerDigest;
    // Tar spans are slices of the blob itself (formats §6): its size bounds reads.
    this.#limit = gzip !== null ? opts.ztoc.uncompressedArchiveSize : opts.ztoc.compressedArchiveSize;
    this.#fetch = opts.fetch;
    this.#cache = opts.cache;
    this.#limiter = opts.limiter;
    this.#maxCoalesce = opts.maxCoalesceBytes ?? DEFAULT_COALESCE;
    this.#retries = Math.max(0, opts.retries ?? 2);
    this.#log = opts.log ?? (() => undefined);
    this.#mem = new Lru(opts.memorySpans ?? 4);
    // formats §4.6: upstream refuses to mount a layer whose spans do not strictly advance.
    for (let i = 0; i + 1 < this.spanCount; i++) {
      const [cs, ce] = table.compressedRange(i);
      const [us, ue] = this.#spanRange(i);
      if (!(cs < ce && us < ue)) {
        throw new FormatError(
          `Cannot use the zTOC of layer ${JSON.stringify(opts.layerDigest)}: span ${i} has compressed range [${cs}, ${ce}) and uncompressed range [${us}, ${ue})`,
          { source: opts.layerDigest },
          { hint: "Spans must strictly advance (formats §4.6); rebuild the SOCI index with soci-ts" },
        );
      }
    }
  }

  /** Uncompressed size readable through this manager. */
  get size(): number {
    return this.#limit;
  }

  /**
   * [offset, offset + length) of the uncompressed layer, clamped at its end
   * (empty past it). The result is a new array the caller owns. Throws
   * RangeError for negative/non-integer arguments, FailedPreconditionError
   * after close(), the signal's reason when aborted, FormatError when a span
   * keeps failing its digest or does not inflate, RegistryError/SociError
   * (wrapping the fetcher's error) when a range request fails.
   */
  async read(uncompressedOffset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    if (!(Number.isSafeInteger(uncompressedOffset) && uncompressedOffset >= 0 && Number.isSafeInteger(length) && length >= 0)) {
      throw new RangeError(`offset ${uncompressedOffset} and length ${length} must be non-negative integers`);
    }
    this.#checkOpen();
    const end = Math.min(uncompressedOffset + length, this.#limit);
    if (uncompressedOffset >= end) return new Uint8Array(0);
    const out = new Uint8Array(end - uncompressedOffset);
    const copy = (id: number, data: Uint8Array) => {
      const [us] = this.#spanRange(id);
      const a = Math.max(uncompressedOffset, us);
      const b = Math.min(end, us + data.length);
      out.set(data.subarray(a - us, b - us), a - uncompressedOffset);
    };
    const cache = this.#cache;
    // A cache hit reads just the wanted bytes into `out` (see the module header).
    const direct = cache?.readInto === undefined ? undefined : (id: number): boolean => {
      const [us, ue] = this.#spanRange(id);
      const a = Math.max(uncompressedOffset, us);
      const b = Math.min(end, ue);
      return cache.readInto!(this.#key(id), a - us, out.subarray(a - uncompressedOffset, b - uncompressedOffset));
    };
    const waits = this.#acquire(this.#table.spanFor(uncompressedOffset), this.#table.spanFor(end - 1), true, copy, direct);
    await this.#wait(waits, signal, () => {
      for (const fn of this.#readListeners) fn(); // after joining, so a cancelled background fill spares our spans
    });
    this.#stats.uncompressedBytesServed += out.length;
    return out;
  }

  /**
   * Makes the given spans present (fetch, verify, inflate, cache) without
   * returning data or filling the RAM LRU. Spans already present are skipped.
   * Throws RangeError for a bad span id and the errors of read().
   */
  async prefetch(spanIds: number[], signal?: AbortSignal): Promise<void> {
    this.#checkOpen();
    for (const id of spanIds) {
      if (!(Number.isInteger(id) && id >= 0 && id < this.spanCount)) throw new RangeError(`span ${id} outside 0..${this.spanCount - 1}`);
    }
    const ids = [...new Set(spanIds)].filter((id) => !this.isPresent(id)).sort((a, b) => a - b);
    const waits: Array<[Inflight, number]> = [];
    // Contiguous id runs become separate acquisitions so each can coalesce.
    for (let i = 0; i < ids.length; ) {
      let j = i;
      while (j + 1 < ids.length && ids[j + 1] === ids[j] + 1) j++;
      waits.push(...this.#acquire(ids[i], ids[j], false, () => undefined));
      i = j + 1;
    }
    await this.#wait(waits, signal);
  }

  /** Whether span `id` can be served without a range request (RAM LRU or cache). */
  isPresent(spanId: number): boolean {
    if (this.#mem.has(spanId) || this.#writing.has(spanId)) return true;
    if (this.#cache === undefined) return false;
    return this.#cache.has ? this.#cache.has(this.#key(spanId)) : this.#present.has(spanId);
  }

  stats(): SpanStats {
    let complete = true;
    for (let i = 0; i < this.spanCount && complete; i++) complete = this.isPresent(i);
    return { layerDigest: this.layerDigest, spanCount: this.spanCount, ...this.#stats, complete };
  }

  /** Calls `fn` at the start of every non-empty read (the background fetcher backs off). Returns an unsubscribe function. */
  onRead(fn: () => void): () => void {
    this.#readListeners.add(fn);
    return () => this.#readListeners.delete(fn);
  }

  /** Resolves when every cache write started so far has landed (or failed and been logged). Never rejects. */
  async flush(): Promise<void> {
    while (this.#writes.size > 0) await Promise.all(this.#writes);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Cancels fills in flight (their readers get FailedPreconditionError), drops RAM spans; the cache is kept. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const why = new FailedPreconditionError(`Cannot read layer ${JSON.stringify(this.layerDigest)}: its span manager was closed`);
    for (const { group } of this.#inflight.values()) group.ctrl.abort(why);
    this.#mem.clear();
    this.#readListeners.clear();
  }

  /** Spans stored through a cache without has(). */
  readonly #present = new Set<number>();

  #checkOpen(): void {
    if (this.#closed) throw new FailedPreconditionError(`Cannot read layer ${JSON.stringify(this.layerDigest)}: its span manager was closed`);
  }

  #key(id: number): string {
    return `${this.layerDigest}/${id}`;
  }

  /** Uncompressed [start, end) of span `id` as served (a tar span is its blob slice). */
  #spanRange(id: number): [number, number] {
    return this.#gzip !== null ? this.#table.uncompressedRange(id) : this.#table.compressedRange(id);
  }

  /**
   * For spans first..last: RAM hits go to `use` now; the rest become waits on
   * an in-flight fill (joining one, or starting one for all unclaimed spans).
   */
  #acquire(
    first: number, last: number, keepInMemory: boolean, use: (id: number, data: Uint8Array) => void, direct?: (id: number) => boolean,
  ): Array<[Inflight, number]> {
    const waits: Array<[Inflight, number]> = [];
    const claimed: number[] = [];
    let group: FillGroup | undefined;
    for (let id = first; id <= last; id++) {
      const hit = keepInMemory ? this.#mem.get(id) : undefined;
      if (hit !== undefined) {
        this.#stats.spansFromMemory++;
        use(id, hit);
        continue;
      }
      const written = keepInMemory ? this.#writing.get(id) : undefined;
      if (written !== undefined) {
        this.#stats.spansFromMemory++;
        use(id, written);
        continue;
      }
      let f = this.#inflight.get(id);
      if (f === undefined && direct !== undefined && direct(id)) {
        this.#stats.spansFromCache++;
        continue;
      }
      // A cancelled fill (all its readers aborted) is not joined: its spans are claimed afresh.
      if (f === undefined || f.group.ctrl.signal.aborted) {
        group ??= new FillGroup(keepInMemory); // a read's fill is urgent, a prefetch's is not
        f = { d: deferred(), group };
        this.#inflight.set(id, f);
        claimed.push(id);
      }
      f.d.promise.then((data) => use(id, data), () => undefined);
      waits.push([f, id]);
    }
    if (group !== undefined) void this.#fill(claimed, group, keepInMemory);
    return waits;
  }

  async #wait(waits: Array<[Inflight, number]>, signal: AbortSignal | undefined, joined?: () => void): Promise<void> {
    const groups = new Set(waits.map(([f]) => f.group));
    for (const g of groups) g.join();
    joined?.();
    await withSignal(Promise.all(waits.map(([f]) => f.d.promise)), signal, () => {
      for (const g of groups) g.leave();
    });
  }

  /** Settles span `id` if `group` still owns it (a later fill may own a new entry for the same id). */
  #resolve(group: FillGroup, id: number, data: Uint8Array, keepInMemory: boolean): void {
    const f = this.#inflight.get(id);
    if (f === undefined || f.group !== group) return;
    if (keepInMemory && !this.#closed) this.#mem.set(id, data);
    this.#inflight.delete(id);
    f.d.resolve(data);
  }

  #reject(group: FillGroup, id: number, e: unknown): void {
    const f = this.#inflight.get(id);
    if (f === undefined || f.group !== group) return;
    this.#inflight.delete(id);
    f.d.reject(e);
  }

  /** Cache look-ups, then coalesced fetches; settles every claimed span. Never throws. */
  async #fill(ids: number[], group: FillGroup, keepInMemory: boolean): Promise<void> {
    try {
      let absent = ids;
      if (this.#cache !== undefined) {
        const cache = this.#cache;
        const found = await Promise.all(ids.map((id) => cache.get(this.#key(id)).catch(() => null)));
        absent = [];
        ids.forEach((id, k) => {
          const [us, ue] = this.#spanRange(id);
          const b = found[k];
          if (b !== null && b.length === ue - us) {
            this.#stats.spansFromCache++;
            this.#present.add(id);
            this.#resolve(group, id, b, keepInMemory);
          } else absent.push(id);
        });
      }
      await Promise.all(coalesceRuns(absent, this.#table, this.#maxCoalesce).map((run) => this.#fetchRun(run, group, keepInMemory)));
      // Every path above settles its spans; this only guards against a waiter hanging forever.
      for (const id of ids) this.#reject(group, id, new SociError(`Cannot read span ${id} of layer ${JSON.stringify(this.layerDigest)}: internal error, the span was never settled`));
    } catch (e) {
      for (const id of ids) this.#reject(group, id, e);
    }
  }

  /** One range request per run of adjacent spans; spans refused by digest are refetched (up to `retries` times). */
  async #fetchRun(run: number[], group: FillGroup, keepInMemory: boolean): Promise<void> {
    let todo = run;
    const refusedBefore = new Set<number>();
    for (let attempt = 1; todo.length > 0; attempt++) {
      const refused: number[] = [];
      for (const sub of coalesceRuns(todo, this.#table, this.#maxCoalesce)) {
        const start = this.#table.compressedRange(sub[0])[0];
        const end = this.#table.compressedRange(sub[sub.length - 1])[1];
        const bytes = await this.#fetchRange(group, sub, start, end);
        if (bytes === null) continue;
        for (const id of sub) {
          const [cs, ce] = this.#table.compressedRange(id);
          const piece = bytes.subarray(cs - start, ce - start);
          const digest = sha256Digest(piece);
          if (digest !== this.#z.spanDigests[id]) {
            this.#stats.spansRefused++;
            if (!refusedBefore.has(id)) {
              refusedBefore.add(id);
              this.#log(`refused span ${id} of layer ${this.layerDigest}: compressed bytes [${cs}, ${ce}) have digest ${digest}, the zTOC says ${this.#z.spanDigests[id]}; refetching`);
            }
            if (attempt > this.#retries) this.#reject(group, id, this.#digestError(id, cs, ce, digest, attempt));
            else refused.push(id);
            continue;
          }
          await this.#store(group, id, piece, keepInMemory);
        }
      }
      todo = refused;
    }
  }

  /** The bytes, or null after rejecting the run's spans (fetch failed or wrong length). */
  async #fetchRange(group: FillGroup, sub: number[], start: number, end: number): Promise<Uint8Array | null> {
    const signal = group.ctrl.signal;
    const what = `span${sub.length > 1 ? `s ${sub[0]}-${sub[sub.length - 1]}` : ` ${sub[0]}`} of layer ${JSON.stringify(this.layerDigest)}`;
    this.#stats.fetchRequests++;
    let bytes: Uint8Array;
    try {
      if (signal.aborted) throw signal.reason;
      bytes = this.#limiter !== undefined ? await this.#limiter.run(() => this.#fetch(start, end, signal), signal, group.urgent) : await this.#fetch(start, end, signal);
    } catch (e) {
      if (signal.aborted) {
        for (const id of sub) this.#reject(group, id, signal.reason);
        return null;
      }
      this.#stats.fetchErrors++;
      const err = fetchError(what, start, end, e);
      this.#log(err.message);
      for (const id of sub) this.#reject(group, id, err);
      return null;
    }
    this.#stats.bytesFetched += bytes.length;
    if (bytes.length !== end - start) {
      this.#stats.fetchErrors++;
      const err = new SociError(`Cannot fetch ${what}: asked for compressed bytes [${start}, ${end}) and got ${bytes.length} bytes`, {
        hint: "The registry's blob is shorter than the zTOC says; check the layer digest",
      });
      this.#log(err.message);
      for (const id of sub) this.#reject(group, id, err);
      return null;
    }
    return bytes;
  }

  /** Inflate (gzip) or copy (tar) a verified span, cache it, hand it to the waiters. */
  async #store(group: FillGroup, id: number, compressed: Uint8Array, keepInMemory: boolean): Promise<void> {
    const [us, ue] = this.#spanRange(id);
    let data: Uint8Array;
    try {
      data = this.#gzip !== null ? inflateSpan(this.#gzip.checkpoints[id], compressed, 0, ue - us) : compressed.slice();
    } catch (e) {
      this.#reject(group, id, new FormatError(
        `Cannot inflate span ${id} of layer ${JSON.stringify(this.layerDigest)}: ${e instanceof Error ? e.message : String(e)}`,
        { source: this.layerDigest, uncompressedOffset: us },
        { cause: e, hint: "The span matches its digest but does not decompress: the zTOC is wrong for this layer; rebuild the SOCI index" },
      ));
      return;
    }
    this.#stats.spansFetched++;
    const cache = this.#cache;
    if (cache !== undefined && !this.#closed) {
      // The waiters are answered first; the write lands later (flush() waits for it).
      this.#writing.set(id, data);
      const w: Promise<void> = cache.put(this.#key(id), data).then(
        () => {
          this.#present.add(id);
        },
        (e) => {
          // Handled: the data is verified and was served; only later reads pay a refetch.
          this.#log(`could not cache span ${id} of layer ${this.layerDigest}: ${e instanceof Error ? e.message : String(e)}`);
        },
      ).finally(() => {
        if (this.#writing.get(id) === data) this.#writing.delete(id);
        this.#writes.delete(w);
      });
      this.#writes.add(w);
    }
    this.#resolve(group, id, data, keepInMemory);
  }

  #digestError(id: number, cs: number, ce: number, digest: string, attempts: number): FormatError {
    const err = digestError(this.layerDigest, id, cs, ce, digest, this.#z.spanDigests[id], attempts);
    this.#log(err.message);
    return err;
  }
}
