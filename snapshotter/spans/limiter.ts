/**
 * `FetchLimiter`: at most `max` range requests in flight at once, shared by
 * every span manager that talks to one registry (snapshotter §9: several files
 * read at once fetch their spans concurrently, but a cold start must not open
 * dozens of connections that then share one link and all finish late).
 * Waiters are served first come, first served, except that urgent ones (a
 * reader is waiting) go ahead of read-ahead and background work; one that
 * aborts while queued leaves the queue and never takes a slot.
 *
 * Not here: what to fetch (span_manager.ts), retries (registry/).
 */

interface Waiter {
  go: () => void;
  fail: (e: unknown) => void;
  signal?: AbortSignal;
  onAbort?: () => void;
  urgent: boolean;
}

export class FetchLimiter {
  readonly max: number;
  #active = 0;
  #queue: Waiter[] = [];

  /** Throws RangeError unless `max` is a positive integer. */
  constructor(max: number) {
    if (!(Number.isSafeInteger(max) && max > 0)) throw new RangeError(`max ${max} must be a positive integer`);
    this.max = max;
  }

  /** Requests running now. */
  get active(): number {
    return this.#active;
  }

  /** Requests waiting for a slot. */
  get queued(): number {
    return this.#queue.length;
  }

  /**
   * Runs `fn` once a slot is free (`urgent`: ahead of non-urgent waiters) and frees the slot when it settles. Rejects
   * with the signal's reason (without running `fn`) when aborted while queued,
   * otherwise with whatever `fn` rejects with.
   */
  async run<T>(fn: () => Promise<T>, signal?: AbortSignal, urgent = false): Promise<T> {
    signal?.throwIfAborted();
    if (this.#active >= this.max) await this.#wait(signal, urgent);
    else this.#active++;
    try {
      return await fn();
    } finally {
      this.#release();
    }
  }

  /** Resolves holding a slot (the releaser hands its slot over). */
  #wait(signal: AbortSignal | undefined, urgent: boolean): Promise<void> {
    return new Promise<void>((go, fail) => {
      const entry: Waiter = { go, fail, signal, urgent };
      if (signal !== undefined) {
        entry.onAbort = () => {
          const i = this.#queue.indexOf(entry);
          if (i >= 0) this.#queue.splice(i, 1);
          fail(signal.reason);
        };
        signal.addEventListener("abort", entry.onAbort, { once: true });
      }
      // Urgent (a reader waits): ahead of every non-urgent waiter, behind earlier urgent ones.
      if (urgent) {
        const i = this.#queue.findIndex((q) => !q.urgent);
        this.#queue.splice(i < 0 ? this.#queue.length : i, 0, entry);
      } else this.#queue.push(entry);
    });
  }

  #release(): void {
    const next = this.#queue.shift();
    if (next === undefined) {
      this.#active--;
      return;
    }
    if (next.onAbort) next.signal!.removeEventListener("abort", next.onAbort);
    next.go(); // the slot passes on: #active is unchanged
  }
}
