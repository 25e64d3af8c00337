// Prefetch artifacts through the index build and `convert` (formats §9.6, §9.4):
// descriptors after the zTOCs, bottom to top, blobs returned and written,
// no paths = the same bytes as before; `verify` on artifacts that are sound,
// corrupt, unparsable, out of range, or name a layer without a zTOC.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { sha256Digest, utf8 } from "../bytes/mod.ts";
import {
  ANNOTATION_IMAGE_LAYER_DIGEST,
  ANNOTATION_IMAGE_MANIFEST_DIGEST,
  ANNOTATION_INDEX_DIGEST,
  encodeIndex,
  encodeManifest,
  LayoutSource,
  MEDIA_TYPE_OCI_INDEX,
  MEDIA_TYPE_OCI_MANIFEST,
  MEDIA_TYPE_SOCI_LAYER,
  MEDIA_TYPE_SOCI_PREFETCH,
  OciLayoutWriter,
  parseIndex,
  parseManifest,
  type Descriptor,
  type Manifest,
} from "../oci/mod.ts";
import { writeTar } from "../tar/mod.ts";
import { buildIndexForManifest, type IndexBuildOptions } from "./build_soci_index.ts";
import { convertImage } from "./convert.ts";
import { buildPrefetchArtifacts, encodePrefetchArtifact, prefetchDescriptor } from "./prefetch.ts";
import { verifySociImage } from "./verify.ts";

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), "soci-prefetch-build-"));
  dirs.push(d);
  return d;
}

const desc = (mediaType: string, b: Uint8Array): Descriptor => ({ mediaType, digest: sha256Digest(b), size: b.length });
const blobAt = (dir: string, digest: string) => join(dir, "blobs/sha256", digest.slice(7));
const put = (dir: string, b: Uint8Array) => writeFileSync(blobAt(dir, sha256Digest(b)), b);

