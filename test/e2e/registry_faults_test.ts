// Fault injection between the client and the real docker-registry (via
// test/fakes/fault_proxy.ts): each fault is either retried until the request
// succeeds, or reported clearly. Dropped and truncated downloads resume with
// Range; wrong bytes are rejected by digest; slow answers hit the timeout.
import { after, before, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { sha256Digest, utf8 } from "../../core-wasm/src/bytes/mod.ts";
import { RegistryError } from "../../core-wasm/src/errors.ts";
import { MEDIA_TYPE_OCI_MANIFEST, type Descriptor } from "../../core-wasm/src/oci/mod.ts";
import { RegistryClient, type RegistryClientOptions } from "../../core-wasm/src/registry/mod.ts";
import { missingTools, startRegistry, type RunningRegistry } from "../fakes/docker_registry.ts";
import { FaultProxy } from "../fakes/fault_proxy.ts";

const skip = missingTools(["docker-registry"]);
const rand = (n: number) => new Uint8Array(randomBytes(n));

async function collect(it: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of it) parts.push(c);
  return new Uint8Array(Buffer.concat(parts));
}

describe("registry client under injected faults", { skip: skip ? `skipped: ${skip}` : false }, () => {
  let reg: RunningRegistry;
  let proxy: FaultProxy;
  const big = rand(512 * 1024);
  const bigDesc: Descriptor = { mediaType: "application/octet-stream", digest: sha256Digest(big), size: big.length };
  const EMPTY = utf8("{}");
  const emptyDesc: Descriptor = { mediaType: "application/vnd.oci.empty.v1+json", digest: sha256Digest(EMPTY), size: 2 };
  const manifest = utf8(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE_OCI_MANIFEST, config: emptyDesc, layers: [bigDesc] }));
  const client = (o: RegistryClientOptions = {}) =>
    new RegistryClient({ plainHttpLoopback: true, retry: { maxRetries: 3, minWaitMs: 10, maxWaitMs: 2000 }, timeoutMs: 2000, ...o });
  const repo = (o?: RegistryClientOptions) => client(o).repository(`${proxy.host}/faults`);
  const blobGets = () => proxy.log.filter((e) => e.method === "GET" && e.path.includes(`/blobs/${bigDesc.digest}`));

  before(async () => {
    reg = await startRegistry();
    proxy = await FaultProxy.start(`http://${reg.host}`);
    const r = repo();
    await r.pushBlob(bigDesc, big);
    await r.pushBlob(emptyDesc, EMPTY);
    await r.putManifest(manifest, MEDIA_TYPE_OCI_MANIFEST, "1");
  });
  after(async () => {
    await proxy?.stop();
    await reg?.stop();
  });
  beforeEach(() => proxy.reset());

  test("500s are retried and the manifest is fetched", async () => {
    proxy.inject({ method: "GET", path: "/manifests/1", fault: { kind: "status", status: 500 }, times: 2 });
    assert.deepEqual((await repo().getManifest("1")).bytes, manifest);
    assert.deepEqual(proxy.log.filter((e) => e.path.includes("/manifests/1")).map((e) => e.status), [500, 500, 200]);
  });

  test("429 with Retry-After waits as told, then succeeds", async () => {
    proxy.inject({ method: "HEAD", path: "/manifests/1", fault: { kind: "status", status: 429, retryAfter: "1" } });
    const t0 = Date.now();
    const d = await repo().resolve("1");
    assert.equal(d.digest, sha256Digest(manifest));
    assert.ok(Date.now() - t0 >= 950, `waited only ${Date.now() - t0} ms`);
  });

  test("persistent 503s are reported with status, method, URL, diagnostics and a hint", async () => {
    proxy.inject({ path: "/manifests/1", fault: { kind: "status", status: 503 }, times: 100 });
    await assert.rejects(repo({ retry: { maxRetries: 2, minWaitMs: 1, maxWaitMs: 5 } }).getManifest("1"), (e: unknown) => {
      assert.ok(e instanceof RegistryError);
      assert.equal(e.details.status, 503);
      assert.equal(e.details.method, "GET");
      assert.equal(e.details.url, `http://${proxy.host}/v2/faults/manifests/1`);
      assert.deepEqual(e.details.diagnostics, ["UNKNOWN: injected 503"]);
      assert.equal(e.retryable, true);
      assert.match(e.hint ?? "", /retry later/);
      return true;
    });
    assert.equal(proxy.log.length, 3);
  });

  test("a connection dropped mid-blob resumes with Range and the blob verifies", async () => {
    proxy.inject({ method: "GET", path: `/blobs/${bigDesc.digest}`, fault: { kind: "drop", afterBytes: 100_000 } });
    assert.deepEqual(await collect(repo().fetchBlob(bigDesc)), big);
    const gets = blobGets();
    assert.equal(gets.length, 2);
    assert.equal(gets[0].range, undefined);
    assert.match(gets[1].range ?? "", /^bytes=\d+-$/);
    assert.ok(Number(/=(\d+)-/.exec(gets[1].range!)![1]) >= 1, "resumed past zero");
  });

  test("a cleanly truncated body is resumed too", async () => {
    proxy.inject({ method: "GET", path: `/blobs/${bigDesc.digest}`, fault: { kind: "truncate", bytes: 200_000 } });
    assert.deepEqual(await collect(repo().fetchBlob(bigDesc)), big);
    assert.deepEqual(blobGets().map((g) => g.range), [undefined, "bytes=200000-"]);
  });

  test("wrong bytes are rejected by digest", async () => {
    proxy.inject({ method: "GET", path: `/blobs/${bigDesc.digest}`, fault: { kind: "corrupt", at: 4242 } });
    await assert.rejects(collect(repo().fetchBlob(bigDesc)), (e: unknown) => {
      assert.ok(e instanceof RegistryError);
      assert.match(e.message, /^Cannot fetch blob "sha256:[0-9a-f]{64}" from ".*\/faults": the content has digest "sha256:[0-9a-f]{64}"/);
      assert.equal(e.retryable, false);
      assert.match(e.hint ?? "", /corrupt content/);
      return true;
    });
  });

  test("a corrupted manifest fetched by digest is rejected", async () => {
    proxy.inject({ method: "GET", path: "/manifests/sha256:", fault: { kind: "corrupt", at: 3 } });
    await assert.rejects(repo().getManifest(sha256Digest(manifest)), /the content has digest/);
  });

  test("a response slower than the timeout is retried, and reported when it stays slow", async () => {
    proxy.inject({ method: "HEAD", path: "/manifests/1", fault: { kind: "delay", ms: 800 } });
    assert.equal((await repo({ timeoutMs: 300 }).resolve("1")).digest, sha256Digest(manifest));
    proxy.reset();
    proxy.inject({ path: "/manifests/1", fault: { kind: "delay", ms: 800 }, times: 100 });
    await assert.rejects(repo({ timeoutMs: 200, retry: { maxRetries: 1, minWaitMs: 1, maxWaitMs: 5 } }).getManifest("1"), (e: unknown) => {
      assert.ok(e instanceof RegistryError);
      assert.match(e.message, /no answer within 200 ms/);
      assert.equal(e.retryable, true);
      return true;
    });
  });

  test("a body that stalls past the idle timeout is resumed with Range", async () => {
    proxy.inject({ method: "GET", path: `/blobs/${bigDesc.digest}`, fault: { kind: "stall", afterBytes: 50_000, ms: 1500 } });
    assert.deepEqual(await collect(repo({ idleTimeoutMs: 300 }).fetchBlob(bigDesc)), big);
    const gets = blobGets();
    assert.equal(gets.length, 2);
    assert.match(gets[1].range ?? "", /^bytes=\d+-$/);
  });

  test("a range read dropped mid-way continues where it stopped", async () => {
    proxy.inject({ method: "GET", path: `/blobs/${bigDesc.digest}`, fault: { kind: "drop", afterBytes: 1000 } });
    assert.deepEqual(await repo().fetchBlobRange(bigDesc, 10_000, 50_000), big.subarray(10_000, 60_000));
    const ranges = blobGets().map((g) => g.range);
    assert.equal(ranges[0], "bytes=10000-59999");
    assert.match(ranges[1] ?? "", /^bytes=1\d{4}-59999$/);
  });

  test("an upload whose PATCH fails with 500 restarts from a fresh session and completes", async () => {
    const b = rand(100 * 1024);
    const d = { mediaType: "application/octet-stream", digest: sha256Digest(b), size: b.length };
    proxy.inject({ method: "PATCH", fault: { kind: "status", status: 500 } });
    assert.equal(await repo({ chunkSize: 32 * 1024, monolithicMaxSize: 1024 }).pushBlob(d, b), "uploaded");
    assert.ok(proxy.log.filter((e) => e.method === "POST").length >= 2, "a second session was opened");
    assert.deepEqual(await repo().readBlob(d), b);
  });

  test("a connection refused is reported with a hint to check the registry", async () => {
    const server = createServer();
    await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
    const port = (server.address() as AddressInfo).port;
    await new Promise<void>((ok) => server.close(() => ok()));
    const dead = new RegistryClient({ plainHttp: true, retry: { maxRetries: 1, minWaitMs: 1, maxWaitMs: 2 } }).repository(`127.0.0.1:${port}/x`);
    await assert.rejects(dead.resolve("1"), (e: unknown) => {
      assert.ok(e instanceof RegistryError);
      assert.match(e.message, /connection was refused/);
      assert.match(e.hint ?? "", /is running and reachable/);
      return true;
    });
    const blocked = new RegistryClient({ plainHttp: true }).repository("127.0.0.1:1/x");
    await assert.rejects(blocked.resolve("1"), (e: unknown) => e instanceof RegistryError && !e.retryable && /blocked ports/.test(e.message));
  });
});
