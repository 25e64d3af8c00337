import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { sha256Digest, utf8 } from "../bytes/mod.ts";
import { FailedPreconditionError, FormatError, NotFoundError } from "../errors.ts";
import {
  ANNOTATION_IMAGE_MANIFEST_DIGEST,
  ANNOTATION_INDEX_DIGEST,
  encodeIndex,
  encodeManifest,
  LayoutSource,
  MEDIA_TYPE_DOCKER_MANIFEST_LIST,
  MEDIA_TYPE_OCI_INDEX,
  MEDIA_TYPE_OCI_MANIFEST,
  MEDIA_TYPE_SOCI_INDEX_V2,
  OciLayoutWriter,
  type Descriptor,
  type Index,
} from "../oci/mod.ts";
import { writeTar } from "../tar/mod.ts";
import { convertImage } from "./convert.ts";
import { selectLayer } from "./layer_selection.ts";
import { verifySociImage } from "./verify.ts";

const HOST = { architecture: "amd64", os: "linux" };
const d = (mediaType: string, b: Uint8Array, extra: Partial<Descriptor> = {}): Descriptor => ({ mediaType, digest: sha256Digest(b), size: b.length, ...extra });

function tmp(): string {
  return mkdtempSync(join(tmpdir(), "soci-convert-"));
}

function put(dir: string, b: Uint8Array): void {
  writeFileSync(join(dir, "blobs/sha256", sha256Digest(b).slice(7)), b);
}

/** A layer: gzip of a tar with one file of `n` pseudo-random bytes. */
function gzLayer(seed: number, n: number): Uint8Array {
  const data = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    data[i] = (x >>> 24) % 16 === 0 ? x & 0xff : 0x61 + (i % 7);
  }
  return new Uint8Array(gzipSync(writeTar([{ name: `f${seed}.bin`, type: "file", data }])));
}

