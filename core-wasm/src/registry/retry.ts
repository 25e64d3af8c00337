/**
 * Retry timing (snapshotter §11.4) and bounded concurrency.
 *
 * Wait before retry n (0-based) = `Retry-After` when the server sent one, else
 * `minWaitMs·2^n`, both capped at `maxWaitMs`, plus 0–12.5 % random jitter so
 * many clients do not retry in lock-step. `maxRetries` retries means up to
 * `maxRetries + 1` attempts.
 */

export interface RetryPolicy {
  /** Retries after the first attempt (default 8). */
  maxRetries: number;
  /** First backoff in ms (default 30). */
  minWaitMs: number;
  /** Cap for one wait in ms, also for Retry-After (default 300000). */
  maxWaitMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxRetries: 8, minWaitMs: 30, maxWaitMs: 300_000 };

/** Milliseconds a `Retry-After` value asks for (delta-seconds or an HTTP date), or undefined. */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (value === null || value === undefined) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  if (Number.isNaN(t)) return undefined;
  return Math.max(0, t - now);
}

/** How long to wait before retry `attempt` (0-based). `random` is injectable for tests. */
export function backoffMs(policy: RetryPolicy, attempt: number, retryAfterMs?: number, random: () => number = Math.random): number {
  const base = retryAfterMs ?? policy.minWaitMs * 2 ** Math.min(attempt, 30);
  const capped = Math.min(base, policy.maxWaitMs);
  return Math.round(capped * (1 + random() * 0.125));
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Runs `fn` over `items` with at most `maxConcurrent` in flight; results keep
 * input order. On the first failure no new items start, running ones finish,
 * and that first error is thrown.
 */
export async function mapConcurrent<T, R>(
  items: readonly T[],
  maxConcurrent: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  if (!(maxConcurrent >= 1)) throw new RangeError(`maxConcurrent must be at least 1, got ${maxConcurrent}`);
  const results = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  let firstError: unknown;
  const worker = async () => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i], i);
      } catch (e) {
        if (!failed) firstError = e;
        failed = true;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(maxConcurrent, items.length) }, worker));
  if (failed) throw firstError;
  return results;
}

/** A shared limit for calls made from many places: `await limiter.run(() => work())`. */
export class Limiter {
  readonly maxConcurrent: number;
  #active = 0;
  #waiting: (() => void)[] = [];

  constructor(maxConcurrent: number) {
    if (!(maxConcurrent >= 1)) throw new RangeError(`maxConcurrent must be at least 1, got ${maxConcurrent}`);
    this.maxConcurrent = maxConcurrent;
  }

  async run<R>(fn: () => Promise<R>): Promise<R> {
    // A finishing call hands its slot straight to the next waiter, so a newcomer cannot overtake.
    if (this.#active >= this.maxConcurrent) await new Promise<void>((r) => this.#waiting.push(r));
    else this.#active++;
    try {
      return await fn();
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#active--;
    }
  }
}
