// The zTOC builder on realistic and tricky layers: every layer of every
// fixture image (scripts/make_fixtures.sh; the Debian images too when built or
// SOCI_FIXTURES_DEBIAN=1) is classified per formats §9.2, and each indexable
// blob goes through buildZtoc (span 4 MiB and 64 KiB) and is checked against
// things our code did not compute:
//  - every TOC entry against the independent tar listing oracle
//    (scripts/fixtures/tar_listing.py, Go archive/tar rules): raw name, type,
//    data offset, size, mode, ids, names, link target, devices, mod_time, all
//    PAX records, and the derived header offsets of formats §2.5;
//  - the zinfo/spans per formats §4.1/§4.5/§5/§12.1, read by hand: span
//    count, span digests over the compressed ranges, checkpoint 0, spacing,
//    windows, and a restart of node:zlib at sampled checkpoints;
//  - file contents: GNU `tar -xO` of every regular file by its raw name
//    against the decompressed bytes at its TOC offset, and readTocFile (the
//    `ztoc get-file` path) against GNU tar for every file (a deterministic
//    sample in big layers). Names GNU tar cannot address (it prefers a PAX
//    path over a GNU long name, unlike Go) use the oracle's data offsets.
// Layers our policy refuses (old GNU sparse 'S', TOCs breaking formats §2.5)
// must fail with a FormatError saying why; those of the second kind are also
// cross-checked as built with upstreamCompat.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { gunzipSync } from "node:zlib";
import { FormatError } from "../../core-wasm/src/errors.ts";
import { buildZtoc, decodeZtoc, readTocFile, type BuiltZtoc, type TocEntry, type Ztoc } from "../../core-wasm/src/ztoc/mod.ts";
import {
  b64, blobPath, cleanName, DEBIAN_IMAGES, debianImagesPresent, derivedHeaderOffsets, ensureFixtures, expectedTarZinfo, gnuTarExtract,
  gzipHeaderLength, gzipSpanRanges, inflateFromCheckpoint, layerPolicy, parseGzipZinfo, sampleEvenly, sha256, showBytes, SYNTHETIC_IMAGES,
  tarListing, unevenChunks, type LayerFacts, type LayerPolicy, type OracleEntry, type OracleListing,
} from "./_fixture_util.ts";

const TOOL = "AWS SOCI CLI v0.2";
const SPANS = [4 << 20, 65536];
/** readTocFile calls per layer: all files up to this many (64 KiB spans), and a sample with 4 MiB spans. */
const READ_ALL_UP_TO = 400;
const READ_SAMPLE_BIG_SPAN = 40;

// ---------------------------------------------------------------- which images

const debianWanted = process.env.SOCI_FIXTURES_DEBIAN === "1";
const debianBefore = debianImagesPresent();
const fixtures = ensureFixtures(["synthetic", ...(debianWanted && debianBefore.length < DEBIAN_IMAGES.length ? ["debian"] : [])]);
const images = [...SYNTHETIC_IMAGES, ...debianImagesPresent()];

interface LayerCase {
  label: string;
  facts: LayerFacts;
  path: string;
  policy: LayerPolicy;
  /** Every image/manifest/layer position the blob appears at. */
  seenAs: string[];
}

const allLayers: LayerCase[] = [];
const byDigest = new Map<string, LayerCase>();
for (const image of images) {
  const facts = fixtures.images[image];
  assert.ok(facts !== undefined, `fixtures.json has ${image}`);
  facts.manifests.forEach((m, mi) => {
    m.layers.forEach((l, li) => {
      const where = `${image}${facts.manifests.length > 1 ? `[${mi}]` : ""} layer ${li}`;
      const c: LayerCase = { label: `${where} (${l.digest.slice(0, 19)})`, facts: l, path: blobPath(image, l.digest), policy: layerPolicy(l.media_type), seenAs: [where] };
      allLayers.push(c);
      const seen = byDigest.get(l.digest);
      if (seen === undefined) byDigest.set(l.digest, c);
      else {
        seen.seenAs.push(where);
        assert.deepEqual(c.policy, seen.policy, `${where}: same blob, same treatment`);
      }
    });
  });
}