/** A multi-platform layout: amd64, arm64/v8 and an attestation manifest, under an OCI index (or Docker list). */
function multiArch(dir: string, listType = MEDIA_TYPE_OCI_INDEX): Index {
  mkdirSync(join(dir, "blobs/sha256"), { recursive: true });
  writeFileSync(join(dir, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}');
  const entries: Descriptor[] = [];
  for (const [arch, variant, seed] of [["amd64", undefined, 1], ["arm64", "v8", 2]] as const) {
    const cfg = utf8(JSON.stringify({ architecture: arch, os: "linux", ...(variant ? { variant } : {}) }));
    const layer = gzLayer(seed, 200000);
    const m = encodeManifest({ schemaVersion: 2, mediaType: MEDIA_TYPE_OCI_MANIFEST, config: d("application/vnd.oci.image.config.v1+json", cfg), layers: [d("application/vnd.oci.image.layer.v1.tar+gzip", layer)], annotations: { "org.example": arch } });
    for (const b of [cfg, layer, m]) put(dir, b);
    entries.push(d(MEDIA_TYPE_OCI_MANIFEST, m, { platform: { architecture: arch, os: "linux", ...(variant ? { variant } : {}) } }));
  }
  const att = utf8(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"${sha256Digest(utf8("{}"))}","size":2},"layers":[]}`);
  put(dir, att);
  put(dir, utf8("{}"));
  entries.push(d(MEDIA_TYPE_OCI_MANIFEST, att, { platform: { architecture: "unknown", os: "unknown" }, annotations: { "vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": entries[0].digest } }));
  const index: Index = { schemaVersion: 2, mediaType: listType, manifests: entries, annotations: { "org.opencontainers.image.created": "2026-01-01T00:00:00Z" } };
  const ib = encodeIndex(index);
  put(dir, ib);
  writeFileSync(join(dir, "index.json"), encodeIndex({ schemaVersion: 2, mediaType: MEDIA_TYPE_OCI_INDEX, manifests: [d(listType, ib)] }));
  return index;
}

const OPTS = { spanSize: 65536, minLayerSize: 0, hostPlatform: HOST, jobs: 2 };

async function convertDir(src: string, out: string, opts: Record<string, unknown>) {
  return convertImage(await LayoutSource.openDir(src), await OciLayoutWriter.open(out), { ...OPTS, ...opts });
}

test("convertImage() with all platforms annotates each image manifest, appends SOCI descriptors after them and verifies clean", async () => {
  const src = tmp();
  const out = tmp();
  try {
    const original = multiArch(src, MEDIA_TYPE_DOCKER_MANIFEST_LIST);
    const r = await convertDir(src, out, { allPlatforms: true });
    const idx = JSON.parse(new TextDecoder().decode(r.indexBytes));
    assert.equal(idx.mediaType, MEDIA_TYPE_OCI_INDEX);
    assert.deepEqual(idx.annotations, original.annotations);
    assert.equal(idx.manifests.length, 5);
    const [a, b, t, sa, sb] = idx.manifests;
    assert.equal(a.annotations[ANNOTATION_INDEX_DIGEST], sa.digest);
    assert.equal(a.annotations["org.example"], "amd64");
    assert.equal(b.annotations[ANNOTATION_INDEX_DIGEST], sb.digest);
    assert.deepEqual(b.platform, { architecture: "arm64", os: "linux", variant: "v8" });
    assert.equal(t.annotations, undefined, "attestation descriptor annotations are replaced by the manifest's own (none)");
    assert.deepEqual(sa.platform, { architecture: "amd64", os: "linux" });
    assert.deepEqual(sb.platform, { architecture: "arm64", os: "linux", variant: "v8" }, "--all-platforms copies platforms verbatim");
    for (const s of [sa, sb]) assert.equal(s.artifactType, MEDIA_TYPE_SOCI_INDEX_V2);
    assert.equal(sa.annotations[ANNOTATION_IMAGE_MANIFEST_DIGEST], a.digest);
    assert.deepEqual(await verifySociImage(await LayoutSource.openDir(out)), []);
  } finally {
    rmSync(src, { recursive: true, force: true });
    rmSync(out, { recursive: true, force: true });
  }
});

test("re-converting all platforms is idempotent, and re-converting one platform keeps the others' SOCI indexes intact", async () => {
  const src = tmp();
  const out1 = tmp();
  const out2 = tmp();
  const out3 = tmp();
  try {
    multiArch(src);
    const first = await convertDir(src, out1, { allPlatforms: true });
    const again = await convertDir(out1, out2, { allPlatforms: true });
    assert.equal(again.descriptor.digest, first.descriptor.digest);
    const partial = await convertDir(out1, out3, { platforms: ["linux/amd64"], spanSize: 100000 });
    const before = JSON.parse(new TextDecoder().decode(first.indexBytes)).manifests;
    const after = JSON.parse(new TextDecoder().decode(partial.indexBytes)).manifests;
    assert.equal(after.length, 5);
    assert.notEqual(after[0].digest, before[0].digest, "amd64 manifest names its new index");
    assert.notEqual(after[3].digest, before[3].digest, "amd64 SOCI index replaced in place");
    assert.deepEqual(after[3].platform, { architecture: "amd64", os: "linux" });
    assert.deepEqual(after[1], before[1], "arm64 manifest untouched");
    assert.deepEqual(after[4], before[4], "arm64 SOCI descriptor untouched (upstream corrupts it)");
    assert.deepEqual(await verifySociImage(await LayoutSource.openDir(out3)), []);
  } finally {
    for (const x of [src, out1, out2, out3]) rmSync(x, { recursive: true, force: true });
  }
});

test("convertImage() on an index source indexes the host platform only but re-encodes every present manifest", async () => {
  const src = tmp();
  const out = tmp();
  try {
    multiArch(src);
    const r = await convertDir(src, out, {});
    const m = JSON.parse(new TextDecoder().decode(r.indexBytes)).manifests;
    assert.equal(m.length, 4);
    assert.ok(m[0].annotations[ANNOTATION_INDEX_DIGEST]);
    assert.equal(m[1].annotations[ANNOTATION_INDEX_DIGEST], undefined);
    assert.deepEqual(m[3].platform, HOST);
  } finally {
    rmSync(src, { recursive: true, force: true });
    rmSync(out, { recursive: true, force: true });
  }
});

test("convertImage() fails with NotFoundError for a platform the image lacks, and leaves the destination without index.json", async () => {
  const src = tmp();
  const out = tmp();
  try {
    multiArch(src);
    await assert.rejects(convertDir(src, out, { platforms: ["linux/s390x"] }), (e: unknown) => e instanceof NotFoundError && /platform linux\/s390x: not found/.test(e.message));
    assert.throws(() => readFileSync(join(out, "index.json")));
  } finally {
    rmSync(src, { recursive: true, force: true });
    rmSync(out, { recursive: true, force: true });
  }
});

test("convertImage() refuses a source whose index lists another index", async () => {
  const src = tmp();
  const out = tmp();
  try {
    const inner = multiArch(src);
    const ib = encodeIndex(inner);
    const outer = encodeIndex({ schemaVersion: 2, mediaType: MEDIA_TYPE_OCI_INDEX, manifests: [d(MEDIA_TYPE_OCI_INDEX, ib), inner.manifests[0]] });
    put(src, outer);
    writeFileSync(join(src, "index.json"), encodeIndex({ schemaVersion: 2, mediaType: MEDIA_TYPE_OCI_INDEX, manifests: [d(MEDIA_TYPE_OCI_INDEX, outer)] }));
    await assert.rejects(convertDir(src, out, {}), (e: unknown) => e instanceof FailedPreconditionError && /lists another index/.test(e.message));
  } finally {
    rmSync(src, { recursive: true, force: true });
    rmSync(out, { recursive: true, force: true });
  }
});

test("verifySociImage() reports an unlisted SOCI index and a corrupt zTOC precisely", async () => {
  const src = tmp();
  const out = tmp();
  try {
    multiArch(src);
    const r = await convertDir(src, out, { allPlatforms: true });
    const idx = JSON.parse(new TextDecoder().decode(r.indexBytes));
    const [a, , , sa] = idx.manifests;
    const reduced = encodeIndex({ ...idx, manifests: idx.manifests.filter((x: Descriptor) => x.digest !== sa.digest) });
    put(out, reduced);
    writeFileSync(join(out, "index.json"), encodeIndex({ schemaVersion: 2, mediaType: MEDIA_TYPE_OCI_INDEX, manifests: [d(MEDIA_TYPE_OCI_INDEX, reduced)] }));
    const ztoc = r.platforms[1].layers[0];
    assert.equal(ztoc.status, "built");
    const path = join(out, "blobs/sha256", (ztoc as { ztocDigest: string }).ztocDigest.slice(7));
    const bytes = readFileSync(path);
    bytes[bytes.length - 1] ^= 1;
    writeFileSync(path, bytes);
    const problems = await verifySociImage(await LayoutSource.openDir(out));
    assert.equal(problems.length, 2, problems.join("\n"));
    assert.match(problems[0], new RegExp(`^manifest ${a.digest}: its SOCI index ${sa.digest} is not listed in the image index$`));
    assert.match(problems[1], /zTOC sha256:\S+: Cannot read blob sha256:\S+: its content has digest/);
  } finally {
    rmSync(src, { recursive: true, force: true });
    rmSync(out, { recursive: true, force: true });
  }
});

const selection: Array<[string, number, string]> = [
  ["application/vnd.oci.image.layer.v1.tar+gzip", 10, "build gzip"],
  ["application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", 10, "build gzip"],
  ["application/vnd.docker.image.rootfs.diff.tar.gzip", 10, "build gzip"],
  ["application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", 10, "build gzip"],
  ["application/vnd.oci.image.layer.v1.tar", 10, "build uncompressed"],
  ["application/vnd.docker.image.rootfs.diff.tar", 10, "build uncompressed"],
  ["application/vnd.oci.image.layer.v1.tar+gzip+encrypted", 10, "build gzip"],
  ["application/vnd.oci.image.layer.v1.tar+zstd", 10, 'skip got "zstd"'],
  ["application/vnd.docker.image.rootfs.diff.tar.zstd", 10, 'skip got "zstd"'],
  ["application/vnd.oci.image.layer.v1.tar+encrypted", 10, 'skip got ""'],
  ["application/vnd.oci.image.layer.nondistributable.v1.tar", 10, 'skip got ""'],
  ["application/vnd.oci.image.layer.v1.tar+gzip", 9, "skip size"],
  ["application/vnd.oci.image.layer.v1.tar+zstd", 9, "skip size"],
  ["application/vnd.amazon.soci.prefetch.v1+json", 0, "ignore"],
];
for (const [mediaType, size, want] of selection) {
  test(`selectLayer() with min size 10 decides "${want}" for ${mediaType} of ${size} bytes`, () => {
    const r = selectLayer({ mediaType, digest: "sha256:" + "a".repeat(64), size }, 10);
    const got = r.action === "build" ? `build ${r.compression}` : r.action === "ignore" ? "ignore" : r.reason === "min-layer-size" ? "skip size" : `skip got ${/but got (".*")$/.exec(r.line)![1]}`;
    assert.equal(got, want);
  });
}

test("selectLayer() fails for a media type that is not a layer type", () => {
  assert.throws(() => selectLayer({ mediaType: "application/json", digest: "sha256:" + "a".repeat(64), size: 1 }, 0), (e: unknown) => e instanceof FormatError && /is not a layer mediaType/.test(e.message));
});
