import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ztocSpans } from "../../core-wasm/src/ztoc/mod.ts";
import { DiskSpanCache, FetchLimiter, MemorySpanCache, prefetchSpanRanges, SpanManager } from "./mod.ts";
import { fakeFetcher, makeLayer, type TestLayer } from "./test_util.ts";

let gz: TestLayer;
const dirs: string[] = [];
before(async () => {
  gz = await makeLayer({ compression: "gzip", seed: 23 });
});
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function manager(extra: Partial<ConstructorParameters<typeof SpanManager>[0]> = {}) {
  const f = fakeFetcher(gz.blob);
  const m = new SpanManager({ ztoc: gz.ztoc, layerDigest: gz.digest, fetch: f.fetch, cache: new MemorySpanCache(64 << 20), ...extra });
  return { m, f, table: ztocSpans(gz.ztoc).table };
}

describe("prefetchSpanRanges", () => {
  test("fetches exactly the listed spans, one coalesced request per range, all ranges at once", async () => {
    const { m, f, table } = manager();
    assert.ok(m.spanCount >= 12, `only ${m.spanCount} spans`);
    f.hold();
    const p = prefetchSpanRanges(m, [{ startSpan: 2, endSpan: 4 }, { startSpan: 8, endSpan: 8 }, { startSpan: 10, endSpan: 11 }]);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(f.calls.length, 3, "the three ranges are requested in parallel");
    f.release();
    const r = await p;
    assert.deepEqual(r, { listed: 6, present: 6 });
    const want = [[2, 4], [8, 8], [10, 11]].map(([a, b]) => [table.compressedRange(a)[0], table.compressedRange(b)[1]]);
    assert.deepEqual([...f.calls].sort((a, b) => a[0] - b[0]), want);
    for (let id = 0; id < m.spanCount; id++) assert.equal(m.isPresent(id), [2, 3, 4, 8, 10, 11].includes(id), `span ${id}`);
    assert.equal(m.stats().spansFetched, 6);
    // A read inside the prefetched spans needs no request.
    const [us, ue] = table.uncompressedRange(3);
    const got = await m.read(us, ue - us);
    assert.ok(Buffer.compare(got, gz.plain.subarray(us, ue)) === 0);
    assert.equal(f.calls.length, 3);
  });

  test("spans already present are not fetched again", async () => {
    const { m, f, table } = manager();
    await prefetchSpanRanges(m, [{ startSpan: 1, endSpan: 1 }]);
    const r = await prefetchSpanRanges(m, [{ startSpan: 0, endSpan: 2 }]);
    assert.deepEqual(r, { listed: 3, present: 3 });
    assert.deepEqual(f.calls, [table.compressedRange(1), table.compressedRange(0), table.compressedRange(2)]);
  });

  test("maxConcurrency bounds the ranges in flight", async () => {
    const { m, f } = manager();
    f.hold();
    const p = prefetchSpanRanges(m, [{ startSpan: 0, endSpan: 0 }, { startSpan: 3, endSpan: 3 }, { startSpan: 6, endSpan: 6 }], { maxConcurrency: 1 });
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(f.calls.length, 1, "one range at a time");
    f.release();
    assert.deepEqual(await p, { listed: 3, present: 3 });
    assert.equal(f.calls.length, 3);
  });

  test("the registry's FetchLimiter still bounds requests with maxConcurrency 0", async () => {
    const limiter = new FetchLimiter(2);
    const { m, f } = manager({ limiter });
    f.hold();
    const p = prefetchSpanRanges(m, [0, 2, 4, 6, 8].map((s) => ({ startSpan: s, endSpan: s })));
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(f.calls.length, 2);
    assert.equal(limiter.queued, 3);
    f.release();
    await p;
    assert.equal(f.calls.length, 5);
  });

  test("a span id beyond the zTOC is a RangeError and nothing is fetched", async () => {
    const { m, f } = manager();
    await assert.rejects(prefetchSpanRanges(m, [{ startSpan: 0, endSpan: 1 }, { startSpan: m.spanCount - 1, endSpan: m.spanCount }]), (e: Error) => e instanceof RangeError && /outside the layer's spans/.test(e.message));
    await assert.rejects(prefetchSpanRanges(m, [{ startSpan: 3, endSpan: 2 }]), RangeError);
    assert.equal(f.calls.length, 0);
  });

  test("a failing range is reported after the other ranges were still fetched", async () => {
    const { m, f } = manager({ retries: 0 });
    f.fail(1);
    await assert.rejects(prefetchSpanRanges(m, [{ startSpan: 0, endSpan: 0 }, { startSpan: 5, endSpan: 5 }], { maxConcurrency: 1 }), /injected connection reset/);
    assert.equal(m.isPresent(0), false);
    assert.equal(m.isPresent(5), true);
  });

  test("with a disk cache the prefetched spans survive the manager (a new one finds them)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "soci-prefetch-"));
    dirs.push(dir);
    const cache = new DiskSpanCache({ dir, maxBytes: 64 << 20 });
    const a = manager({ cache });
    await prefetchSpanRanges(a.m, [{ startSpan: 4, endSpan: 6 }]);
    await a.m.flush();
    a.m.close();
    const b = manager({ cache: new DiskSpanCache({ dir, maxBytes: 64 << 20 }) });
    assert.deepEqual(await prefetchSpanRanges(b.m, [{ startSpan: 4, endSpan: 6 }]), { listed: 3, present: 3 });
    assert.equal(b.f.calls.length, 0);
  });
});
