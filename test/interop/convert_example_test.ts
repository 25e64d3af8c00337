// `soci convert` / `soci create` against upstream's worked example
// (formats §8.8, fixtures convert-example/): an OCI layout holding the Docker
// schema-2 image of original-manifest.json + config.json + layer-a.tar.gz is
// converted with span 65536 and min layer size 0; the SOCI index, the
// converted manifest and the OCI index must equal the fixture bytes. The
// expected values come from upstream only (UPSTREAM-README.md).
import { test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sha256Digest } from "../../core-wasm/src/bytes/mod.ts";
import {
  encodeIndex,
  LayoutSource,
  MEDIA_TYPE_DOCKER_MANIFEST,
  MEDIA_TYPE_OCI_INDEX,
  OciLayoutWriter,
  openOciArchive,
  OciArchiveWriter,
  type Descriptor,
} from "../../core-wasm/src/oci/mod.ts";
import { convertImage, createSociIndexes, type BuildLayerZtoc } from "../../core-wasm/src/soci/mod.ts";
import { buildZtoc, decodeZtoc } from "../../core-wasm/src/ztoc/mod.ts";

const ROOT = process.env.SOCI_REPO_ROOT ?? process.cwd();
const FX = join(ROOT, "test/fixtures/upstream");
const EX = join(FX, "convert-example");
const read = (p: string) => new Uint8Array(readFileSync(p));

const config = read(join(EX, "config.json"));
const original = read(join(EX, "original-manifest.json"));
const layer = read(join(FX, "inputs/layer-a.tar.gz"));
const expectedZtoc = read(join(FX, "expected/layer-a.tar.gz.span65536.ztoc"));
const OPTS = { spanSize: 65536, minLayerSize: 0, hostPlatform: { architecture: "amd64", os: "linux" } };

function tmp(): string {
  return mkdtempSync(join(tmpdir(), "soci-convert-example-"));
}

