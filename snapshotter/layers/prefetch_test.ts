// Prefetch artifacts on the mount side (formats §9.6, snapshotter §7.3 step 7):
// a synthetic gzip layer in an OCI layout with a SOCI v2 index listing its zTOC
// and a prefetch artifact. resolveImage loads (or ignores, with a reason) the
// artifact; LayerManager.mountLayer fetches exactly its spans before it
// resolves (FUSE part: needs root and /dev/fuse, else skipped; fails under CI=true).
// Also LayerManager.checkLayer, the §6.1 availability check, on the same mounts.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { accessSync, constants, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { sha256Digest, utf8 } from "../../core-wasm/src/bytes/mod.ts";
import {
  ANNOTATION_IMAGE_LAYER_DIGEST,
  ANNOTATION_INDEX_DIGEST,
  encodeIndex,
  encodeManifest,
  LayoutSource,
  MEDIA_TYPE_OCI_CONFIG,
  MEDIA_TYPE_OCI_INDEX,
  MEDIA_TYPE_OCI_LAYER_GZIP,
  MEDIA_TYPE_OCI_MANIFEST,
  MEDIA_TYPE_SOCI_PREFETCH,
  type Descriptor,
  type ImageSource,
} from "../../core-wasm/src/oci/mod.ts";
import { buildPrefetchArtifacts, buildSociIndex } from "../../core-wasm/src/soci/mod.ts";
import { encodeZtoc, ztocSpans } from "../../core-wasm/src/ztoc/mod.ts";
import { makeLayer, type TestLayer } from "../spans/test_util.ts";
import { LayerManager, resolveImage } from "./mod.ts";

const PLATFORM = { os: "linux", architecture: "amd64" };
const dirs: string[] = [];
const temp = (p: string) => {
  const d = mkdtempSync(join(tmpdir(), p));
  dirs.push(d);
  return d;
};
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

let layer: TestLayer;
let layerDesc: Descriptor;
/** The spans of file d/f3 (as `soci convert --prefetch-file /d/f3` lists them). */
let goodArtifact: Uint8Array;
let listed: number[];

before(async () => {
  layer = await makeLayer({ compression: "gzip", seed: 31 });
  layerDesc = { mediaType: MEDIA_TYPE_OCI_LAYER_GZIP, digest: layer.digest, size: layer.blob.length };
  const { artifacts } = buildPrefetchArtifacts(["/d/f3"], [{ layerDigest: layer.digest, ztoc: layer.ztoc }]);
  assert.equal(artifacts.length, 1);
  goodArtifact = artifacts[0].bytes;
  listed = artifacts[0].spans.flatMap((s) => Array.from({ length: s.endSpan - s.startSpan + 1 }, (_, k) => s.startSpan + k));
  assert.ok(listed.length >= 1 && listed.length < ztocSpans(layer.ztoc).table.spanCount / 2, `listed ${listed}`);
});

const digestOf = (b: Uint8Array) => sha256Digest(b);

/**
 * An OCI layout: image manifest (annotated with the index digest) + SOCI v2
 * index (zTOC, then `artifact` when given). `artifactDescriptor` overrides the
 * descriptor (e.g. a digest whose blob is missing).
 */