const tmp = mkdtempSync(join(tmpdir(), "soci-fixture-ztoc-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

const stats = {
  layersBuilt: [] as string[],
  layersRefused: [] as string[],
  layersSkippedByPolicy: [] as string[],
  notLayers: 0,
  entriesCompared: 0,
  spansDigested: 0,
  checkpointsRestarted: 0,
  checkpointsRestartedMidByte: 0,
  filesByGnuTar: 0,
  filesByOracleOffsets: [] as string[],
  readTocFileCalls: 0,
};

// ---------------------------------------------------------------- policy

test("formats §9.2 layer policy: gzip, uncompressed, skipped or not a layer, per media type", () => {
  const cases: Array<[string, LayerPolicy["kind"]]> = [
    ["application/vnd.oci.image.layer.v1.tar+gzip", "gzip"],
    ["application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", "gzip"],
    ["application/vnd.docker.image.rootfs.diff.tar.gzip", "gzip"],
    ["application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", "gzip"],
    ["application/vnd.oci.image.layer.v1.tar", "uncompressed"],
    ["application/vnd.docker.image.rootfs.diff.tar", "uncompressed"],
    ["application/vnd.oci.image.layer.v1.tar+zstd", "skip"],
    ["application/vnd.docker.image.rootfs.diff.tar.zstd", "skip"],
    ["application/vnd.oci.image.layer.nondistributable.v1.tar", "skip"],
    ["application/vnd.oci.image.layer.v1.tar+encrypted", "skip"],
    ["application/vnd.oci.image.layer.v1.tar+gzip+encrypted", "gzip"], // sorted suffixes, the last decides (upstream then fails on ciphertext)
    ["application/vnd.in-toto+json", "not-a-layer"],
  ];
  for (const [mt, kind] of cases) assert.equal(layerPolicy(mt).kind, kind, mt);
});

test("every fixture layer's media type agrees with how the blob is really compressed", async () => {
  const expectedKind: Record<string, LayerPolicy["kind"]> = {
    gzip: "gzip", "gzip-multi": "gzip", "pigz-independent": "gzip", "gzip-fancy": "gzip", none: "uncompressed", zstd: "skip",
  };
  for (const c of allLayers) {
    const comp = c.facts.compression ?? "not a tar";
    assert.equal(c.policy.kind, expectedKind[comp] ?? "not-a-layer", `${c.label}: ${c.facts.media_type} holds ${comp}`);
  }
  // A layer we skip or that is no layer would fail clearly if indexed anyway as gzip.
  for (const c of byDigest.values()) {
    if (c.policy.kind === "skip") stats.layersSkippedByPolicy.push(`${c.label}: ${c.policy.reason}`);
    if (c.policy.kind !== "skip" && c.policy.kind !== "not-a-layer") continue;
    if (c.policy.kind === "not-a-layer") stats.notLayers++;
    const blob = new Uint8Array(readFileSync(c.path));
    await assert.rejects(
      buildZtoc(unevenChunks(blob), { compression: "gzip", spanSize: 65536, buildToolIdentifier: TOOL, source: c.facts.digest }),
      formatError([`Cannot parse gzip header: bad magic byte 0x${blob[0].toString(16)}`, `(in "${c.facts.digest}", at compressed offset 0)`]),
    );
  }
});

// ---------------------------------------------------------------- per layer

/** FormatError whose message contains every substring. */
function formatError(parts: string[]) {
  return (e: unknown) => {
    assert.ok(e instanceof FormatError, `expected a FormatError, got ${e}`);
    for (const p of parts) assert.ok(e.message.includes(p), `message ${JSON.stringify(e.message)} lacks ${JSON.stringify(p)}`);
    return true;
  };
}

const UNSUPPORTED_WHAT: Record<string, string> = { S: "old GNU sparse file", g: "PAX global header", "7": "contiguous file" };

/** The first entry (in offset order) whose derived header offset (formats §2.5) passes its data offset. */
function predictViolation(entries: readonly OracleEntry[]): { entry: OracleEntry; headerOffset: number; culprit: OracleEntry } | null {
  const derived = derivedHeaderOffsets(entries.map((e) => ({ offset: e.data_offset, size: e.size })));
  for (let i = 1; i < entries.length; i++) {
    if (derived[i] > entries[i].data_offset) return { entry: entries[i], headerOffset: derived[i], culprit: entries[i - 1] };
  }
  return null;
}

function compareEntries(toc: readonly TocEntry[], oracle: readonly OracleEntry[], where: string): void {
  assert.equal(toc.length, oracle.length, `${where}: entry count`);
  toc.forEach((e, i) => {
    const o = oracle[i];
    const w = `${where} entry ${i} ${JSON.stringify(o.name)}`;
    assert.ok(Buffer.from(e.name).equals(b64(o.name_b64)), `${w}: name bytes ${JSON.stringify(showBytes(e.name))}`);
    assert.equal(e.type, o.type, `${w}: type`);
    assert.equal(e.uncompressedOffset, o.data_offset, `${w}: uncompressed_offset`);
    assert.equal(e.uncompressedSize, o.size, `${w}: size`);
    assert.equal(e.mode, o.mode, `${w}: mode`);
    assert.equal(e.uid, o.uid >>> 0, `${w}: uid`);
    assert.equal(e.gid, o.gid >>> 0, `${w}: gid`);
    assert.equal(showBytes(e.uname), o.uname, `${w}: uname`);
    assert.equal(showBytes(e.gname), o.gname, `${w}: gname`);
    assert.ok(Buffer.from(e.linkname).equals(b64(o.linkname_b64)), `${w}: linkname ${JSON.stringify(showBytes(e.linkname))}`);
    assert.equal(e.devmajor, o.devmajor, `${w}: devmajor`);
    assert.equal(e.devminor, o.devminor, `${w}: devminor`);
    assert.equal(showBytes(e.modTime), o.mod_time, `${w}: mod_time`);
    assert.deepEqual(e.xattrs.map((x) => [showBytes(x.key), Buffer.from(x.value).toString("base64")]), o.pax, `${w}: PAX records`);
  });
}

function checkStructure(c: LayerCase, built: BuiltZtoc, spanSize: number, blob: Uint8Array, tar: Uint8Array, listing: OracleListing, where: string): void {
  const z = built.ztoc;
  assert.equal(z.version, "0.9");
  assert.equal(z.buildToolIdentifier, TOOL);
  assert.equal(z.compressedArchiveSize, blob.length, `${where}: compressed_archive_size`);
  assert.equal(z.uncompressedArchiveSize, listing.summary.archive_size, `${where}: uncompressed_archive_size`);
  assert.equal(built.blobDigest, c.facts.digest);
  assert.equal(built.blobSize, c.facts.size);
  assert.equal(built.digest, sha256(built.bytes));
  assert.equal(built.size, built.bytes.length);
  assert.deepEqual(decodeZtoc(built.bytes), z, `${where}: the blob decodes to the zTOC`);
  assert.equal(z.spanDigests.length, z.maxSpanId + 1, `${where}: span digests`);
  if (c.policy.kind === "gzip") {
    assert.equal(z.compressionAlgorithm, "gzip");
    const { spanSize: stored, checkpoints: cps } = parseGzipZinfo(z.zinfo);
    assert.equal(stored, spanSize, `${where}: zinfo span size`);
    assert.equal(cps.length, z.spanDigests.length, `${where}: one checkpoint per span`);
    assert.deepEqual([cps[0].in, cps[0].out, cps[0].bits], [gzipHeaderLength(blob), 0, 0], `${where}: checkpoint 0`);
    assert.ok(cps[0].window.every((b) => b === 0), `${where}: checkpoint 0 window is zero`);
    for (let k = 1; k < cps.length; k++) {
      assert.ok(cps[k].out - cps[k - 1].out > spanSize, `${where}: checkpoint ${k} more than a span after ${k - 1}`);
      assert.ok(cps[k].in > cps[k - 1].in, `${where}: checkpoint ${k} in increases`);
      assert.ok(cps[k].bits >= 0 && cps[k].bits <= 7, `${where}: checkpoint ${k} bits`);
    }
    const ranges = gzipSpanRanges(cps, blob.length, z.uncompressedArchiveSize);
    ranges.forEach((r, i) => {
      if (i + 1 < ranges.length) assert.ok(r.cStart < r.cEnd && r.uStart < r.uEnd, `${where}: span ${i} is not empty`);
      assert.equal(z.spanDigests[i], sha256(blob.subarray(r.cStart, r.cEnd)), `${where}: span ${i} digest over [${r.cStart}, ${r.cEnd})`);
    });
    stats.spansDigested += ranges.length;
    // A spread of checkpoints plus the first byte-aligned ones (after a member header in multi-member layers).
    const byteAligned = cps.map((_, k) => k).filter((k) => k > 0 && cps[k].bits === 0).slice(0, 4);
    for (const k of new Set([...sampleEvenly(cps.map((_, k) => k), 8), ...byteAligned])) {
      const cp = cps[k];
      const want = new Uint8Array(32768);
      const from = Math.max(0, cp.out - 32768);
      want.set(tar.subarray(from, cp.out), 32768 - (cp.out - from));
      assert.ok(Buffer.from(cp.window).equals(want), `${where}: checkpoint ${k} window is the 32 KiB before out ${cp.out}`);
      if (cp.out >= tar.length) continue;
      const got = inflateFromCheckpoint(blob, cp, 16384, 64 << 20);
      assert.ok(got.length > 0, `${where}: node:zlib restarts at checkpoint ${k} (in ${cp.in}, bits ${cp.bits})`);
      assert.ok(got.equals(tar.subarray(cp.out, cp.out + got.length)), `${where}: node:zlib output from checkpoint ${k} is the data at out ${cp.out}`);
      stats.checkpointsRestarted++;
      if (cp.bits !== 0) stats.checkpointsRestartedMidByte++;
    }
  } else {
    assert.equal(z.compressionAlgorithm, "uncompressed");
    assert.deepEqual(z.zinfo, expectedTarZinfo(spanSize, blob.length), `${where}: TarZinfo bytes`);
    assert.equal(z.maxSpanId, Math.floor(blob.length / spanSize) - (blob.length % spanSize === 0 ? 1 : 0), `${where}: max_span_id`);
    z.spanDigests.forEach((d, i) => assert.equal(d, sha256(blob.subarray(i * spanSize, (i + 1) * spanSize)), `${where}: span ${i} digest`));
    stats.spansDigested += z.spanDigests.length;
  }
}

/** Expected content per regular-file TOC index: GNU tar's, or the oracle's offsets where GNU tar names the file differently. */
function expectedContents(c: LayerCase, z: Ztoc, oracle: readonly OracleEntry[], tar: Uint8Array, tarFile: string): Map<number, Uint8Array> {
  const regs = z.toc.map((e, i) => i).filter((i) => z.toc[i].type === "reg" && oracle[i].sparse === undefined);
  const names: Buffer[] = [];
  const nameIndex = new Map<string, number>();
  for (const i of regs) {
    const key = Buffer.from(z.toc[i].name).toString("latin1");
    if (!nameIndex.has(key)) {
      nameIndex.set(key, names.length);
      names.push(Buffer.from(z.toc[i].name));
    }
  }
  const gx = gnuTarExtract(tarFile, names, join(tmp, "names"));
  const out = new Map<number, Uint8Array>();
  let pos = 0;
  for (const i of regs) {
    const e = z.toc[i];
    const data = tar.subarray(e.uncompressedOffset, e.uncompressedOffset + e.uncompressedSize);
    const what = `${c.label} entry ${i} ${JSON.stringify(showBytes(e.name))}`;
    if (gx.notFound.has(nameIndex.get(Buffer.from(e.name).toString("latin1"))!)) {
      const o = oracle[i];
      const viaOracle = tar.subarray(o.data_offset, o.data_offset + o.data_size);
      assert.ok(Buffer.from(data).equals(viaOracle), `${what}: data at the TOC offset equals the oracle's`);
      stats.filesByOracleOffsets.push(`${c.label} ${JSON.stringify(showBytes(e.name))}`);
      out.set(i, viaOracle);
      continue;
    }
    const fromTar = gx.stdout.subarray(pos, pos + e.uncompressedSize);
    pos += e.uncompressedSize;
    assert.ok(fromTar.equals(data), `${what}: tar -xO output equals the bytes at uncompressed_offset ${e.uncompressedOffset}`);
    stats.filesByGnuTar++;
    out.set(i, fromTar);
  }
  assert.equal(pos, gx.stdout.length, `${c.label}: GNU tar extracted exactly the TOC's regular files`);
  return out;
}

/** readTocFile (`ztoc get-file`) by raw name for a sample of names, against the expected content. */
async function checkReads(c: LayerCase, z: Ztoc, blob: Uint8Array, contents: Map<number, Uint8Array>, limit: number, where: string): Promise<void> {
  const fetch = async (s: number, e: number) => blob.subarray(s, e);
  const firstByName = new Map<string, number>();
  z.toc.forEach((e, i) => {
    const key = Buffer.from(e.name).toString("latin1");
    if (!firstByName.has(key)) firstByName.set(key, i);
  });
  const cases: Array<{ name: Uint8Array; want: Uint8Array }> = [];
  for (const i of firstByName.values()) {
    const e = z.toc[i];
    let target = i;
    if (e.type === "hardlink") {
      // formats §3.6: the target by exact name, else by cleaned path
      const t = z.toc.findIndex((x) => Buffer.from(x.name).equals(Buffer.from(e.linkname)));
      target = t >= 0 ? t : z.toc.findIndex((x) => x !== e && cleanName(x.name) === cleanName(e.linkname));
      assert.ok(target >= 0, `${where}: hardlink ${JSON.stringify(showBytes(e.name))} has a target`);
    }
    const want = contents.get(target);
    if (want !== undefined) cases.push({ name: e.name, want });
  }
  const chosen = sampleEvenly(cases, limit);
  for (const k of chosen) {
    const got = await readTocFile(z, fetch, k.name);
    assert.ok(Buffer.from(got).equals(k.want), `${where}: readTocFile(${JSON.stringify(showBytes(k.name))}) equals tar -xO`);
  }
  stats.readTocFileCalls += chosen.length;
}

async function crossCheck(c: LayerCase): Promise<string> {
  const blob = new Uint8Array(readFileSync(c.path));
  const listing = tarListing(c.path);
  const oracle = listing.entries;
  const source = c.facts.digest;
  assert.equal(listing.summary.archive_size, c.facts.archive_size, `${c.label}: oracle and fixtures.json agree on archive_size`);
  assert.equal(listing.summary.entries, c.facts.entries, `${c.label}: oracle and fixtures.json agree on the entry count`);
  const compression = c.policy.kind as "gzip" | "uncompressed";
  const opts = (spanSize: number, upstreamCompat = false) => ({
    compression, spanSize, buildToolIdentifier: TOOL, source, expectedDigest: c.facts.digest, expectedSize: c.facts.size, upstreamCompat,
  });

  const unsupported = oracle.find((e) => e.type === null);
  if (unsupported !== undefined) {
    const parts = [
      `Cannot build zTOC: unsupported tar entry '${unsupported.typeflag}' (${UNSUPPORTED_WHAT[unsupported.typeflag]}) ${JSON.stringify(unsupported.name)}`,
      `(in "${source}", at uncompressed offset ${unsupported.header_offset})`,
    ];
    for (const spanSize of SPANS) {
      for (const compat of [false, true]) await assert.rejects(buildZtoc(unevenChunks(blob), opts(spanSize, compat)), formatError(parts));
    }
    stats.layersRefused.push(`${c.label}: '${unsupported.typeflag}' entry`);
    return `refused: unsupported entry '${unsupported.typeflag}'`;
  }

  const violation = predictViolation(oracle);
  let note = "built";
  if (violation !== null) {
    const v = violation;
    const parts = [
      `Cannot build a usable zTOC: entry ${JSON.stringify(v.entry.name)} has data at ${v.entry.data_offset} but its header would start at ${v.headerOffset}`,
      `the previous entry ${JSON.stringify(v.culprit.name)} (${v.culprit.type}) claims ${v.culprit.size} bytes`,
      `(in "${source}", at uncompressed offset ${v.entry.data_offset})`,
    ];
    for (const spanSize of SPANS) await assert.rejects(buildZtoc(unevenChunks(blob), opts(spanSize)), formatError(parts));
    stats.layersRefused.push(`${c.label}: ${v.culprit.type} ${JSON.stringify(v.culprit.name)} of size ${v.culprit.size} (checked as built with upstreamCompat)`);
    note = `refused (formats §2.5: ${v.culprit.type} ${JSON.stringify(v.culprit.name)}); cross-checked with upstreamCompat`;
  }

  const tar = compression === "gzip" ? new Uint8Array(gunzipSync(blob)) : blob;
  assert.equal(sha256(tar), c.facts.diff_id, `${c.label}: diff_id`);
  let tarFile = c.path;
  if (compression === "gzip") {
    tarFile = join(tmp, "layer.tar");
    writeFileSync(tarFile, tar);
  }

  let contents: Map<number, Uint8Array> | undefined;
  for (const spanSize of SPANS) {
    const where = `${c.label} span ${spanSize}`;
    const built = await buildZtoc(unevenChunks(blob), opts(spanSize, violation !== null));
    if (violation !== null) assert.ok(built.warnings.some((w) => w.startsWith("upstream's snapshotter will reject this zTOC")), `${where}: warning`);
    compareEntries(built.ztoc.toc, oracle, where);
    stats.entriesCompared += oracle.length;
    checkStructure(c, built, spanSize, blob, tar, listing, where);
    if (violation === null) {
      const derived = derivedHeaderOffsets(built.ztoc.toc.map((e) => ({ offset: e.uncompressedOffset, size: e.uncompressedSize })));
      derived.forEach((h, i) => assert.equal(h, oracle[i].header_offset, `${where} entry ${i}: derived header offset (formats §2.5)`));
    }
    contents ??= expectedContents(c, built.ztoc, oracle, tar, tarFile);
    await checkReads(c, built.ztoc, blob, contents, spanSize === 65536 ? READ_ALL_UP_TO : READ_SAMPLE_BIG_SPAN, where);
  }
  stats.layersBuilt.push(c.label);
  return note;
}

for (const c of byDigest.values()) {
  if (c.policy.kind !== "gzip" && c.policy.kind !== "uncompressed") continue;
  test(`buildZtoc() on ${c.label}, ${c.facts.note ?? c.facts.media_type}: TOC, spans and files match the tar oracle and GNU tar`, async (t) => {
    const note = await crossCheck(c);
    t.diagnostic(`${c.label} [${c.policy.kind}, ${c.facts.entries} entries, also ${c.seenAs.slice(1).join(", ") || "nowhere else"}]: ${note}`);
  });
}

test("coverage of the fixture cross-check", (t) => {
  const debian = images.filter((n) => n.startsWith("debian"));
  t.diagnostic(`images: ${images.join(", ")}`);
  t.diagnostic(debian.length > 0 ? `Debian images covered: ${debian.join(", ")}` : "Debian images not covered: not built (set SOCI_FIXTURES_DEBIAN=1 to build them)");
  t.diagnostic(`layer descriptors: ${allLayers.length}, distinct blobs: ${byDigest.size}, not layers: ${stats.notLayers}`);
  t.diagnostic(`skipped by media type: ${stats.layersSkippedByPolicy.join("; ") || "none"}`);
  t.diagnostic(`built and cross-checked: ${stats.layersBuilt.length} blobs; refused by policy with the expected FormatError: ${stats.layersRefused.join("; ") || "none"}`);
  t.diagnostic(`TOC entries compared (all fields, per span size): ${stats.entriesCompared}; spans digested: ${stats.spansDigested}; checkpoints restarted with node:zlib: ${stats.checkpointsRestarted} (${stats.checkpointsRestartedMidByte} with bits ≠ 0)`);
  t.diagnostic(`regular files compared with GNU tar -xO: ${stats.filesByGnuTar}; via oracle data offsets (GNU tar names them differently): ${stats.filesByOracleOffsets.length} ${stats.filesByOracleOffsets.join(", ")}`);
  t.diagnostic(`readTocFile (ztoc get-file) reads compared: ${stats.readTocFileCalls}`);
  assert.ok(stats.layersBuilt.length > 0);
});
