import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync, statSync, truncateSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FailedPreconditionError, FormatError, SociError } from "../../core-wasm/src/errors.ts";
import { gzipSync } from "node:zlib";
import { buildZtoc, ztocSpans } from "../../core-wasm/src/ztoc/mod.ts";
import { DiskSpanCache, MemorySpanCache, SpanManager } from "./mod.ts";
import { fakeFetcher, makeLayer, rng, type TestLayer } from "./test_util.ts";

let gz: TestLayer;
let tarLayer: TestLayer;
const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "soci-spans-"));
  dirs.push(d);
  return d;
};
const eq = (a: Uint8Array, b: Uint8Array, what: string) => assert.ok(Buffer.compare(a, b) === 0, `${what}: bytes differ`);

before(async () => {
  gz = await makeLayer({ compression: "gzip" });
  tarLayer = await makeLayer({ compression: "uncompressed", seed: 11 });
});
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function manager(layer: TestLayer, extra: Partial<ConstructorParameters<typeof SpanManager>[0]> = {}) {
  const f = fakeFetcher(layer.blob);
  const logs: string[] = [];
  const m = new SpanManager({ ztoc: layer.ztoc, layerDigest: layer.digest, fetch: f.fetch, log: (l) => logs.push(l), ...extra });
  return { m, f, logs, table: ztocSpans(layer.ztoc).table };
}