function writeImage(artifact?: Uint8Array, opts: { storeArtifact?: boolean; artifactDescriptor?: Descriptor } = {}): string {
  const dir = temp("soci-prefetch-layout-");
  mkdirSync(join(dir, "blobs", "sha256"), { recursive: true });
  const put = (b: Uint8Array) => {
    writeFileSync(join(dir, "blobs", "sha256", digestOf(b).slice(7)), b);
    return { digest: digestOf(b), size: b.length };
  };
  put(layer.blob);
  const ztocBytes = encodeZtoc(layer.ztoc);
  const z = put(ztocBytes);
  const prefetch: Descriptor[] = [];
  if (artifact !== undefined) {
    const d = opts.artifactDescriptor ?? { mediaType: MEDIA_TYPE_SOCI_PREFETCH, digest: digestOf(artifact), size: artifact.length, annotations: { [ANNOTATION_IMAGE_LAYER_DIGEST]: layer.digest } };
    // Stored under the descriptor's digest (a tampered blob when the descriptor's digest is not the bytes').
    if (opts.storeArtifact !== false) writeFileSync(join(dir, "blobs", "sha256", d.digest.slice(7)), artifact);
    prefetch.push(d);
  }
  const index = buildSociIndex({ version: "v2", ztocs: [{ ztocDigest: z.digest, ztocSize: z.size, layer: layerDesc, spanSize: 65536 }], prefetch });
  put(index.bytes);
  const config = put(utf8(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] } })));
  const manifest = encodeManifest({
    schemaVersion: 2, mediaType: MEDIA_TYPE_OCI_MANIFEST, config: { mediaType: MEDIA_TYPE_OCI_CONFIG, ...config }, layers: [layerDesc],
    annotations: { [ANNOTATION_INDEX_DIGEST]: index.descriptor.digest },
  });
  const m = put(manifest);
  const root = encodeIndex({
    schemaVersion: 2, mediaType: MEDIA_TYPE_OCI_INDEX,
    manifests: [
      { mediaType: MEDIA_TYPE_OCI_MANIFEST, ...m, platform: PLATFORM },
      { ...index.descriptor, artifactType: "application/vnd.amazon.soci.index.v2+json" },
    ],
  });
  writeFileSync(join(dir, "index.json"), root);
  writeFileSync(join(dir, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}');
  return dir;
}

/** The layout as an ImageSource that counts reads per digest. */
async function countingSource(dir: string): Promise<{ source: ImageSource; reads: Map<string, number> }> {
  const inner = await LayoutSource.openDir(dir);
  const reads = new Map<string, number>();
  const source: ImageSource = {
    name: inner.name,
    resolveRoot: () => inner.resolveRoot(),
    hasBlob: (d) => inner.hasBlob(d),
    readBlob: (d, max) => {
      reads.set(d.digest, (reads.get(d.digest) ?? 0) + 1);
      return inner.readBlob(d, max);
    },
    openBlob: (d, o) => inner.openBlob(d, o),
    blobLocation: (d) => inner.blobLocation(d),
    close: () => inner.close(),
  };
  return { source, reads };
}

