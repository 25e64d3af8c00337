import { test } from "node:test";
import assert from "node:assert/strict";
import { backoffMs, Limiter, mapConcurrent, parseRetryAfter } from "./retry.ts";

const policy = { maxRetries: 8, minWaitMs: 30, maxWaitMs: 1000 };

test("backoffMs() doubles from minWaitMs, caps at maxWaitMs, adds at most 12.5 % jitter", () => {
  assert.deepEqual([0, 1, 2, 3].map((n) => backoffMs(policy, n, undefined, () => 0)), [30, 60, 120, 240]);
  assert.equal(backoffMs(policy, 20, undefined, () => 0), 1000);
  assert.equal(backoffMs(policy, 0, undefined, () => 0.999999), Math.round(30 * (1 + 0.999999 * 0.125)));
  assert.equal(backoffMs(policy, 0, 5000, () => 0), 1000, "Retry-After is capped too");
  assert.equal(backoffMs(policy, 5, 200, () => 0), 200, "Retry-After wins over the exponential wait");
});

test("parseRetryAfter() reads seconds and HTTP dates and ignores junk", () => {
  assert.equal(parseRetryAfter("3"), 3000);
  assert.equal(parseRetryAfter(" 0 "), 0);
  const now = Date.parse("Wed, 21 Oct 2015 07:28:00 GMT");
  assert.equal(parseRetryAfter("Wed, 21 Oct 2015 07:28:05 GMT", now), 5000);
  assert.equal(parseRetryAfter("Wed, 21 Oct 2015 07:27:00 GMT", now), 0);
  assert.equal(parseRetryAfter("soon"), undefined);
  assert.equal(parseRetryAfter(null), undefined);
});

test("mapConcurrent() keeps order and never exceeds maxConcurrent", async () => {
  let active = 0;
  let peak = 0;
  const out = await mapConcurrent([5, 1, 4, 2, 3, 0], 2, async (x) => {
    peak = Math.max(peak, ++active);
    await new Promise((r) => setTimeout(r, x));
    active--;
    return x * 10;
  });
  assert.deepEqual(out, [50, 10, 40, 20, 30, 0]);
  assert.equal(peak, 2);
});

test("mapConcurrent() stops starting work after the first failure and throws it", async () => {
  const started: number[] = [];
  await assert.rejects(
    mapConcurrent([0, 1, 2, 3, 4, 5], 1, async (x) => {
      started.push(x);
      if (x === 2) throw new Error("boom");
      return x;
    }),
    /boom/,
  );
  assert.deepEqual(started, [0, 1, 2]);
  await assert.rejects(mapConcurrent([1], 0, async (x) => x), RangeError);
});

test("Limiter runs at most maxConcurrent calls and hands slots to waiters in order", async () => {
  const lim = new Limiter(2);
  let active = 0;
  let peak = 0;
  const order: number[] = [];
  await Promise.all(
    [0, 1, 2, 3, 4].map((i) =>
      lim.run(async () => {
        peak = Math.max(peak, ++active);
        order.push(i);
        await new Promise((r) => setTimeout(r, 5));
        active--;
      }),
    ),
  );
  assert.equal(peak, 2);
  assert.deepEqual(order, [0, 1, 2, 3, 4]);
});