describe("SpanManager over a gzip layer", () => {
  test("the synthetic layer has many spans, some starting inside a byte", () => {
    const { m } = manager(gz);
    assert.ok(m.spanCount >= 15, `only ${m.spanCount} spans`);
    assert.ok(ztocSpans(gz.ztoc).gzip!.checkpoints.some((c) => c.bits !== 0), "no checkpoint with bits ≠ 0");
  });

  test("read() of random ranges equals the gunzipped layer, with and without a cache", async () => {
    for (const cache of [undefined, new MemorySpanCache(64 << 20)]) {
      const { m } = manager(gz, { cache });
      const next = rng(0x1234);
      const U = gz.plain.length;
      const ranges: Array<[number, number]> = [[0, 1], [U - 1, 1], [0, U], [U, 10], [U - 5, 100]];
      for (let i = 0; i < 60; i++) {
        const off = Math.floor(next() * U);
        ranges.push([off, Math.floor(next() * 300_000)]);
      }
      for (const [off, len] of ranges) {
        const got = await m.read(off, len);
        eq(got, gz.plain.subarray(off, Math.min(off + len, U)), `read(${off}, ${len})`);
      }
    }
  });

  test("adjacent absent spans are fetched in one range request, split by maxCoalesceBytes", async () => {
    const { m, f, table } = manager(gz);
    const [a] = table.uncompressedRange(2);
    const [, b] = table.uncompressedRange(6);
    eq(await m.read(a, b - a), gz.plain.subarray(a, b), "spans 2-6");
    assert.deepEqual(f.calls, [[table.compressedRange(2)[0], table.compressedRange(6)[1]]]);
    const small = manager(gz, { maxCoalesceBytes: 1 });
    eq(await small.m.read(a, b - a), gz.plain.subarray(a, b), "spans 2-6 uncoalesced");
    assert.deepEqual(small.f.calls, [2, 3, 4, 5, 6].map((i) => table.compressedRange(i)));
    // A read ending exactly on a span boundary does not touch the next span.
    const next = manager(gz);
    const [s3, e3] = table.uncompressedRange(3);
    await next.m.read(s3, e3 - s3);
    assert.deepEqual(next.f.calls, [table.compressedRange(3)]);
  });

  test("only the absent spans of a read are fetched", async () => {
    const { m, f, table } = manager(gz, { cache: new MemorySpanCache(64 << 20) });
    const [s4, e4] = table.uncompressedRange(4);
    await m.read(s4, e4 - s4);
    const [a] = table.uncompressedRange(3);
    const [, b] = table.uncompressedRange(5);
    eq(await m.read(a, b - a), gz.plain.subarray(a, b), "spans 3-5");
    assert.deepEqual(f.calls.slice(1), [table.compressedRange(3), table.compressedRange(5)]);
  });

  test("concurrent reads of one span share one fetch", async () => {
    const { m, f, table } = manager(gz);
    const [s, e] = table.uncompressedRange(7);
    f.hold();
    const reads = Array.from({ length: 8 }, (_, k) => m.read(s + k * 100, 5000));
    await new Promise((r) => setTimeout(r, 20));
    f.release();
    const got = await Promise.all(reads);
    got.forEach((g, k) => eq(g, gz.plain.subarray(s + k * 100, s + k * 100 + 5000), `reader ${k}`));
    assert.equal(f.calls.length, 1);
    assert.ok(e > s + 8 * 100 + 5000);
  });

  test("a span with wrong bytes is refused, refetched, and served once right", async () => {
    const { m, f, logs, table } = manager(gz, { cache: new MemorySpanCache(64 << 20) });
    const [s, e] = table.uncompressedRange(5);
    f.tamper(1);
    eq(await m.read(s, e - s), gz.plain.subarray(s, e), "span 5");
    assert.equal(f.calls.length, 2);
    const st = m.stats();
    assert.equal(st.spansRefused, 1);
    assert.equal(st.spansFetched, 1);
    assert.equal(logs.filter((l) => l.startsWith("refused span 5")).length, 1);
  });

  test("a span that keeps failing its digest fails the read after the retries, is never cached, and a later read works", async () => {
    const cache = new MemorySpanCache(64 << 20);
    const { m, f, table } = manager(gz, { cache, retries: 2 });
    const [s, e] = table.uncompressedRange(9);
    const [cs, ce] = table.compressedRange(9);
    f.tamper(100);
    await assert.rejects(m.read(s + 10, 10), (err: unknown) => {
      assert.ok(err instanceof FormatError, String(err));
      assert.match(err.message, new RegExp(`^Cannot read span 9 of layer "${gz.digest}": compressed bytes \\[${cs}, ${ce}\\) have digest "sha256:[0-9a-f]{64}", not "${gz.ztoc.spanDigests[9]}" from the zTOC \\(3 fetches\\)`));
      assert.ok(err.hint);
      return true;
    });
    assert.equal(f.calls.length, 3);
    assert.equal(m.stats().spansRefused, 3);
    assert.equal(cache.has(`${gz.digest}/9`), false);
    assert.equal(m.isPresent(9), false);
    f.tamper(0);
    eq(await m.read(s, e - s), gz.plain.subarray(s, e), "span 9 after the fault");
  });

  test("a failed fetch rejects every waiter, leaves the span absent, and the next read retries", async () => {
    const { m, f, table } = manager(gz);
    const [s] = table.uncompressedRange(4);
    f.hold();
    f.fail(1);
    const reads = [m.read(s, 10), m.read(s + 50, 10), m.read(s + 99, 10)];
    await new Promise((r) => setTimeout(r, 10));
    f.release();
    for (const r of reads) {
      await assert.rejects(r, (err: unknown) => {
        assert.ok(err instanceof SociError);
        assert.match(err.message, new RegExp(`^Cannot fetch span 4 of layer "${gz.digest}": compressed bytes \\[\\d+, \\d+\\): injected connection reset`));
        return true;
      });
    }
    assert.equal(f.calls.length, 1);
    assert.equal(m.stats().fetchErrors, 1);
    eq(await m.read(s, 10), gz.plain.subarray(s, s + 10), "after the error");
    assert.equal(f.calls.length, 2);
  });

  test("aborting one reader does not fail another reader of the same fetch", async () => {
    const { m, f, table } = manager(gz);
    const [s] = table.uncompressedRange(6);
    f.hold();
    const ctrl = new AbortController();
    const a = m.read(s, 100, ctrl.signal);
    const b = m.read(s + 1, 100);
    await new Promise((r) => setTimeout(r, 10));
    ctrl.abort(new DOMException("user gave up", "AbortError"));
    await assert.rejects(a, { name: "AbortError" });
    f.release();
    eq(await b, gz.plain.subarray(s + 1, s + 101), "the other reader");
    assert.equal(f.calls.length, 1);
  });

  test("a read that joins a background prefetch survives the prefetch being cancelled", async () => {
    const { m, f, table } = manager(gz, { cache: new MemorySpanCache(64 << 20) });
    f.hold();
    const ctrl = new AbortController();
    const pre = m.prefetch([10, 11, 12], ctrl.signal);
    await new Promise((r) => setTimeout(r, 5));
    const [s] = table.uncompressedRange(11);
    const read = m.read(s, 1000);
    ctrl.abort();
    await assert.rejects(pre, { name: "AbortError" });
    f.release();
    eq(await read, gz.plain.subarray(s, s + 1000), "the joined read");
    assert.equal(f.calls.length, 1);
    assert.ok([10, 11, 12].every((i) => m.isPresent(i)));
  });

  test("aborting the only reader cancels its fetch and leaves the span absent", async () => {
    const { m, f, table } = manager(gz);
    const [s] = table.uncompressedRange(8);
    f.hold();
    const ctrl = new AbortController();
    const a = m.read(s, 100, ctrl.signal);
    await new Promise((r) => setTimeout(r, 10));
    ctrl.abort();
    await assert.rejects(a, { name: "AbortError" });
    await new Promise((r) => setTimeout(r, 10));
    f.release();
    assert.equal(m.stats().fetchErrors, 0);
    eq(await m.read(s, 100), gz.plain.subarray(s, s + 100), "read after the abort");
    assert.equal(f.calls.length, 2);
  });

  test("a new SpanManager over the same disk cache directory reads without fetching", async () => {
    const dir = tempDir();
    const first = manager(gz, { cache: new DiskSpanCache({ dir, maxBytes: 64 << 20 }) });
    eq(await first.m.read(0, gz.plain.length), gz.plain, "cold");
    await first.m.flush(); // cache writes land after the reply
    assert.equal(first.m.stats().complete, true);
    const second = manager(gz, { cache: new DiskSpanCache({ dir, maxBytes: 64 << 20 }) });
    assert.equal(second.m.stats().complete, true, "the index is rebuilt from the directory");
    eq(await second.m.read(0, gz.plain.length), gz.plain, "warm");
    assert.equal(second.f.calls.length, 0);
    assert.equal(second.m.stats().spansFromCache, second.m.spanCount);
  });

  test("the disk cache stays under maxBytes and evicted spans are refetched", async () => {
    const dir = tempDir();
    const maxBytes = 300_000;
    const cache = new DiskSpanCache({ dir, maxBytes });
    const { m, f } = manager(gz, { cache, memorySpans: 0 });
    eq(await m.read(0, gz.plain.length), gz.plain, "whole layer");
    await m.flush();
    const onDisk = readdirSync(dir).filter((n) => n !== "wip").reduce((s, n) => s + statSync(join(dir, n)).size, 0);
    assert.ok(onDisk <= maxBytes && cache.totalBytes === onDisk, `${onDisk} bytes on disk, index says ${cache.totalBytes}`);
    // Cache writes run concurrently, so which spans went first depends on which write landed first.
    const evicted = Array.from({ length: m.spanCount }, (_, i) => i).find((i) => !m.isPresent(i));
    assert.ok(evicted !== undefined, "some span was evicted");
    assert.equal(m.stats().complete, false);
    const before = f.calls.length;
    const [us] = ztocSpans(gz.ztoc).table.uncompressedRange(evicted);
    eq(await m.read(us, 10), gz.plain.subarray(us, us + 10), `span ${evicted} again`);
    assert.equal(f.calls.length, before + 1);
  });

  test("a truncated or foreign cache file is a miss and the span is refetched", async () => {
    const dir = tempDir();
    const { m, table } = manager(gz, { cache: new DiskSpanCache({ dir, maxBytes: 64 << 20 }) });
    await m.read(0, gz.plain.length);
    await m.flush();
    const files = readdirSync(dir).filter((n) => n !== "wip").sort();
    truncateSync(join(dir, files.find((n) => n.endsWith("_3"))!), 100);
    truncateSync(join(dir, files.find((n) => n.endsWith("_4"))!), 0);
    const again = manager(gz, { cache: new DiskSpanCache({ dir, maxBytes: 64 << 20 }) });
    eq(await again.m.read(0, gz.plain.length), gz.plain, "after damage");
    assert.deepEqual(again.f.calls, [[table.compressedRange(3)[0], table.compressedRange(4)[1]]]);
  });

  test("stats() counts fetches, bytes, cache hits and completion", async () => {
    const { m, f, table } = manager(gz, { cache: new MemorySpanCache(64 << 20) });
    assert.deepEqual(
      { ...m.stats() },
      { layerDigest: gz.digest, spanCount: m.spanCount, spansFetched: 0, spansFromCache: 0, spansRefused: 0, bytesFetched: 0, fetchRequests: 0, fetchErrors: 0, uncompressedBytesServed: 0, complete: false, spansFromMemory: 0 },
    );
    await m.read(0, gz.plain.length);
    await m.read(gz.plain.length - 1000, 1000); // the last span is still in the RAM LRU
    const st = m.stats();
    const start = table.compressedRange(0)[0];
    assert.equal(st.fetchRequests, 1);
    assert.equal(st.bytesFetched, gz.blob.length - start);
    assert.equal(f.calls[0][1] - f.calls[0][0], st.bytesFetched);
    assert.equal(st.spansFetched, m.spanCount);
    assert.equal(st.uncompressedBytesServed, gz.plain.length + 1000);
    assert.equal(st.spansFromMemory, 1);
    assert.equal(st.complete, true);
  });

  test("prefetch() makes spans present without fetching present ones again", async () => {
    const { m, f, table } = manager(gz, { cache: new MemorySpanCache(64 << 20) });
    await m.prefetch([1, 2, 3, 7]);
    assert.deepEqual(f.calls, [[table.compressedRange(1)[0], table.compressedRange(3)[1]], table.compressedRange(7)]);
    assert.ok([1, 2, 3, 7].every((i) => m.isPresent(i)) && !m.isPresent(0));
    await m.prefetch([2, 3]);
    assert.equal(f.calls.length, 2);
    await assert.rejects(m.prefetch([m.spanCount]), RangeError);
  });

  test("a zTOC whose spans do not advance is refused (empty first gzip member, upstream bytes); the default build reads fine", async () => {
    const blob = new Uint8Array(Buffer.concat([gzipSync(new Uint8Array(0)), gzipSync(gz.plain, { memLevel: 4 })]));
    for (const upstreamCompat of [true, false]) {
      async function* one() {
        yield blob;
      }
      const { ztoc } = await buildZtoc(one(), { compression: "gzip", spanSize: 65536, buildToolIdentifier: "test", upstreamCompat });
      const make = () => new SpanManager({ ztoc, layerDigest: "sha256:" + "0".repeat(64), fetch: fakeFetcher(blob).fetch });
      if (upstreamCompat) {
        assert.throws(make, (e: unknown) => e instanceof FormatError && /span 0 has compressed range \[10, 30\) and uncompressed range \[0, 0\)/.test(e.message));
      } else {
        eq(await make().read(0, gz.plain.length), gz.plain.subarray(0, ztoc.uncompressedArchiveSize), "two-member layer");
      }
    }
  });

  test("read() after close() fails with FailedPreconditionError; bad arguments are RangeErrors", async () => {
    const { m } = manager(gz);
    await assert.rejects(m.read(-1, 1), RangeError);
    m.close();
    await assert.rejects(m.read(0, 1), FailedPreconditionError);
  });
});

describe("SpanManager over an uncompressed (tar) layer", () => {
  test("random reads equal the blob and adjacent spans coalesce", async () => {
    const { m, f, table } = manager(tarLayer, { cache: new MemorySpanCache(64 << 20) });
    assert.ok(m.spanCount >= 15);
    const next = rng(99);
    const n = tarLayer.blob.length;
    for (let i = 0; i < 40; i++) {
      const off = Math.floor(next() * n);
      const len = Math.floor(next() * 200_000);
      eq(await m.read(off, len), tarLayer.blob.subarray(off, Math.min(n, off + len)), `read(${off}, ${len})`);
    }
    const fresh = manager(tarLayer);
    await fresh.m.read(65536 * 2, 65536 * 3);
    assert.deepEqual(fresh.f.calls, [[table.compressedRange(2)[0], table.compressedRange(4)[1]]]);
    assert.ok(f.calls.length > 0);
  });

  test("a tampered tar span is refused and refetched", async () => {
    const { m, f } = manager(tarLayer);
    f.tamper(1);
    eq(await m.read(70000, 1000), tarLayer.blob.subarray(70000, 71000), "span 1");
    assert.equal(m.stats().spansRefused, 1);
    assert.equal(f.calls.length, 2);
  });
});
