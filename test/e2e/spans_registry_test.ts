// The span manager against a real docker-registry (real-components §1.1), with
// the fault proxy (test/fakes/fault_proxy.ts) between them: a fixture layer is
// pushed, read back through registryRangeFetcher + SpanManager and compared
// with node:zlib's gunzip; then each fault (500s, dropped connections, wrong
// bytes, a stalled server) must give a clear error within a bounded time, and
// the same SpanManager must read correctly once the fault is gone.
import { after, before, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { sha256Digest } from "../../core-wasm/src/bytes/mod.ts";
import { FormatError, RegistryError } from "../../core-wasm/src/errors.ts";
import { RegistryClient, type RegistryClientOptions } from "../../core-wasm/src/registry/mod.ts";
import { buildZtoc, ztocSpans, type Ztoc } from "../../core-wasm/src/ztoc/mod.ts";
import { DiskSpanCache, registryRangeFetcher, SpanManager } from "../../snapshotter/spans/mod.ts";
import { missingTools, startRegistry, tempDir, type RunningRegistry } from "../fakes/docker_registry.ts";
import { FaultProxy } from "../fakes/fault_proxy.ts";

const ROOT = process.env.SOCI_REPO_ROOT ?? process.cwd();
const skip = missingTools(["docker-registry"]);
const SPAN = 1 << 20;

describe("SpanManager over a real registry", { skip: skip ? `skipped: ${skip}` : false }, () => {
  let reg: RunningRegistry;
  let proxy: FaultProxy;
  let blob: Uint8Array;
  let plain: Uint8Array;
  let ztoc: Ztoc;
  let layer: { digest: string; size: number };
  const dirs: string[] = [];
  const client = (o: RegistryClientOptions = {}) =>
    new RegistryClient({ plainHttpLoopback: true, retry: { maxRetries: 2, minWaitMs: 10, maxWaitMs: 200 }, timeoutMs: 2000, ...o });
  const manager = (o: RegistryClientOptions = {}, withCache = false) => {
    const logs: string[] = [];
    let cache: DiskSpanCache | undefined;
    if (withCache) {
      dirs.push(tempDir("soci-spans-e2e-"));
      cache = new DiskSpanCache({ dir: dirs[dirs.length - 1], maxBytes: 256 << 20 });
    }
    const fetch = registryRangeFetcher(client(o).repository(`${proxy.host}/spans`), layer);
    return { m: new SpanManager({ ztoc, layerDigest: layer.digest, fetch, cache, log: (l) => logs.push(l) }), logs };
  };
  const spanGets = () => proxy.log.filter((e) => e.method === "GET" && e.path.includes(`/blobs/${layer.digest}`));
  const eq = (a: Uint8Array, b: Uint8Array, what: string) => assert.ok(Buffer.compare(a, b) === 0, `${what}: bytes differ`);
  /** Runs `fn`, which must reject as `check` says, within `ms`. */
  async function failsWithin(ms: number, fn: () => Promise<unknown>, check: (e: unknown) => boolean): Promise<void> {
    const t0 = Date.now();
    await assert.rejects(fn(), check);
    assert.ok(Date.now() - t0 < ms, `the error took ${Date.now() - t0} ms`);
  }

  before(async () => {
    const fx = spawnSync("sh", [join(ROOT, "scripts", "make_fixtures.sh"), "-q", "sample"], { cwd: ROOT, encoding: "utf8", timeout: 600_000 });
    assert.equal(fx.status, 0, `make_fixtures sample failed:\n${fx.stderr}`);
    const images = join(ROOT, ".build", "fixtures", "images");
    const info = JSON.parse(readFileSync(join(images, "fixtures.json"), "utf8"));
    // The sample image's largest layer (12 MB of gzip).
    const desc = info.images.sample.manifests[0].layers.reduce((x: { size: number }, y: { size: number }) => (y.size > x.size ? y : x));
    blob = new Uint8Array(readFileSync(join(images, "sample", "blobs", "sha256", desc.digest.slice(7))));
    plain = new Uint8Array(gunzipSync(blob));
    layer = { digest: sha256Digest(blob), size: blob.length };
    assert.equal(layer.digest, desc.digest);
    async function* one() {
      yield blob;
    }
    ztoc = (await buildZtoc(one(), { compression: "gzip", spanSize: SPAN, buildToolIdentifier: "test" })).ztoc;
    assert.ok(ztocSpans(ztoc).table.spanCount >= 10);
    reg = await startRegistry();
    proxy = await FaultProxy.start(`http://${reg.host}`);
    await client().repository(`${reg.host}/spans`).pushBlob(layer, blob);
  });
  after(async () => {
    await proxy?.stop();
    await reg?.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  beforeEach(() => proxy.reset());

  test("reads through registryRangeFetcher equal gunzip, with coalesced Range requests and a warm disk cache", async () => {
    const { m } = manager({}, true);
    const { table } = ztocSpans(ztoc);
    const [a] = table.uncompressedRange(2);
    const [, b] = table.uncompressedRange(5);
    eq(await m.read(a + 7, b - a - 7), plain.subarray(a + 7, b), "spans 2-5");
    const [cs] = table.compressedRange(2);
    const [, ce] = table.compressedRange(5);
    assert.deepEqual(spanGets().map((e) => e.range), [`bytes=${cs}-${ce - 1}`]);
    // uncompressed_archive_size ends at the tar's end marker; gunzip also yields the zero padding after it.
    eq(await m.read(0, plain.length), plain.subarray(0, ztoc.uncompressedArchiveSize), "the whole layer");
    assert.ok(plain.subarray(ztoc.uncompressedArchiveSize).every((b) => b === 0));
    assert.equal(spanGets().length, 3, "spans 0-1 and 6-end: two more requests");
    proxy.reset();
    for (let i = 0; i < 20; i++) {
      const off = Math.floor((i * 7919 * 1021) % ztoc.uncompressedArchiveSize);
      const want = plain.subarray(off, Math.min(off + 100_000, ztoc.uncompressedArchiveSize));
      eq(await m.read(off, 100_000), want, `read(${off})`);
    }
    assert.equal(spanGets().length, 0, "everything came from the cache");
    assert.equal(m.stats().complete, true);
  });

  test("persistent 500s fail the read with the registry's status, then reads work again", async () => {
    const { m } = manager();
    proxy.inject({ method: "GET", path: `/blobs/${layer.digest}`, fault: { kind: "status", status: 500 }, times: 1000 });
    await failsWithin(5000, () => m.read(3 * SPAN, 1000), (e) => {
      assert.ok(e instanceof RegistryError, String(e));
      assert.match(e.message, new RegExp(`^Cannot fetch span \\d+ of layer "${layer.digest}": compressed bytes \\[\\d+, \\d+\\): `));
      assert.equal(e.details.status, 500);
      return true;
    });
    assert.equal(spanGets().length, 3, "1 try + 2 retries");
    proxy.reset();
    eq(await m.read(3 * SPAN, 1000), plain.subarray(3 * SPAN, 3 * SPAN + 1000), "after the fault");
    assert.equal(m.stats().fetchErrors, 1);
  });

  test("a transient 500 and a dropped connection are retried by the client and the read succeeds", async () => {
    const { m } = manager();
    proxy.inject({ method: "GET", path: `/blobs/${layer.digest}`, fault: { kind: "status", status: 500 } });
    proxy.inject({ method: "GET", path: `/blobs/${layer.digest}`, fault: { kind: "drop", afterBytes: 1000 } });
    eq(await m.read(SPAN, 2 * SPAN), plain.subarray(SPAN, 3 * SPAN), "spans 1-3");
    assert.deepEqual(spanGets().map((e) => e.fault), ["status", "drop", undefined]);
    assert.equal(m.stats().fetchErrors, 0);
  });

  test("connections dropped every time fail the read in bounded time, then reads work again", async () => {
    const { m } = manager();
    proxy.inject({ method: "GET", path: `/blobs/${layer.digest}`, fault: { kind: "drop", afterBytes: 5000 }, times: 1000 });
    await failsWithin(5000, () => m.read(5 * SPAN, 1000), (e) => {
      assert.ok(e instanceof RegistryError, String(e));
      assert.match(e.message, new RegExp(`^Cannot fetch span \\d+ of layer "${layer.digest}"`));
      return true;
    });
    proxy.reset();
    eq(await m.read(5 * SPAN, 1000), plain.subarray(5 * SPAN, 5 * SPAN + 1000), "after the fault");
  });

  test("wrong bytes are refused by span digest, refetched, reported, and never served", async () => {
    const { m, logs } = manager({}, true);
    proxy.inject({ method: "GET", path: `/blobs/${layer.digest}`, fault: { kind: "corrupt", at: 777 }, times: 1000 });
    const id = ztocSpans(ztoc).table.spanFor(4 * SPAN);
    await failsWithin(5000, () => m.read(4 * SPAN, 1000), (e) => {
      assert.ok(e instanceof FormatError, String(e));
      assert.match(e.message, new RegExp(`^Cannot read span ${id} of layer "${layer.digest}": compressed bytes \\[\\d+, \\d+\\) have digest`));
      return true;
    });
    assert.equal(spanGets().length, 3, "1 fetch + 2 refetches");
    assert.equal(m.stats().spansRefused, 3);
    assert.equal(logs.filter((l) => l.startsWith(`refused span ${id} `)).length, 1, "logged once");
    assert.equal(m.isPresent(id), false);
    proxy.reset();
    proxy.inject({ method: "GET", path: `/blobs/${layer.digest}`, fault: { kind: "corrupt", at: 777 } });
    eq(await m.read(4 * SPAN, 1000), plain.subarray(4 * SPAN, 4 * SPAN + 1000), "one bad answer, then good bytes");
    assert.equal(spanGets().length, 2);
  });

  test("a registry that stops answering hits the client timeout, then reads work again", async () => {
    const { m } = manager({ timeoutMs: 300, retry: { maxRetries: 1, minWaitMs: 1, maxWaitMs: 5 } });
    proxy.inject({ method: "GET", path: `/blobs/${layer.digest}`, fault: { kind: "delay", ms: 3000 }, times: 1000 });
    await failsWithin(3000, () => m.read(6 * SPAN, 10), (e) => {
      assert.ok(e instanceof RegistryError, String(e));
      assert.match(e.message, new RegExp(`^Cannot fetch span \\d+ of layer "${layer.digest}"`));
      return true;
    });
    proxy.reset();
    eq(await m.read(6 * SPAN, 10), plain.subarray(6 * SPAN, 6 * SPAN + 10), "after the fault");
  });
});
