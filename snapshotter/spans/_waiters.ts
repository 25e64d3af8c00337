/**
 * Small helpers for span_manager.ts: a deferred promise, a fill group that
 * counts its waiters (so an abort cancels a fetch only when nobody needs it
 * any more), a decoded-span LRU and waiting on a promise with an AbortSignal.
 */

export interface Deferred<T> {
  promise: Promise<T>;
  resolve(v: T): void;
  reject(e: unknown): void;
  settled: boolean;
}

export function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((ok, fail) => {
    resolve = ok;
    reject = fail;
  });
  promise.catch(() => undefined); // a span nobody waits for any more must not be an unhandled rejection
  const d: Deferred<T> = {
    promise,
    settled: false,
    resolve(v) {
      d.settled = true;
      resolve(v);
    },
    reject(e) {
      d.settled = true;
      reject(e);
    },
  };
  return d;
}

/** One fill (cache look-ups + range fetches) shared by every read that needs one of its spans. */
export class FillGroup {
  readonly ctrl = new AbortController();
  #waiters = 0;
  /** A reader waits on it (its range requests go first), as opposed to a prefetch. */
  constructor(readonly urgent = false) {}

  join(): void {
    this.#waiters++;
  }

  /** A waiter gave up (its read was aborted); the last one leaving cancels the fill. */
  leave(): void {
    if (--this.#waiters <= 0) this.ctrl.abort(new DOMException("no reader needs these spans any more", "AbortError"));
  }
}

/** Least-recently-used map of at most `max` entries. */
export class Lru<K, V> {
  readonly #map = new Map<K, V>();
  constructor(readonly max: number) {}

  get(k: K): V | undefined {
    const v = this.#map.get(k);
    if (v !== undefined) {
      this.#map.delete(k);
      this.#map.set(k, v);
    }
    return v;
  }

  has(k: K): boolean {
    return this.#map.has(k);
  }

  set(k: K, v: V): void {
    if (this.max <= 0) return;
    this.#map.delete(k);
    this.#map.set(k, v);
    for (const key of this.#map.keys()) {
      if (this.#map.size <= this.max) break;
      this.#map.delete(key);
    }
  }

  clear(): void {
    this.#map.clear();
  }
}

/** `p`, or a rejection with the signal's reason as soon as it aborts; `onAbort` runs once if it does. */
export function withSignal<T>(p: Promise<T>, signal: AbortSignal | undefined, onAbort: () => void): Promise<T> {
  if (signal === undefined) return p;
  if (signal.aborted) {
    onAbort();
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((ok, fail) => {
    const abort = () => {
      onAbort();
      fail(signal.reason);
    };
    signal.addEventListener("abort", abort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener("abort", abort);
        ok(v);
      },
      (e) => {
        signal.removeEventListener("abort", abort);
        fail(e);
      },
    );
  });
}
