// Prefetch artifact records in the local store (formats §11, §9.6): added
// with their index, listed newest first, dropped with the index (removed or
// replaced), strict decoding, and records written before prefetch records
// existed still read.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sha256Digest, utf8 } from "../bytes/mod.ts";
import { FormatError, NotFoundError } from "../errors.ts";
import { decodeRecords, encodeRecords, type IndexRecord, type PrefetchRecord } from "./artifact_records.ts";
import { LocalStore, RECORDS_FILE } from "./local_store.ts";

const LAYER_A = "sha256:" + "a".repeat(64);
const LAYER_B = "sha256:" + "b".repeat(64);
const artifact = utf8('{"version":"1.0","prefetch_spans":[{"start_span":0,"end_span":2}]}');
const other = utf8('{"version":"1.0","prefetch_spans":[{"start_span":5,"end_span":5}]}');

function indexRecord(bytes: Uint8Array, manifest: string, at: string): IndexRecord {
  return {
    digest: sha256Digest(bytes), size: bytes.length, mediaType: "application/vnd.oci.image.manifest.v1+json", manifestVersion: "v2",
    manifestDigest: "sha256:" + manifest.repeat(64), imageRef: "oci:/x", platform: "linux/amd64", spanSize: 65536, layers: [], createdAt: at,
  };
}

function prefetch(bytes: Uint8Array, layerDigest: string, index: IndexRecord, at: string): PrefetchRecord {
  return { digest: sha256Digest(bytes), size: bytes.length, layerDigest, indexDigest: index.digest, imageRef: "oci:/x", createdAt: at };
}

async function withStore(fn: (store: LocalStore, root: string) => Promise<void>): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), "soci-prefetch-records-"));
  try {
    const store = await LocalStore.open(root);
    for (const b of [artifact, other]) await store.putBlob({ mediaType: "x", digest: sha256Digest(b), size: b.length }, b);
    await fn(store, root);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

async function putIndex(store: LocalStore, text: string): Promise<Uint8Array> {
  const bytes = utf8(text);
  await store.putBlob({ mediaType: "x", digest: sha256Digest(bytes), size: bytes.length }, bytes);
  return bytes;
}

test("prefetch records are listed newest first, filtered by digest or layer, and re-adding replaces", async () => {
  await withStore(async (store) => {
    const index = indexRecord(await putIndex(store, '{"i":1}'), "c", "2026-01-01T00:00:00.000Z");
    const older = prefetch(artifact, LAYER_A, index, "2026-01-01T00:00:00.000Z");
    const newer = prefetch(other, LAYER_B, index, "2026-01-02T00:00:00.000Z");
    await store.addRecords({ indexes: [index], prefetches: [older, newer] });
    await store.addRecords({ indexes: [index], prefetches: [older] });
    assert.deepEqual(await store.listPrefetches(), [newer, older]);
    assert.deepEqual(await store.listPrefetches({ digest: older.digest }), [older]);
    assert.deepEqual(await store.listPrefetches({ layerDigest: LAYER_B }), [newer]);
  });
});

test("a prefetch record needs its blob first; a record whose blob vanished is not listed", async () => {
  await withStore(async (store, root) => {
    const index = indexRecord(await putIndex(store, '{"i":1}'), "c", "2026-01-01T00:00:00.000Z");
    const missing = prefetch(utf8("never stored"), LAYER_A, index, "2026-01-01T00:00:00.000Z");
    await assert.rejects(store.addRecords({ indexes: [index], prefetches: [missing] }), NotFoundError);
    assert.deepEqual(await store.listIndexes(), [], "nothing recorded by the refused call");
    const p = prefetch(artifact, LAYER_A, index, "2026-01-01T00:00:00.000Z");
    await store.addRecords({ indexes: [index], prefetches: [p] });
    rmSync(join(root, "content/blobs/sha256", p.digest.slice(7)));
    assert.deepEqual(await store.listPrefetches(), []);
  });
});

test("removing an index drops its prefetch records but keeps their blobs and other indexes' records", async () => {
  await withStore(async (store) => {
    const i1 = indexRecord(await putIndex(store, '{"i":1}'), "c", "2026-01-01T00:00:00.000Z");
    const i2 = indexRecord(await putIndex(store, '{"i":2}'), "d", "2026-01-01T00:00:00.000Z");
    // The same artifact bytes for a layer of each index: two records.
    const p1 = prefetch(artifact, LAYER_A, i1, "2026-01-01T00:00:00.000Z");
    const p2 = prefetch(artifact, LAYER_A, i2, "2026-01-01T00:00:00.000Z");
    const q1 = prefetch(other, LAYER_B, i1, "2026-01-01T00:00:00.000Z");
    await store.addRecords({ indexes: [i1, i2], prefetches: [p1, p2, q1] });
    assert.equal((await store.listPrefetches()).length, 3);
    await store.removeIndexes([i1.digest]);
    assert.deepEqual(await store.listPrefetches(), [p2]);
    assert.equal(await store.hasBlob(q1.digest), true, "prefetch blobs stay, like zTOC blobs");
    await store.removeIndexes([i2.digest]);
    assert.deepEqual(await store.listPrefetches(), []);
  });
});

test("an index replaced by a re-conversion takes its old prefetch records with it", async () => {
  await withStore(async (store) => {
    const first = indexRecord(await putIndex(store, '{"i":1}'), "c", "2026-01-01T00:00:00.000Z");
    await store.addRecords({ indexes: [first], prefetches: [prefetch(artifact, LAYER_A, first, first.createdAt)] });
    // Same manifest, platform, version and image ref, other paths → another index digest.
    const second = indexRecord(await putIndex(store, '{"i":2}'), "c", "2026-01-02T00:00:00.000Z");
    const now = prefetch(other, LAYER_B, second, second.createdAt);
    await store.addRecords({ indexes: [second], prefetches: [now] });
    assert.deepEqual((await store.listIndexes()).map((x) => x.digest), [second.digest]);
    assert.deepEqual(await store.listPrefetches(), [now]);
  });
});

test("records written before prefetch records existed still read; a bad prefetch record is a FormatError naming it", async () => {
  const old = utf8('{"version":1,"indexes":[\n\n],"ztocs":[\n\n]}\n');
  assert.deepEqual(decodeRecords(old), { indexes: [], ztocs: [], prefetches: [] });
  const good = { digest: sha256Digest(artifact), size: 3, layerDigest: LAYER_A, indexDigest: LAYER_B, createdAt: "2026-01-01T00:00:00.000Z" };
  const rec = { indexes: [], ztocs: [], prefetches: [good] };
  assert.deepEqual(decodeRecords(encodeRecords(rec)), rec);
  for (const [bad, field] of [
    [{ ...good, indexDigest: "sha256:nope" }, /prefetches\[0\]\.indexDigest is not a sha256 digest/],
    [{ ...good, size: -1 }, /prefetches\[0\]\.size is not a non-negative integer/],
    ["x", /prefetches\[0\] is not an object/],
  ] as const) {
    const text = `{"version":1,"indexes":[],"ztocs":[],"prefetches":[${JSON.stringify(bad)}]}`;
    assert.throws(() => decodeRecords(utf8(text)), (e: unknown) => e instanceof FormatError && field.test(e.message));
  }
  assert.throws(() => decodeRecords(utf8('{"version":1,"indexes":[],"ztocs":[],"prefetches":{}}')), /prefetches must be a list/);
  await withStore(async (store, root) => {
    writeFileSync(join(root, RECORDS_FILE), old);
    assert.deepEqual(await store.listPrefetches(), []);
    assert.deepEqual(await store.listIndexes(), []);
  });
});