describe("resolveImage and prefetch artifacts", () => {
  test("with prefetch: the artifact is fetched, digest-checked and parsed", async () => {
    const { source, reads } = await countingSource(writeImage(goodArtifact));
    const img = await resolveImage(source, { platform: PLATFORM, prefetch: true });
    const l = img.layers[0];
    assert.ok(l.ztoc, l.notLazyReason);
    assert.equal(l.prefetchDescriptor?.digest, digestOf(goodArtifact));
    assert.equal(reads.get(digestOf(goodArtifact)), 1);
    assert.deepEqual(l.prefetchSpans?.map((s) => [s.startSpan, s.endSpan]), [[listed[0], listed[listed.length - 1]]]);
    assert.equal(l.prefetchIgnored, undefined);
  });

  test("without prefetch: the descriptor is noted, the artifact is never read", async () => {
    const { source, reads } = await countingSource(writeImage(goodArtifact));
    const l = (await resolveImage(source, { platform: PLATFORM })).layers[0];
    assert.equal(l.prefetchDescriptor?.digest, digestOf(goodArtifact));
    assert.equal(l.prefetchSpans, undefined);
    assert.equal(reads.get(digestOf(goodArtifact)), undefined);
  });

  const bad: Array<[string, () => string, RegExp]> = [
    ["malformed JSON", () => writeImage(utf8("{not json")), /not JSON/],
    ["wrong version", () => writeImage(utf8('{"version":"2.0","prefetch_spans":[{"start_span":0,"end_span":1}]}')), /version "2\.0"/],
    ["no ranges", () => writeImage(utf8('{"version":"1.0","prefetch_spans":[]}')), /no prefetch_spans/],
    ["span ids beyond the zTOC", () => writeImage(utf8(`{"version":"1.0","prefetch_spans":[{"start_span":1,"end_span":${ztocSpans(layer.ztoc).table.spanCount}}]}`)), /the zTOC has spans 0-/],
    ["a missing blob", () => writeImage(goodArtifact, { storeArtifact: false }), /prefetch artifact sha256:[0-9a-f]{64} ignored: .*/],
    [
      "a descriptor whose digest does not match the blob",
      () => writeImage(goodArtifact, { artifactDescriptor: { mediaType: MEDIA_TYPE_SOCI_PREFETCH, digest: digestOf(utf8("other")), size: goodArtifact.length, annotations: { [ANNOTATION_IMAGE_LAYER_DIGEST]: layer.digest } } }),
      /ignored: .*digest/i,
    ],
  ];
  for (const [what, make, reason] of bad) {
    test(`${what}: ignored with a reason and one log line, the layer stays lazy`, async () => {
      const { source } = await countingSource(make());
      const logs: string[] = [];
      const l = (await resolveImage(source, { platform: PLATFORM, prefetch: true, log: (x) => logs.push(x) })).layers[0];
      assert.ok(l.ztoc, "still lazy");
      assert.equal(l.prefetchSpans, undefined);
      assert.match(l.prefetchIgnored ?? "", reason);
      assert.equal(logs.filter((x) => /prefetch/.test(x)).length, 1, logs.join("\n"));
    });
  }
});

// ---- mountLayer over real FUSE ----

function fuseMissing(): string | null {
  if (process.getuid?.() !== 0) return "needs root for FUSE";
  try {
    accessSync("/dev/fuse", constants.R_OK | constants.W_OK);
  } catch {
    return "/dev/fuse is not available";
  }
  return null;
}
const why = fuseMissing();
if (why && process.env.CI === "true") test("prefetch mount prerequisites", () => assert.fail(`missing under CI=true: ${why}`));

/** `cat FILE | sha256sum` in a child process (never read our own FUSE mount synchronously). */
function catSha(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile("sh", ["-c", `cat '${path}' | sha256sum`], { encoding: "utf8" }, (err, out) => (err ? reject(err) : resolve(out.split(" ")[0])));
  });
}

