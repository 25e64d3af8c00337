// SpanManager's read paths added for speed: cache hits served by range reads,
// replies that do not wait for the cache write, and range requests bounded by
// a FetchLimiter.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ztocSpans } from "../../core-wasm/src/ztoc/mod.ts";
import { DiskSpanCache, FetchLimiter, MemorySpanCache, SpanManager, type RangeFetcher, type SpanCache } from "./mod.ts";
import { fakeFetcher, makeLayer, type TestLayer } from "./test_util.ts";

let gz: TestLayer;
const dirs: string[] = [];
before(async () => {
  gz = await makeLayer({ compression: "gzip", seed: 5 });
});
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const eq = (a: Uint8Array, b: Uint8Array, what: string) => assert.ok(Buffer.compare(a, b) === 0, `${what}: bytes differ`);
const tick = () => new Promise<void>((ok) => setImmediate(ok));

test("a warm read takes only its range from the cache (readInto), never the whole span through get()", async () => {
  const dir = mkdtempSync(join(tmpdir(), "soci-spans-paths-"));
  dirs.push(dir);
  const disk = new DiskSpanCache({ dir, maxBytes: 64 << 20 });
  const first = new SpanManager({ ztoc: gz.ztoc, layerDigest: gz.digest, fetch: fakeFetcher(gz.blob).fetch, cache: disk });
  await first.read(0, gz.plain.length);
  await first.flush();
  let gets = 0;
  const ranges: number[] = [];
  const spy: SpanCache = {
    get: (k) => (gets++, disk.get(k)),
    put: (k, b) => disk.put(k, b),
    has: (k) => disk.has(k),
    readInto: (k, off, dst) => (ranges.push(dst.length), disk.readInto(k, off, dst)),
  };
  const f = fakeFetcher(gz.blob);
  const m = new SpanManager({ ztoc: gz.ztoc, layerDigest: gz.digest, fetch: f.fetch, cache: spy });
  const { table } = ztocSpans(gz.ztoc);
  const [us, ue] = table.uncompressedRange(3);
  const a = us + 100;
  const b = Math.min(ue + 50, gz.plain.length); // crosses into span 4
  eq(await m.read(a, b - a), gz.plain.subarray(a, b), "range across two spans");
  assert.equal(f.calls.length, 0);
  assert.equal(gets, 0);
  assert.deepEqual(ranges, [ue - a, b - ue], "one range read per span, each just the needed bytes");
  assert.equal(m.stats().spansFromCache, 2);
});

test("a fetched span is answered before its cache write lands, served from RAM meanwhile, and flush() waits for the write", async () => {
  const inner = new MemorySpanCache(64 << 20);
  let release!: () => void;
  const held = new Promise<void>((ok) => (release = ok));
  const slow: SpanCache = { get: (k) => inner.get(k), has: (k) => inner.has(k), readInto: (k, o, d) => inner.readInto(k, o, d), put: async (k, b) => (await held, inner.put(k, b)) };
  const f = fakeFetcher(gz.blob);
  const m = new SpanManager({ ztoc: gz.ztoc, layerDigest: gz.digest, fetch: f.fetch, cache: slow, memorySpans: 0 });
  const { table } = ztocSpans(gz.ztoc);
  const [us, ue] = table.uncompressedRange(2);
  eq(await m.read(us, ue - us), gz.plain.subarray(us, ue), "cold read while the write is held");
  assert.equal(inner.has(`${gz.digest}/2`), false, "the write has not landed");
  assert.equal(m.isPresent(2), true);
  eq(await m.read(us + 10, 20), gz.plain.subarray(us + 10, us + 30), "again, from the span being written");
  assert.equal(f.calls.length, 1);
  let flushed = false;
  const fl = m.flush().then(() => (flushed = true));
  await tick();
  assert.equal(flushed, false);
  release();
  await fl;
  assert.equal(inner.has(`${gz.digest}/2`), true);
});

test("reads of many spans at once keep at most limiter.max range requests in flight, and all complete", async () => {
  const f = fakeFetcher(gz.blob);
  let inFlight = 0;
  let peak = 0;
  const opens: Array<() => void> = [];
  const gated: RangeFetcher = async (s, e, sig) => {
    peak = Math.max(peak, ++inFlight);
    await new Promise<void>((ok) => opens.push(ok));
    inFlight--;
    return f.fetch(s, e, sig);
  };
  const limiter = new FetchLimiter(3);
  const m = new SpanManager({ ztoc: gz.ztoc, layerDigest: gz.digest, fetch: gated, limiter });
  const { table } = ztocSpans(gz.ztoc);
  // Every other span: no two are adjacent, so each read is its own range request.
  const ids = Array.from({ length: m.spanCount }, (_, i) => i).filter((i) => i % 2 === 0);
  assert.ok(ids.length >= 6, `only ${ids.length} spans`);
  const reads = ids.map((id) => {
    const [us] = table.uncompressedRange(id);
    return m.read(us, 1).then((b) => eq(b, gz.plain.subarray(us, us + 1), `span ${id}`));
  });
  for (let done = 0; done < ids.length; ) {
    await tick();
    assert.ok(inFlight <= 3, `${inFlight} requests in flight`);
    const o = opens.shift();
    if (o) {
      o();
      done++;
    }
  }
  await Promise.all(reads);
  assert.equal(peak, 3);
  assert.equal(f.calls.length, ids.length);
});