/** An OCI layout with the example image; index.json names the Docker manifest. */
function writeExampleLayout(dir: string): Descriptor {
  mkdirSync(join(dir, "blobs/sha256"), { recursive: true });
  for (const b of [config, original, layer]) writeFileSync(join(dir, "blobs/sha256", sha256Digest(b).slice(7)), b);
  writeFileSync(join(dir, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}');
  const root: Descriptor = { mediaType: MEDIA_TYPE_DOCKER_MANIFEST, digest: sha256Digest(original), size: original.length };
  writeFileSync(join(dir, "index.json"), encodeIndex({ schemaVersion: 2, mediaType: MEDIA_TYPE_OCI_INDEX, manifests: [root] }));
  return root;
}

/** A builder that returns upstream's zTOC for layer-a and fails for anything else. */
const fixtureBuilder: BuildLayerZtoc = async (blob, opts) => {
  for await (const _ of blob) {
    // drain: the source verifies digest and size as the stream ends
  }
  assert.equal(opts.expectedDigest, sha256Digest(layer));
  assert.equal(opts.spanSize, 65536);
  assert.equal(opts.compression, "gzip");
  return { ztoc: decodeZtoc(expectedZtoc), bytes: expectedZtoc, digest: sha256Digest(expectedZtoc), size: expectedZtoc.length, blobDigest: sha256Digest(layer), blobSize: layer.length, warnings: [] };
};

for (const [name, build] of [["the fixture zTOC", fixtureBuilder], ["the real buildZtoc", undefined]] as const) {
  test(`convertImage() with ${name} reproduces upstream's SOCI index, converted manifest and OCI index bytes`, async () => {
    const src = tmp();
    const out = tmp();
    try {
      writeExampleLayout(src);
      const result = await convertImage(await LayoutSource.openDir(src), await OciLayoutWriter.open(out), { ...OPTS, ...(build ? { buildLayerZtoc: build } : {}) });
      const blob = (d: string) => read(join(out, "blobs/sha256", d.slice(7)));
      const sociV2 = read(join(EX, "soci-index-v2.json"));
      const manifest = read(join(EX, "converted-manifest.json"));
      const ociIndex = read(join(EX, "converted-oci-index.json"));
      assert.equal(result.platforms.length, 1);
      const p = result.platforms[0];
      assert.deepEqual(p.sociIndex!.bytes, sociV2);
      assert.equal(p.sociIndex!.descriptor.digest, "sha256:939538ab53225170a8c0065742b0b27d4933686c99ebcecadca3b12aa86cc425");
      assert.equal(p.imageManifest.digest, "sha256:0505fee8cb17e0baecb47219d2a9681398a30e23bd95663f7a175c591d0c9ca7");
      assert.deepEqual(result.indexBytes, ociIndex);
      assert.equal(result.descriptor.digest, "sha256:67ef8a50c7f6ad66232c6e03a16935658bf3fc016d3907c0716c67f3927602a6");
      assert.equal(result.notice, undefined);
      assert.deepEqual(p.layers.map((l) => l.line), [
        "layer sha256:f29343ab0df37c8264b2ea88dc6567745efe314bdaf54acfbe2dfd28f25996c4 -> ztoc sha256:ee8e1124b3922828dc5d4e432fb8e6e78f8755e513da9cb7866c1871abb744a3",
      ]);
      // Every blob the new image references is in the output layout, byte for byte.
      assert.deepEqual(blob(result.descriptor.digest), ociIndex);
      assert.deepEqual(blob(p.imageManifest.digest), manifest);
      assert.deepEqual(blob(p.sociIndex!.descriptor.digest), sociV2);
      assert.deepEqual(blob("sha256:ee8e1124b3922828dc5d4e432fb8e6e78f8755e513da9cb7866c1871abb744a3"), expectedZtoc);
      assert.deepEqual(blob("sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"), new TextEncoder().encode("{}"));
      assert.deepEqual(blob(sha256Digest(layer)), layer);
      assert.deepEqual(blob(sha256Digest(config)), config);
      const top = JSON.parse(readFileSync(join(out, "index.json"), "utf8"));
      assert.deepEqual(top.manifests, [{ mediaType: MEDIA_TYPE_OCI_INDEX, digest: result.descriptor.digest, size: result.descriptor.size }]);
    } finally {
      rmSync(src, { recursive: true, force: true });
      rmSync(out, { recursive: true, force: true });
    }
  });
}

test("createSociIndexes() reproduces upstream's SOCI index v1 for the original image", async () => {
  const src = tmp();
  try {
    writeExampleLayout(src);
    const result = await createSociIndexes(await LayoutSource.openDir(src), { ...OPTS, buildLayerZtoc: fixtureBuilder });
    assert.equal(result.indexes.length, 1);
    const idx = result.indexes[0].sociIndex!;
    assert.deepEqual(idx.bytes, read(join(EX, "soci-index-v1.json")));
    assert.equal(idx.descriptor.digest, "sha256:708973706b2bb30435dcb7d0210ed65e59a398c813ce206bbd5bf27c93f1e70b");
    assert.deepEqual(result.indexes[0].platform, { architecture: "amd64", os: "linux" });
  } finally {
    rmSync(src, { recursive: true, force: true });
  }
});

test("converting the converted example again gives the same OCI index digest", async () => {
  const src = tmp();
  const out1 = tmp();
  const out2 = tmp();
  try {
    writeExampleLayout(src);
    const first = await convertImage(await LayoutSource.openDir(src), await OciLayoutWriter.open(out1), { ...OPTS, buildLayerZtoc: fixtureBuilder });
    const second = await convertImage(await LayoutSource.openDir(out1), await OciLayoutWriter.open(out2), { ...OPTS, buildLayerZtoc: fixtureBuilder });
    assert.equal(second.descriptor.digest, first.descriptor.digest);
    assert.deepEqual(second.indexBytes, first.indexBytes);
  } finally {
    for (const d of [src, out1, out2]) rmSync(d, { recursive: true, force: true });
  }
});

test("converting into an oci-archive gives the same image, readable back as a source", async () => {
  const src = tmp();
  const out = tmp();
  try {
    writeExampleLayout(src);
    const archive = join(out, "image.tar");
    const result = await convertImage(await LayoutSource.openDir(src), await OciArchiveWriter.create(archive), { ...OPTS, buildLayerZtoc: fixtureBuilder });
    assert.equal(result.descriptor.digest, "sha256:67ef8a50c7f6ad66232c6e03a16935658bf3fc016d3907c0716c67f3927602a6");
    const back = await openOciArchive(archive);
    const root = await back.resolveRoot();
    assert.equal(root.descriptor.digest, result.descriptor.digest);
    assert.equal(root.kind, "index");
    assert.ok(await back.hasBlob(sha256Digest(layer)));
    const again = await convertImage(back, await OciLayoutWriter.open(join(out, "again")), { ...OPTS, buildLayerZtoc: fixtureBuilder });
    assert.equal(again.descriptor.digest, result.descriptor.digest);
  } finally {
    rmSync(src, { recursive: true, force: true });
    rmSync(out, { recursive: true, force: true });
  }
});

test("a conversion whose only layer is below the minimum size writes a valid image and a notice naming --min-layer-size", async () => {
  const src = tmp();
  const out = tmp();
  try {
    writeExampleLayout(src);
    const result = await convertImage(await LayoutSource.openDir(src), await OciLayoutWriter.open(out), { ...OPTS, minLayerSize: 10485760, buildLayerZtoc: fixtureBuilder });
    assert.match(result.notice!.message, /^no layer is large enough to index/);
    assert.match(result.notice!.hint, /--min-layer-size 0/);
    assert.equal(result.platforms[0].sociIndex, null);
    assert.equal(result.platforms[0].layers[0].line, `ztoc skipped - layer ${sha256Digest(layer)} (application/vnd.docker.image.rootfs.diff.tar.gzip) size 130019 is less than min-layer-size 10485760`);
    const idx = JSON.parse(new TextDecoder().decode(result.indexBytes));
    assert.equal(idx.manifests.length, 1);
    assert.equal(idx.manifests[0].annotations, undefined);
    assert.equal(idx.manifests[0].mediaType, "application/vnd.oci.image.manifest.v1+json");
  } finally {
    rmSync(src, { recursive: true, force: true });
    rmSync(out, { recursive: true, force: true });
  }
});

test("a layer whose zTOC cannot be built is skipped with its reason and the image is still written", async () => {
  const src = tmp();
  const out = tmp();
  try {
    writeExampleLayout(src);
    const { FormatError } = await import("../../core-wasm/src/errors.ts");
    const failing: BuildLayerZtoc = async () => {
      throw new FormatError("Cannot build zTOC: gzip data error");
    };
    const result = await convertImage(await LayoutSource.openDir(src), await OciLayoutWriter.open(out), { ...OPTS, buildLayerZtoc: failing });
    const l = result.platforms[0].layers[0];
    assert.equal(l.status, "skipped");
    assert.match(l.line, /^ztoc skipped - layer sha256:f29343ab\S+ \(application\/vnd\.docker\.image\.rootfs\.diff\.tar\.gzip\) could not be indexed: Cannot build zTOC: gzip data error$/);
    assert.match(result.notice!.message, /^no zTOC was created/);
  } finally {
    rmSync(src, { recursive: true, force: true });
    rmSync(out, { recursive: true, force: true });
  }
});

