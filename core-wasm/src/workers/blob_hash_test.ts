import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FormatError } from "../errors.ts";
import { sha256Digest } from "../bytes/mod.ts";
import { buildZtoc } from "../ztoc/mod.ts";
import { reusedFileChunks, startBlobHashHelper } from "./mod.ts";

const root = process.env.SOCI_REPO_ROOT ?? process.cwd();
const fixtures = join(root, "test", "fixtures", "upstream");
const layerPath = join(fixtures, "inputs", "layer-a.tar.gz");
const layerA = readFileSync(layerPath);
const expectedA = readFileSync(join(fixtures, "expected", "layer-a.tar.gz.span65536.ztoc"));
const opts = { compression: "gzip" as const, spanSize: 65536, buildToolIdentifier: "AWS SOCI CLI v0.2", source: "layer-a" };

test("a build whose hashing runs on the helper thread reproduces the upstream zTOC byte for byte", async () => {
  const helper = startBlobHashHelper();
  try {
    const file = { path: layerPath, offset: 0, size: layerA.length };
    const built = await buildZtoc(reusedFileChunks(file), { ...opts, expectedDigest: sha256Digest(layerA), expectedSize: layerA.length, hasher: helper.hasher(file) });
    assert.deepEqual(Buffer.from(built.bytes), expectedA);
    assert.equal(built.blobDigest, sha256Digest(layerA));
    assert.equal(built.blobSize, layerA.length);
    assert.ok(built.ztoc.spanDigests.length > 1, "several spans, so span digests come from the helper");
  } finally {
    await helper.close();
  }
});

test("the helper hashes a blob stored at an offset of a larger file, and serves builds one after another", async () => {
  const dir = mkdtempSync(join(tmpdir(), "soci-blobhash-"));
  const helper = startBlobHashHelper();
  try {
    const path = join(dir, "archive");
    writeFileSync(path, Buffer.concat([Buffer.alloc(777, 7), layerA, Buffer.alloc(99, 9)]));
    for (let i = 0; i < 2; i++) {
      const file = { path, offset: 777, size: layerA.length };
      const built = await buildZtoc(reusedFileChunks(file), { ...opts, expectedDigest: sha256Digest(layerA), hasher: helper.hasher(file) });
      assert.deepEqual(Buffer.from(built.bytes), expectedA);
    }
  } finally {
    await helper.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a corrupt blob hashed on the helper is reported as not matching its digest, not as a parse error", async () => {
  const dir = mkdtempSync(join(tmpdir(), "soci-blobhash-"));
  const helper = startBlobHashHelper();
  try {
    const bad = Buffer.from(layerA);
    for (let i = 2000; i < 2400; i++) bad[i] ^= 0x5a;
    const path = join(dir, "bad.tar.gz");
    writeFileSync(path, bad);
    const file = { path, offset: 0, size: bad.length };
    await assert.rejects(
      buildZtoc(reusedFileChunks(file), { ...opts, expectedDigest: sha256Digest(layerA), hasher: helper.hasher(file) }),
      (e: unknown) => e instanceof FormatError && /has digest sha256:[0-9a-f]{64}, expected/.test(e.message),
    );
  } finally {
    await helper.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a blob file the helper cannot open fails the build with the helper's reason", async () => {
  const helper = startBlobHashHelper();
  try {
    const missing = { path: join(tmpdir(), `soci-no-such-blob-${process.pid}`), offset: 0, size: layerA.length };
    const blob = (async function* () {
      yield* [layerA];
    })();
    await assert.rejects(buildZtoc(blob, { ...opts, hasher: helper.hasher(missing) }), (e: unknown) => e instanceof Error && /Cannot hash the layer blob: .*ENOENT/.test(e.message));
  } finally {
    await helper.close();
  }
});
