import { test } from "node:test";
import assert from "node:assert/strict";
import { FetchLimiter } from "./mod.ts";

const tick = () => new Promise<void>((ok) => setImmediate(ok));

test("FetchLimiter runs at most max tasks at once, first come first served", async () => {
  const l = new FetchLimiter(2);
  const opens: Array<() => void> = [];
  const started: number[] = [];
  let running = 0;
  let peak = 0;
  const task = (i: number) => l.run(async () => {
    started.push(i);
    peak = Math.max(peak, ++running);
    await new Promise<void>((ok) => opens.push(ok));
    running--;
    return i;
  });
  const all = Promise.all([0, 1, 2, 3, 4].map(task));
  await tick();
  assert.deepEqual(started, [0, 1]);
  assert.equal(l.active, 2);
  assert.equal(l.queued, 3);
  for (let k = 0; k < 5; k++) {
    opens.shift()!();
    await tick();
  }
  assert.deepEqual(await all, [0, 1, 2, 3, 4]);
  assert.deepEqual(started, [0, 1, 2, 3, 4]);
  assert.equal(peak, 2);
  assert.equal(l.active, 0);
});

test("FetchLimiter: a queued task aborted before its turn never runs and takes no slot; a failing task frees its slot", async () => {
  const l = new FetchLimiter(1);
  let open!: () => void;
  const first = l.run(() => new Promise<string>((ok) => (open = () => ok("first"))));
  const ctrl = new AbortController();
  let ran = false;
  const second = l.run(async () => ((ran = true), "second"), ctrl.signal);
  ctrl.abort(new Error("reader gone"));
  await assert.rejects(second, /reader gone/);
  assert.equal(l.queued, 0);
  open();
  assert.equal(await first, "first");
  assert.equal(ran, false);
  await assert.rejects(l.run(async () => {
    throw new Error("boom");
  }), /boom/);
  assert.equal(l.active, 0);
  assert.equal(await l.run(async () => 7), 7);
  assert.throws(() => new FetchLimiter(0), RangeError);
});
