// Reading recorded prefetch artifacts back (store_records.ts, formats §11.2):
// span totals per (artifact, layer) with null for a damaged blob, and the
// errors of readStoredPrefetch for index/zTOC digests, unknown digests and
// damaged blobs (each naming the digest).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sha256Digest, utf8 } from "../bytes/mod.ts";
import { FormatError, InvalidArgumentError, NotFoundError } from "../errors.ts";
import { LocalStore, type IndexRecord, type PrefetchRecord, type ZtocRecord } from "../store/mod.ts";
import { encodePrefetchArtifact } from "./prefetch.ts";
import { listStoredPrefetches, readStoredPrefetch, totalPrefetchSpans } from "./store_records.ts";

const LAYER_A = "sha256:" + "a".repeat(64);
const LAYER_B = "sha256:" + "b".repeat(64);
const ranges = [{ startSpan: 1, endSpan: 3, priority: 0 }, { startSpan: 7, endSpan: 7, priority: 4 }];
const artifact = encodePrefetchArtifact(ranges);
const other = encodePrefetchArtifact([{ startSpan: 0, endSpan: 9, priority: 0 }]);
const ztoc = utf8("ztoc bytes");
const indexBytes = utf8('{"schemaVersion":2}');

interface Fixture {
  store: LocalStore;
  root: string;
  index: IndexRecord;
  z: ZtocRecord;
}

async function withStore(fn: (f: Fixture) => Promise<void>): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), "soci-stored-prefetch-"));
  try {
    const store = await LocalStore.open(root);
    for (const b of [artifact, other, ztoc, indexBytes]) await store.putBlob({ mediaType: "x", digest: sha256Digest(b), size: b.length }, b);
    const index: IndexRecord = {
      digest: sha256Digest(indexBytes), size: indexBytes.length, mediaType: "application/vnd.oci.image.manifest.v1+json", manifestVersion: "v2",
      manifestDigest: "sha256:" + "c".repeat(64), platform: "linux/amd64", spanSize: 65536, layers: [], createdAt: "2026-01-01T00:00:00.000Z",
    };
    const z: ZtocRecord = { digest: sha256Digest(ztoc), size: ztoc.length, layerDigest: LAYER_A, layerSize: 9, layerMediaType: "x", spanSize: 65536, createdAt: index.createdAt };
    const rec = (b: Uint8Array, layerDigest: string, createdAt: string): PrefetchRecord => ({ digest: sha256Digest(b), size: b.length, layerDigest, indexDigest: index.digest, createdAt });
    await store.addRecords({
      indexes: [index],
      ztocs: [z],
      prefetches: [rec(artifact, LAYER_A, "2026-01-01T00:00:01.000Z"), rec(artifact, LAYER_B, "2026-01-01T00:00:02.000Z"), rec(other, LAYER_B, "2026-01-01T00:00:03.000Z")],
    });
    await fn({ store, root, index, z });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

test("totalPrefetchSpans() counts inclusive ranges", () => {
  assert.equal(totalPrefetchSpans(ranges), 4);
  assert.equal(totalPrefetchSpans([]), 0);
});

test("listStoredPrefetches() gives one row per (artifact, layer), newest first, with span totals", async () => {
  await withStore(async ({ store }) => {
    const rows = await listStoredPrefetches(store);
    assert.deepEqual(rows.map((r) => [r.digest, r.layerDigest, r.totalSpans]), [
      [sha256Digest(other), LAYER_B, 10],
      [sha256Digest(artifact), LAYER_B, 4],
      [sha256Digest(artifact), LAYER_A, 4],
    ]);
    assert.deepEqual(rows.map((r) => r.size), [other.length, artifact.length, artifact.length]);
  });
});

test("a damaged artifact blob lists with totalSpans null and fails readStoredPrefetch naming the digest", async () => {
  await withStore(async ({ store, root }) => {
    const digest = sha256Digest(artifact);
    const file = join(root, "content/blobs/sha256", digest.slice(7));
    const bad = new Uint8Array(artifact);
    bad[bad.length - 3] ^= 0x01;
    writeFileSync(file, bad);
    const rows = await listStoredPrefetches(store);
    assert.deepEqual(rows.map((r) => r.totalSpans), [10, null, null]);
    await assert.rejects(readStoredPrefetch(store, digest), (e: unknown) =>
      e instanceof FormatError && e.message.startsWith(`Cannot read prefetch artifact ${digest}: its blob in the local store is damaged`) && (e.hint ?? "").includes(file));
  });
});

test("a blob with the right digest but not an artifact fails parsing, naming the digest", async () => {
  await withStore(async ({ store }) => {
    const notArtifact = utf8('{"version":"2.0","prefetch_spans":[]}');
    const digest = sha256Digest(notArtifact);
    await store.putBlob({ mediaType: "x", digest, size: notArtifact.length }, notArtifact);
    await store.addRecords({ prefetches: [{ digest, size: notArtifact.length, layerDigest: LAYER_A, indexDigest: (await store.listIndexes())[0]!.digest, createdAt: "2026-01-01T00:00:09.000Z" }] });
    assert.equal((await listStoredPrefetches(store))[0]!.totalSpans, null);
    await assert.rejects(readStoredPrefetch(store, digest), (e: unknown) => e instanceof FormatError && e.message.startsWith(`Cannot read prefetch artifact ${digest}: version "2.0"`) && e.hint !== undefined);
  });
});

test("readStoredPrefetch() returns the ranges and every layer; refuses index and zTOC digests; NotFound for others", async () => {
  await withStore(async ({ store, index, z }) => {
    const a = await readStoredPrefetch(store, sha256Digest(artifact));
    assert.deepEqual(a.spans, ranges);
    assert.deepEqual(a.layerDigests, [LAYER_B, LAYER_A]);
    assert.equal(a.record.layerDigest, LAYER_B);
    assert.deepEqual(a.bytes, artifact);
    await assert.rejects(readStoredPrefetch(store, index.digest), (e: unknown) => e instanceof InvalidArgumentError && /it is a SOCI index/.test(e.message) && /soci index info/.test(e.hint ?? ""));
    await assert.rejects(readStoredPrefetch(store, z.digest), (e: unknown) => e instanceof InvalidArgumentError && /it is a zTOC/.test(e.message) && /soci ztoc info/.test(e.hint ?? ""));
    const unknown = "sha256:" + "e".repeat(64);
    await assert.rejects(readStoredPrefetch(store, unknown), (e: unknown) => e instanceof NotFoundError && e.message.includes(unknown) && /soci prefetch list/.test(e.hint ?? ""));
  });
});
