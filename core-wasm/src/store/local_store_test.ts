import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sha256Digest, utf8 } from "../bytes/mod.ts";
import { FormatError, NotFoundError } from "../errors.ts";
import { decodeRecords, encodeRecords, type IndexRecord, type ZtocRecord } from "./artifact_records.ts";
import { defaultStoreRoot, LocalStore } from "./local_store.ts";

function tmp(): string {
  return mkdtempSync(join(tmpdir(), "soci-store-"));
}

const ztoc = utf8("ztoc bytes");
const index = utf8('{"schemaVersion":2}');
const layerDigest = "sha256:" + "b".repeat(64);

function records(at: string): { index: IndexRecord; ztoc: ZtocRecord } {
  return {
    ztoc: { digest: sha256Digest(ztoc), size: ztoc.length, layerDigest, layerSize: 100, layerMediaType: "application/vnd.oci.image.layer.v1.tar+gzip", spanSize: 65536, imageRef: "oci:/x", createdAt: at },
    index: {
      digest: sha256Digest(index), size: index.length, mediaType: "application/vnd.oci.image.manifest.v1+json", manifestVersion: "v2",
      manifestDigest: "sha256:" + "c".repeat(64), imageRef: "oci:/x", imageDigest: "sha256:" + "d".repeat(64), platform: "linux/amd64", spanSize: 65536,
      layers: [{ layerDigest, layerSize: 100, layerMediaType: "application/vnd.oci.image.layer.v1.tar+gzip", ztocDigest: sha256Digest(ztoc), ztocSize: ztoc.length }],
      createdAt: at,
    },
  };
}

test("defaultStoreRoot() uses XDG_DATA_HOME, else ~/.local/share", () => {
  assert.equal(defaultStoreRoot({ XDG_DATA_HOME: "/data" }), "/data/soci");
  assert.equal(defaultStoreRoot({ HOME: "/home/u" }), "/home/u/.local/share/soci");
});

test("LocalStore records indexes and zTOCs, lists them, finds a zTOC for reuse and removes an index", async () => {
  const root = tmp();
  try {
    const store = await LocalStore.open(root);
    const r = records("2026-01-01T00:00:00.000Z");
    await assert.rejects(store.addRecords({ indexes: [r.index] }), NotFoundError, "a record needs its blob first");
    await store.putBlob({ mediaType: "x", digest: r.ztoc.digest, size: ztoc.length }, ztoc);
    await store.putBlob({ mediaType: "x", digest: r.index.digest, size: index.length }, index);
    await store.addRecords({ indexes: [r.index], ztocs: [r.ztoc] });
    await store.addRecords({ indexes: [r.index], ztocs: [r.ztoc] });
    assert.deepEqual(await store.listIndexes(), [r.index], "adding again replaces");
    assert.deepEqual(await store.listIndexes({ platforms: ["linux/arm64"] }), []);
    assert.deepEqual(await store.listZtocs({ layerDigest }), [r.ztoc]);
    assert.deepEqual(await store.findZtoc(layerDigest, 65536), ztoc);
    assert.equal(await store.findZtoc(layerDigest, 4194304), null);
    const layout = JSON.parse(readFileSync(join(root, "content/index.json"), "utf8"));
    assert.deepEqual(layout.manifests.map((m: { digest: string }) => m.digest), [r.index.digest]);
    assert.deepEqual(await store.removeIndexes([r.index.digest]), [r.index.digest]);
    assert.deepEqual(await store.listIndexes(), []);
    assert.equal(await store.hasBlob(r.index.digest), false);
    await assert.rejects(store.removeIndexes([r.index.digest]), NotFoundError);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("LocalStore.open() after a crash removes temp files, and records whose blobs vanished are not listed", async () => {
  const root = tmp();
  try {
    const store = await LocalStore.open(root);
    const r = records("2026-01-01T00:00:00.000Z");
    await store.putBlob({ mediaType: "x", digest: r.ztoc.digest, size: ztoc.length }, ztoc);
    await store.putBlob({ mediaType: "x", digest: r.index.digest, size: index.length }, index);
    await store.addRecords({ indexes: [r.index], ztocs: [r.ztoc] });
    // What a kill -9 can leave: half-written temp files beside the records and blobs.
    writeFileSync(join(root, ".tmp-0001"), '{"version":1,"indexes":[');
    writeFileSync(join(root, "content/blobs/sha256/.tmp-0002"), "half a blob");
    rmSync(join(root, "content/blobs/sha256", r.index.digest.slice(7)));
    const reopened = await LocalStore.open(root);
    assert.equal(existsSync(join(root, ".tmp-0001")), false);
    assert.equal(existsSync(join(root, "content/blobs/sha256/.tmp-0002")), false);
    assert.deepEqual(await reopened.listIndexes(), []);
    assert.deepEqual(await reopened.listZtocs(), [r.ztoc]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("LocalStore reports a damaged records file with a hint instead of guessing", async () => {
  const root = tmp();
  try {
    const store = await LocalStore.open(root);
    writeFileSync(join(root, "artifacts.json"), '{"version":1,"indexes":[{"digest":"nope"}],"ztocs":[]}');
    await assert.rejects(store.listIndexes(), (e: unknown) => e instanceof FormatError && /Cannot read the records/.test(e.message) && /Move .*artifacts\.json aside/.test((e as FormatError).hint ?? ""));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("encodeRecords() and decodeRecords() round-trip", () => {
  const r = records("2026-01-01T00:00:00.000Z");
  const rec = { indexes: [r.index], ztocs: [r.ztoc], prefetches: [] };
  assert.deepEqual(decodeRecords(encodeRecords(rec)), rec);
});
