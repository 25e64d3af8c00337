// Interop with skopeo: `skopeo copy --all` of a converted image drops
// `artifactType` from the index entries (skopeo 1.9), so the copy's OCI index
// has another digest; `soci verify` must still pass, because the link that
// counts is the image manifest's `com.amazon.soci.index-digest` annotation
// (formats §8.6). The same for upstream's own converted example (formats §8.8,
// test/fixtures/upstream/convert-example), laid out here from the fixture bytes.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { blobFile, buildCliAndFixtures, checkLayout, IMAGES, missingTools, ok, ROOT, sha256, sociIn, tempDir, type Ran } from "./_soci_cli.ts";

const skip = missingTools(["skopeo"], "convert_skopeo_test");
const SOCI_V2 = "application/vnd.amazon.soci.index.v2+json";
const FX = join(ROOT, "test", "fixtures", "upstream");
let dir = "";
let soci: (...args: string[]) => Ran;

interface Entry {
  digest: string;
  artifactType?: string;
  annotations?: Record<string, string>;
}

before(() => {
  if (skip) return;
  buildCliAndFixtures(["multiarch"]);
  dir = tempDir("soci-convert-skopeo-");
  soci = sociIn(dir, join(dir, "store"));
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function skopeoCopy(from: string, to: string): void {
  const r = spawnSync("skopeo", ["copy", "-q", "--all", `oci:${join(dir, from)}:latest`, `oci:${join(dir, to)}:latest`], { encoding: "utf8", timeout: 120_000 });
  assert.equal(r.status, 0, `skopeo copy: ${r.stderr}`);
}

/** The root OCI index of the layout (through its tagged index.json entry). */
function rootIndex(layout: string): { digest: string; manifests: Entry[] } {
  const top = JSON.parse(readFileSync(join(dir, layout, "index.json"), "utf8"));
  const digest = top.manifests[0].digest as string;
  return { digest, manifests: JSON.parse(readFileSync(blobFile(join(dir, layout), digest), "utf8")).manifests };
}

test("skopeo copy --all of a converted multi-platform image still verifies, although the copy lost artifactType", { skip: skip ?? false }, () => {
  const conv = ok(soci("-q", "convert", "--all-platforms", "--min-layer-size", "0", join(IMAGES, "multiarch"), "oci:out:latest", "--format", "oci-dir"));
  const converted = rootIndex("out");
  assert.equal(converted.digest, conv.stdout.trim());
  assert.equal(converted.manifests.filter((d) => d.artifactType === SOCI_V2).length, 3);
  skopeoCopy("out", "copy");
  checkLayout(join(dir, "copy"));
  const copied = rootIndex("copy");
  // What makes this test meaningful: the copy's index differs only by the dropped artifactType.
  assert.notEqual(copied.digest, converted.digest);
  assert.deepEqual(
    copied.manifests,
    converted.manifests.map(({ artifactType: _, ...rest }) => rest),
  );
  const v = ok(soci("verify", "oci:copy:latest"));
  assert.equal(v.stdout, "ok: oci:copy:latest: 3 SOCI indexes and their zTOCs match the image\n");
  // And it is still a real check: a copy whose manifests no longer name their index fails.
  const idx = JSON.parse(readFileSync(blobFile(join(dir, "copy"), copied.digest), "utf8"));
  idx.manifests = idx.manifests.filter((d: Entry) => d.annotations?.["com.amazon.soci.image-manifest-digest"] === undefined);
  const bytes = Buffer.from(JSON.stringify(idx));
  writeFileSync(blobFile(join(dir, "copy"), sha256(bytes)), bytes);
  writeFileSync(join(dir, "copy", "index.json"), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: "application/vnd.oci.image.index.v1+json", digest: sha256(bytes), size: bytes.length, annotations: { "org.opencontainers.image.ref.name": "latest" } }] }));
  const bad = soci("verify", "oci:copy:latest");
  assert.equal(bad.code, 1);
  assert.match(bad.stdout, /^problem: manifest sha256:[0-9a-f]{64}: its SOCI index sha256:[0-9a-f]{64} is not listed in the image index$/m);
});

test("upstream's converted example (formats §8.8) verifies, before and after skopeo copy --all", { skip: skip ?? false }, () => {
  const layout = join(dir, "upstream");
  mkdirSync(join(layout, "blobs", "sha256"), { recursive: true });
  const blobs = [
    join(FX, "convert-example", "config.json"),
    join(FX, "convert-example", "converted-manifest.json"),
    join(FX, "convert-example", "soci-index-v2.json"),
    join(FX, "convert-example", "converted-oci-index.json"),
    join(FX, "inputs", "layer-a.tar.gz"),
    join(FX, "expected", "layer-a.tar.gz.span65536.ztoc"),
  ].map((p) => readFileSync(p));
  blobs.push(Buffer.from("{}"));
  for (const b of blobs) writeFileSync(blobFile(layout, sha256(b)), b);
  const index = blobs[3];
  assert.equal(sha256(index), "sha256:67ef8a50c7f6ad66232c6e03a16935658bf3fc016d3907c0716c67f3927602a6");
  writeFileSync(join(layout, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(
    join(layout, "index.json"),
    JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: [{ mediaType: "application/vnd.oci.image.index.v1+json", digest: sha256(index), size: index.length, annotations: { "org.opencontainers.image.ref.name": "latest" } }] }),
  );
  checkLayout(layout);
  assert.equal(ok(soci("verify", "oci:upstream:latest")).stdout, "ok: oci:upstream:latest: 1 SOCI index and their zTOCs match the image\n");
  skopeoCopy("upstream", "upstream-copy");
  assert.equal(rootIndex("upstream-copy").manifests.some((d) => d.artifactType !== undefined), false, "skopeo dropped artifactType");
  assert.equal(ok(soci("verify", "oci:upstream-copy:latest")).stdout, "ok: oci:upstream-copy:latest: 1 SOCI index and their zTOCs match the image\n");
});

test("soci convert --build-tool-identifier 'AWS SOCI CLI v0.2' of upstream's original example gives upstream's OCI index digest", { skip: skip ?? false }, () => {
  const src = join(dir, "example-src");
  mkdirSync(join(src, "blobs", "sha256"), { recursive: true });
  const original = readFileSync(join(FX, "convert-example", "original-manifest.json"));
  for (const p of [join(FX, "convert-example", "config.json"), join(FX, "inputs", "layer-a.tar.gz")]) {
    const b = readFileSync(p);
    writeFileSync(blobFile(src, sha256(b)), b);
  }
  writeFileSync(blobFile(src, sha256(original)), original);
  writeFileSync(join(src, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(join(src, "index.json"), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: "application/vnd.docker.distribution.manifest.v2+json", digest: sha256(original), size: original.length }] }));
  const r = ok(soci("-q", "convert", "--build-tool-identifier", "AWS SOCI CLI v0.2", "--span-size", "65536", "--min-layer-size", "0", "--format", "oci-dir", "example-src", "example-out"));
  assert.equal(r.stdout, "sha256:67ef8a50c7f6ad66232c6e03a16935658bf3fc016d3907c0716c67f3927602a6\n");
  ok(soci("verify", "example-out"));
});