/** Pseudo-random bytes that gzip barely compresses (so a file spans several 64 KiB spans). */
function noise(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

const GZ = "application/vnd.oci.image.layer.v1.tar+gzip";
const ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd";
const SPAN = 65536;

/**
 * A one-manifest layout. Layers bottom to top: A (a/x, shared.txt), B
 * (b/pad 300 kB, b/y, shared.txt), C zstd (skipped: no zTOC), then A again
 * when `twice`.
 */
function layout(twice = false): { dir: string; manifest: Manifest; layers: Descriptor[] } {
  const dir = tmp();
  mkdirSync(join(dir, "blobs/sha256"), { recursive: true });
  writeFileSync(join(dir, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}');
  const a = new Uint8Array(gzipSync(writeTar([{ name: "a/x", type: "file", data: noise(100_000, 1) }, { name: "shared.txt", type: "file", data: utf8("from A") }])));
  const b = new Uint8Array(
    gzipSync(writeTar([{ name: "b/pad", type: "file", data: noise(300_000, 2) }, { name: "b/y", type: "file", data: noise(150_000, 3) }, { name: "shared.txt", type: "file", data: utf8("from B") }])),
  );
  const c = utf8("not really zstd");
  const cfg = utf8('{"architecture":"amd64","os":"linux"}');
  for (const x of [a, b, c, cfg]) put(dir, x);
  const layers = [desc(GZ, a), desc(GZ, b), desc(ZSTD, c), ...(twice ? [desc(GZ, a)] : [])];
  const manifest: Manifest = { schemaVersion: 2, mediaType: MEDIA_TYPE_OCI_MANIFEST, config: desc("application/vnd.oci.image.config.v1+json", cfg), layers };
  const mb = encodeManifest(manifest);
  put(dir, mb);
  writeFileSync(join(dir, "index.json"), encodeIndex({ schemaVersion: 2, mediaType: MEDIA_TYPE_OCI_INDEX, manifests: [{ ...desc(MEDIA_TYPE_OCI_MANIFEST, mb), platform: { architecture: "amd64", os: "linux" } }] }));
  return { dir, manifest, layers };
}

const OPTS: IndexBuildOptions = { spanSize: SPAN, minLayerSize: 0 };
const PATHS = ["/a/x", "shared.txt", "./b/../b/y", "/nope", "/c/z"];

test("buildIndexForManifest() with prefetch paths lists one artifact per layer after the zTOCs, bottom to top, and returns their blobs", async () => {
  const { dir, manifest, layers } = layout();
  const source = await LayoutSource.openDir(dir);
  const built = await buildIndexForManifest(source, manifest, "v2", { ...OPTS, prefetchPaths: PATHS });
  assert.ok(built.index !== null);
  const kinds = built.index.manifest.layers.map((d) => [d.mediaType, d.annotations?.[ANNOTATION_IMAGE_LAYER_DIGEST]]);
  assert.deepEqual(kinds, [
    [MEDIA_TYPE_SOCI_LAYER, layers[0].digest],
    [MEDIA_TYPE_SOCI_LAYER, layers[1].digest],
    [MEDIA_TYPE_SOCI_PREFETCH, layers[0].digest],
    [MEDIA_TYPE_SOCI_PREFETCH, layers[1].digest],
  ]);
  assert.deepEqual(
    built.prefetch.map((a) => a.layerDigest),
    [layers[0].digest, layers[1].digest],
  );
  // The blobs are what the descriptors name.
  assert.equal(built.prefetchBlobs.size, 2);
  for (const d of built.index.manifest.layers.slice(2)) {
    const bytes = built.prefetchBlobs.get(d.digest);
    assert.ok(bytes, `blob of ${d.digest} returned`);
    assert.equal(sha256Digest(bytes), d.digest);
    assert.equal(bytes.length, d.size);
  }
  // Spans: what prefetch.ts computes over the zTOCs of this build (A: a/x; B: shared.txt wins over A's, and b/y after 300 kB of noise).
  const ztocOf = (l: Descriptor) => [...built.ztocs.values()].find((z) => z.compressedArchiveSize === l.size)!;
  const expected = buildPrefetchArtifacts(PATHS, [layers[0], layers[1]].map((l) => ({ layerDigest: l.digest, ztoc: ztocOf(l) })));
  assert.deepEqual(built.prefetch.map((a) => a.spans), expected.artifacts.map((a) => a.spans));
  assert.ok(built.prefetch[1].spans.some((s) => s.startSpan > 0 && s.endSpan > s.startSpan), `b/y covers several spans after the first: ${JSON.stringify(built.prefetch[1].spans)}`);
  // /c/z is in a layer without a zTOC, /nope nowhere: warnings, not errors.
  assert.deepEqual(built.prefetchWarnings, ['prefetch file "/nope" was not found in any indexed layer', 'prefetch file "/c/z" was not found in any indexed layer']);
  await source.close();
});

test("buildIndexForManifest() without prefetch paths (absent or empty) writes the same index bytes and no artifacts", async () => {
  const { dir, manifest } = layout();
  const source = await LayoutSource.openDir(dir);
  const plain = await buildIndexForManifest(source, manifest, "v2", OPTS);
  const empty = await buildIndexForManifest(source, manifest, "v2", { ...OPTS, prefetchPaths: [] });
  const none = await buildIndexForManifest(source, manifest, "v2", { ...OPTS, prefetchPaths: ["/nope"] });
  assert.deepEqual(plain.prefetch, []);
  assert.equal(plain.prefetchBlobs.size, 0);
  assert.deepEqual(plain.prefetchWarnings, []);
  assert.deepEqual(empty.index!.bytes, plain.index!.bytes);
  assert.deepEqual(none.index!.bytes, plain.index!.bytes, "a path found nowhere adds nothing");
  assert.equal(none.prefetchWarnings.length, 1);
  assert.ok(!new TextDecoder().decode(plain.index!.bytes).includes("prefetch"));
  await source.close();
});

test("buildIndexForManifest() lists a layer's artifact once when the layer is listed twice, and uses reused zTOCs", async () => {
  const { dir, manifest, layers } = layout(true);
  const source = await LayoutSource.openDir(dir);
  const first = await buildIndexForManifest(source, manifest, "v1", { ...OPTS, prefetchPaths: ["/a/x"] }, desc(MEDIA_TYPE_OCI_MANIFEST, encodeManifest(manifest)));
  const kinds = first.index!.manifest.layers.map((d) => d.mediaType);
  assert.deepEqual(kinds, [MEDIA_TYPE_SOCI_LAYER, MEDIA_TYPE_SOCI_LAYER, MEDIA_TYPE_SOCI_LAYER, MEDIA_TYPE_SOCI_PREFETCH]);
  assert.equal(first.index!.manifest.layers[3].annotations?.[ANNOTATION_IMAGE_LAYER_DIGEST], layers[0].digest);
  // Reused zTOCs (§9.7) give the same artifacts.
  const stored = new Map([...first.ztocBlobs].map(([, bytes]) => [parseZtocLayer(first, bytes), bytes]));
  const again = await buildIndexForManifest(source, manifest, "v1", { ...OPTS, prefetchPaths: ["/a/x"], findZtoc: async (l) => stored.get(l) ?? null }, desc(MEDIA_TYPE_OCI_MANIFEST, encodeManifest(manifest)));
  assert.ok(again.layers.every((r) => r.status !== "built" || r.reused));
  assert.deepEqual(again.index!.bytes, first.index!.bytes);
  assert.deepEqual([...again.prefetchBlobs.keys()], [...first.prefetchBlobs.keys()]);
  await source.close();
});

/** The layer digest a zTOC blob of `build` indexes (from its index descriptor). */
function parseZtocLayer(build: { index: { manifest: Manifest } | null }, bytes: Uint8Array): string {
  const d = build.index!.manifest.layers.find((x) => x.digest === sha256Digest(bytes))!;
  return d.annotations![ANNOTATION_IMAGE_LAYER_DIGEST];
}

/** Converts the layout with `paths` into a fresh oci-dir; returns it with its SOCI index. */
async function convertWith(paths: string[]): Promise<{ out: string; sociIndex: Descriptor; index: Manifest }> {
  const { dir } = layout();
  const out = join(tmp(), "out");
  const r = await convertImage(await LayoutSource.openDir(dir), await OciLayoutWriter.open(out), { ...OPTS, prefetchPaths: paths, hostPlatform: { architecture: "amd64", os: "linux" } });
  const soci = r.platforms[0].sociIndex!;
  const missing = paths.filter((p) => p === "/nope" || p === "/c/z");
  assert.deepEqual(r.platforms[0].prefetchWarnings, missing.map((p) => `prefetch file "${p}" was not found in any indexed layer`));
  return { out, sociIndex: soci.descriptor, index: soci.manifest };
}

/**
 * Replaces the SOCI index of the converted layout `out` with `edit(index)`,
 * re-linking manifest, index entries and index.json so only the edit is wrong.
 */
function rewriteSociIndex(out: string, edit: (m: Manifest) => void): void {
  const top = JSON.parse(readFileSync(join(out, "index.json"), "utf8"));
  const rootDesc: Descriptor = top.manifests[0];
  const root = parseIndex(readFileSync(blobAt(out, rootDesc.digest)), "root");
  const sociAt = root.manifests.findIndex((d) => d.artifactType !== undefined);
  const imageAt = root.manifests.findIndex((d) => d.artifactType === undefined);
  const soci = parseManifest(readFileSync(blobAt(out, root.manifests[sociAt].digest)), "soci");
  edit(soci);
  const sb = encodeManifest(soci);
  put(out, sb);
  const image = parseManifest(readFileSync(blobAt(out, root.manifests[imageAt].digest)), "image");
  image.annotations = { ...image.annotations, [ANNOTATION_INDEX_DIGEST]: sha256Digest(sb) };
  const ib = encodeManifest(image);
  put(out, ib);
  root.manifests[imageAt] = { ...root.manifests[imageAt], digest: sha256Digest(ib), size: ib.length, annotations: image.annotations };
  root.manifests[sociAt] = { ...root.manifests[sociAt], digest: sha256Digest(sb), size: sb.length, annotations: { [ANNOTATION_IMAGE_MANIFEST_DIGEST]: sha256Digest(ib) } };
  const rb = encodeIndex(root);
  put(out, rb);
  writeFileSync(join(out, "index.json"), encodeIndex({ ...top, manifests: [{ ...rootDesc, digest: sha256Digest(rb), size: rb.length }] }));
}

async function problems(out: string): Promise<string[]> {
  const s = await LayoutSource.openDir(out);
  try {
    return await verifySociImage(s);
  } finally {
    await s.close();
  }
}

test("convertImage() writes the artifact blobs into the layout and verify passes; the rewrite helper alone keeps it clean", async () => {
  const { out, index } = await convertWith(PATHS);
  const artifacts = index.layers.filter((d) => d.mediaType === MEDIA_TYPE_SOCI_PREFETCH);
  assert.equal(artifacts.length, 2);
  for (const d of artifacts) assert.equal(sha256Digest(readFileSync(blobAt(out, d.digest))), d.digest);
  assert.deepEqual(await problems(out), []);
  rewriteSociIndex(out, () => {});
  assert.deepEqual(await problems(out), []);
});

test("verify names a prefetch artifact whose blob bytes were corrupted in place", async () => {
  const { out, index } = await convertWith(["/a/x"]);
  const a = index.layers.find((d) => d.mediaType === MEDIA_TYPE_SOCI_PREFETCH)!;
  const bytes = readFileSync(blobAt(out, a.digest));
  bytes[bytes.length - 3] ^= 0x01;
  writeFileSync(blobAt(out, a.digest), bytes);
  const p = await problems(out);
  assert.equal(p.length, 1, p.join("\n"));
  assert.match(p[0], new RegExp(`prefetch artifact ${a.digest}: .*`));
});

test("verify reports artifacts that do not parse, go beyond the last span, name a layer without zTOC, or come before a zTOC", async () => {
  const { out, index } = await convertWith(["/a/x"]);
  const layerA = index.layers[0].annotations![ANNOTATION_IMAGE_LAYER_DIGEST];
  const layerC = "sha256:" + "0".repeat(64);
  const write = (b: Uint8Array) => (put(out, b), b);
  const notJson = write(utf8('{"version":"1.0","prefetch_spans":[]}'));
  const beyond = write(encodePrefetchArtifact([{ startSpan: 1, endSpan: 9999, priority: 0 }]));
  const ok = write(encodePrefetchArtifact([{ startSpan: 0, endSpan: 0, priority: 0 }]));
  const noZtoc = prefetchDescriptor(layerC, ok);
  rewriteSociIndex(out, (m) => {
    const ztocs = m.layers.filter((d) => d.mediaType === MEDIA_TYPE_SOCI_LAYER);
    m.layers = [ztocs[0], prefetchDescriptor(layerA, ok), ...ztocs.slice(1), prefetchDescriptor(layerA, notJson), prefetchDescriptor(layerA, beyond), noZtoc];
  });
  const p = await problems(out);
  const okD = sha256Digest(ok);
  assert.ok(p.some((x) => x.includes(`prefetch artifact ${okD}: listed at position 1, before zTOC descriptor 2`)), p.join("\n"));
  assert.ok(p.some((x) => x.includes(`prefetch artifact ${sha256Digest(notJson)}: Cannot read prefetch artifact`) && x.includes("no prefetch_spans")), p.join("\n"));
  assert.ok(p.some((x) => x.includes(`prefetch artifact ${sha256Digest(beyond)}: span range [1, 9999] goes beyond span`)), p.join("\n"));
  assert.ok(p.some((x) => x.includes(`prefetch artifact ${okD}: names layer ${layerC}, which is not a layer of its manifest`)), p.join("\n"));
  assert.equal(p.length, 4, p.join("\n"));
});

test("verify reports an artifact for a layer of the manifest that has no zTOC in the index", async () => {
  const { out, index } = await convertWith(["/a/x"]);
  const src = await LayoutSource.openDir(out);
  const root = await src.resolveRoot();
  const entries = parseIndex(root.bytes, "root").manifests;
  const image = parseManifest(await src.readBlob(entries.find((d) => d.artifactType === undefined)!, 1 << 20), "image");
  await src.close();
  const zstdLayer = image.layers[2].digest;
  const ok = encodePrefetchArtifact([{ startSpan: 0, endSpan: 0, priority: 0 }]);
  put(out, ok);
  rewriteSociIndex(out, (m) => void m.layers.push(prefetchDescriptor(zstdLayer, ok)));
  const p = await problems(out);
  assert.equal(p.length, 1, p.join("\n"));
  assert.match(p[0], /^SOCI index sha256:[0-9a-f]{64}: prefetch artifact /);
  assert.ok(p[0].endsWith(`prefetch artifact ${sha256Digest(ok)}: names layer ${zstdLayer}, which has no zTOC in this index`), p[0]);
  assert.equal(index.layers.length, 3, "before the edit: 2 zTOCs and 1 artifact");
});
