import { before, test } from "node:test";
import assert from "node:assert/strict";
import { MemorySpanCache, SpanManager } from "../spans/mod.ts";
import { fakeFetcher, makeLayer, type TestLayer } from "../spans/test_util.ts";
import { BackgroundFetcher } from "./mod.ts";

let layer: TestLayer;
before(async () => {
  layer = await makeLayer({ compression: "gzip", seed: 3 });
});

function setup() {
  const f = fakeFetcher(layer.blob);
  const m = new SpanManager({ ztoc: layer.ztoc, layerDigest: layer.digest, fetch: f.fetch, cache: new MemorySpanCache(64 << 20) });
  return { f, m };
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) assert.fail(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test("the background fetcher completes a layer in span order, a few spans per request", async () => {
  const { f, m } = setup();
  const logs: string[] = [];
  const bg = new BackgroundFetcher({ idleMs: 5, batchSpans: 3, log: (l) => logs.push(l) });
  bg.add(m);
  bg.start();
  try {
    await until(() => m.stats().complete, 10_000, "complete");
    await until(() => bg.pending === 0, 2000, "the layer to leave the queue");
  } finally {
    await bg.stop();
  }
  assert.equal(f.calls.length, Math.ceil(m.spanCount / 3));
  for (let i = 1; i < f.calls.length; i++) assert.ok(f.calls[i][0] >= f.calls[i - 1][1] - 1, "requests go forward through the blob");
  assert.equal(m.stats().spansFetched, m.spanCount);
  assert.ok(logs.some((l) => l.includes("done")));
  const got = await m.read(0, layer.plain.length);
  assert.ok(Buffer.compare(got, layer.plain) === 0);
  assert.equal(f.calls.length, Math.ceil(m.spanCount / 3), "reads after completion need no fetch");
});

test("foreground reads hold background work back for idleMs", async () => {
  const { f, m } = setup();
  const bg = new BackgroundFetcher({ idleMs: 150 });
  bg.add(m);
  bg.start();
  try {
    const t0 = Date.now();
    while (Date.now() - t0 < 500) {
      await m.read(100, 10); // the same span each time: one fetch, then RAM hits
      await new Promise((r) => setTimeout(r, 40));
    }
    assert.equal(f.calls.length, 1, "only the foreground span was fetched while reads went on");
    await until(() => m.stats().complete, 10_000, "complete after reads stopped");
  } finally {
    await bg.stop();
  }
});

test("a foreground read cancels the background batch in flight", async () => {
  const { f, m } = setup();
  const bg = new BackgroundFetcher({ idleMs: 0, batchSpans: 2 });
  bg.add(m);
  f.hold();
  bg.start();
  try {
    await until(() => f.calls.length === 1, 2000, "the first background request");
    bg.noteForegroundActivity(); // cancels: the held fetch rejects with the abort reason
    f.release();
    await until(() => m.stats().complete, 10_000, "complete");
  } finally {
    await bg.stop();
  }
  assert.equal(m.stats().fetchErrors, 0);
  assert.ok(f.calls.length >= 2);
});

test("maxBytesPerSecond limits the background rate", async () => {
  const { m } = setup();
  const rate = layer.blob.length * 4; // the whole layer should take about 250 ms
  const bg = new BackgroundFetcher({ idleMs: 0, maxBytesPerSecond: rate, batchSpans: 1 });
  bg.add(m);
  const t0 = Date.now();
  bg.start();
  try {
    await until(() => m.stats().complete, 10_000, "complete");
  } finally {
    await bg.stop();
  }
  const took = Date.now() - t0;
  const expected = ((m.stats().bytesFetched - layer.blob.length / m.spanCount) * 1000) / rate; // the last batch's wait comes after it
  assert.ok(took >= expected * 0.8, `took ${took} ms, the limit implies ≥ ${expected.toFixed(0)} ms`);
});

test("a failing layer is dropped with a log line; stop() ends a held batch; disabled fetches nothing", async () => {
  const { f, m } = setup();
  const logs: string[] = [];
  const bg = new BackgroundFetcher({ idleMs: 0, log: (l) => logs.push(l) });
  f.fail(1);
  bg.add(m);
  bg.start();
  await until(() => bg.pending === 0, 2000, "the layer to be dropped");
  assert.ok(logs.some((l) => l.includes("stopped at span 0") && l.includes("injected connection reset")), logs.join("\n"));
  await bg.stop();

  const two = setup();
  const bg2 = new BackgroundFetcher({ idleMs: 0 });
  two.f.hold();
  bg2.add(two.m);
  bg2.start();
  await until(() => two.f.calls.length === 1, 2000, "a held request");
  const t0 = Date.now();
  await bg2.stop();
  assert.ok(Date.now() - t0 < 500, "stop() did not wait for the held request");
  two.f.release();

  const three = setup();
  const off = new BackgroundFetcher({ idleMs: 0, disabled: true });
  off.add(three.m);
  off.start();
  await new Promise((r) => setTimeout(r, 50));
  await off.stop();
  assert.equal(three.f.calls.length, 0);
});

test("periodMs spaces the starts of background batches (fetch_period_msec)", async () => {
  const { f } = setup();
  const starts: number[] = [];
  const timed = new SpanManager({
    ztoc: layer.ztoc, layerDigest: layer.digest, cache: new MemorySpanCache(64 << 20),
    fetch: (s, e, sig) => (starts.push(Date.now()), f.fetch(s, e, sig)),
  });
  const bg = new BackgroundFetcher({ idleMs: 1, batchSpans: 1, periodMs: 60 });
  bg.add(timed);
  bg.start();
  try {
    await until(() => starts.length >= 4, 5000, "four batches");
  } finally {
    await bg.stop();
  }
  for (let i = 1; i < starts.length; i++) assert.ok(starts[i] - starts[i - 1] >= 55, `batch ${i} started ${starts[i] - starts[i - 1]} ms after the one before`);
});

test("a full queue (max_queue_size) leaves the newest layer out, or drops the oldest (drop_policy); never blocks add", async () => {
  const ms = [setup().m, setup().m, setup().m];
  const logs: string[] = [];
  const newest = new BackgroundFetcher({ idleMs: 60_000, maxQueueSize: 2, log: (l) => logs.push(l) });
  assert.equal(newest.add(ms[0]), true);
  assert.equal(newest.add(ms[1]), true);
  assert.equal(newest.add(ms[2]), false);
  assert.equal(newest.pending, 2);
  assert.match(logs.at(-1)!, /queue full .* is not queued \(drop_policy newest\)/);
  assert.equal(newest.add(ms[0]), true, "a queued layer added again is still queued");
  newest.remove(ms[0]);
  assert.equal(newest.add(ms[2]), true, "room again");

  const oldest = new BackgroundFetcher({ idleMs: 60_000, maxQueueSize: 2, dropPolicy: "oldest", log: (l) => logs.push(l) });
  oldest.add(ms[0]);
  oldest.add(ms[1]);
  assert.equal(oldest.add(ms[2]), true);
  assert.equal(oldest.pending, 2);
  assert.match(logs.at(-1)!, new RegExp(`layer ${ms[0].layerDigest} dropped \\(drop_policy oldest\\)`));
  oldest.remove(ms[1]);
  oldest.remove(ms[2]);
  assert.equal(oldest.pending, 0);

  const unbounded = new BackgroundFetcher({ idleMs: 60_000, maxQueueSize: -1 });
  for (const m of ms) assert.equal(unbounded.add(m), true);
  assert.equal(unbounded.pending, 3);
  for (const m of ms) unbounded.remove(m);
  for (const m of ms) m.close();
});