describe("LayerManager.mountLayer with a prefetch artifact", { skip: why ? `skipped: ${why}` : false }, () => {
  const managers: LayerManager[] = [];
  after(async () => {
    for (const m of managers) await m.close();
  });

  async function mount(layoutDir: string, prefetch: boolean, maxConcurrency = 0) {
    const source = await LayoutSource.openDir(layoutDir);
    const logs: string[] = [];
    const lm = new LayerManager({ root: temp("soci-prefetch-root-"), spanCacheBytes: 64 << 20, backgroundFetch: false, prefetch: { enable: prefetch, maxConcurrency }, log: (l) => logs.push(l) });
    managers.push(lm);
    const img = await lm.resolveImage(source, { platform: PLATFORM });
    const dir = temp("soci-prefetch-mnt-");
    await lm.mountLayer({ source, layer: img.layers[0] }, dir);
    return { lm, dir, logs, stats: () => lm.stats()[0] };
  }

  test("the listed spans are in the cache when mountLayer resolves, nothing else is fetched, reading the file fetches no more", async () => {
    const { lm, dir, stats } = await mount(writeImage(goodArtifact), true, 1);
    const { table } = ztocSpans(layer.ztoc);
    const s = stats();
    assert.equal(s.prefetchedSpans, listed.length);
    assert.equal(s.spansFetched, listed.length, "exactly the listed spans, before any read");
    const want = listed.reduce((a, id) => a + table.compressedRange(id)[1] - table.compressedRange(id)[0], 0);
    // Adjacent spans share their boundary byte in one coalesced request: ≤ the per-span sum, ≥ the range's length.
    assert.ok(s.bytesFetched <= want && s.bytesFetched >= table.compressedRange(listed[listed.length - 1])[1] - table.compressedRange(listed[0])[0], `fetched ${s.bytesFetched}, listed spans ${want}`);
    assert.equal(s.fetchRequests, 1, "one range, one coalesced request");
    assert.match(s.prefetch ?? "", new RegExp(`^${listed.length} of ${listed.length} listed spans`));
    const f3 = layer.ztoc.toc.find((e) => new TextDecoder().decode(e.name) === "d/f3")!;
    const expected = createHash("sha256").update(layer.plain.subarray(f3.uncompressedOffset, f3.uncompressedOffset + f3.uncompressedSize)).digest("hex");
    assert.equal(await catSha(join(dir, "d/f3")), expected);
    assert.equal(stats().spansFetched, listed.length, "reading d/f3 fetched nothing more");
    await lm.unmountLayer(dir);
  });

  test("prefetch disabled: the artifact is ignored, nothing is fetched at mount, the stats say why", async () => {
    const { lm, dir, stats } = await mount(writeImage(goodArtifact), false);
    const s = stats();
    assert.equal(s.spansFetched, 0);
    assert.equal(s.prefetchedSpans, 0);
    assert.match(s.prefetch ?? "", /prefetch is off/);
    await lm.unmountLayer(dir);
  });

  test("a bad artifact: logged, the layer mounts lazily, nothing fetched", async () => {
    const { lm, dir, stats, logs } = await mount(writeImage(utf8("{not json")), true);
    const s = stats();
    assert.equal(s.mode, "lazy");
    assert.equal(s.spansFetched, 0);
    assert.match(s.prefetch ?? "", /ignored: .*not JSON/);
    assert.equal(logs.filter((l) => /prefetch artifact/.test(l)).length, 1, logs.join("\n"));
    assert.equal((await catSha(join(dir, "d/f0"))).length, 64, "the layer reads");
    assert.ok(stats().spansFetched > 0, "reads fetch lazily");
    await lm.unmountLayer(dir);
  });

  test("no artifact: no prefetch field, nothing fetched", async () => {
    const { lm, dir, stats } = await mount(writeImage(), true);
    const s = stats();
    assert.equal(s.spansFetched, 0);
    assert.equal(s.prefetch, undefined);
    await lm.unmountLayer(dir);
  });

  test("checkLayer (snapshotter §6.1): served + blob reachable, probed at most once per interval unless always; unknown dirs refused", async () => {
    const layout = writeImage();
    const { lm, dir, stats } = await mount(layout, false);
    await assert.rejects(lm.checkLayer(join(dir, "elsewhere"), { validIntervalMs: 60_000 }), /does not serve it/);
    await lm.checkLayer(dir, { validIntervalMs: 60_000 });
    assert.equal(stats().spansFetched, 0, "the probe is not a span fetch");
    // The blob becomes unreadable (truncated): within the interval the last good probe stands; `always` or an expired interval probes again.
    const blobFile = join(layout, "blobs", "sha256", layer.digest.slice(7));
    writeFileSync(blobFile, new Uint8Array(0));
    await lm.checkLayer(dir, { validIntervalMs: 60_000 });
    await assert.rejects(lm.checkLayer(dir, { validIntervalMs: 60_000, always: true }), new RegExp(`Cannot reach the blob of layer ${layer.digest}`));
    await assert.rejects(lm.checkLayer(dir, { validIntervalMs: 0 }), /Cannot reach the blob/);
    writeFileSync(blobFile, layer.blob);
    await lm.checkLayer(dir, { validIntervalMs: 0 });
    await lm.unmountLayer(dir);
    await assert.rejects(lm.checkLayer(dir, { validIntervalMs: 60_000 }), /does not serve it/, "unmounted");
  });
});
