import { test } from "node:test";
import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import { concatBytes, sha256Digest, utf8 } from "../bytes/mod.ts";
import { FormatError, InvalidArgumentError } from "../errors.ts";
import { decodeTarZinfo } from "../gzip/mod.ts";
import { encodePaxRecord, encodeTarHeader, writeTar, type TarWriteEntry } from "../tar/mod.ts";
import { buildZtoc, decodeZtoc, type BuildZtocOptions } from "./mod.ts";

const TOOL = "AWS SOCI CLI v0.2";

async function* chunks(b: Uint8Array, size = 1000): AsyncIterable<Uint8Array> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}

function build(blob: Uint8Array, over: Partial<BuildZtocOptions> = {}) {
  return buildZtoc(chunks(blob), { compression: "uncompressed", spanSize: 1024, buildToolIdentifier: TOOL, source: "layer", ...over });
}

const files: TarWriteEntry[] = [
  { name: "a", type: "file", data: new Uint8Array(1500).fill(1), mtime: 1700000000 },
  { name: "d/", type: "dir", mtime: 1700000000 },
  { name: "b", type: "file", data: new Uint8Array(10).fill(2), mtime: 1700000000.25 },
];

test("buildZtoc() makes fixed spans, their digests and a TarZinfo for an uncompressed layer", async () => {
  const tar = writeTar(files);
  const built = await build(tar);
  const z = built.ztoc;
  assert.equal(z.compressionAlgorithm, "uncompressed");
  assert.equal(z.compressedArchiveSize, tar.length);
  assert.equal(z.maxSpanId, Math.ceil(tar.length / 1024) - 1);
  assert.deepEqual(z.spanDigests, Array.from({ length: z.maxSpanId + 1 }, (_, i) => sha256Digest(tar.subarray(i * 1024, (i + 1) * 1024))));
  assert.deepEqual(decodeTarZinfo(z.zinfo), { version: 2, spanSize: 1024, size: tar.length });
  assert.deepEqual(z.toc.map((e) => [new TextDecoder().decode(e.name), e.type, e.uncompressedOffset, e.uncompressedSize]), [
    ["a", "reg", 512, 1500], ["d/", "dir", 2560, 0], ["b", "reg", 4096, 10],
  ]);
  assert.equal(new TextDecoder().decode(z.toc[2].modTime), "2023-11-14T22:13:20.25Z");
  assert.deepEqual(decodeZtoc(built.bytes), z);
  assert.equal(built.digest, sha256Digest(built.bytes));
});

test("buildZtoc() gives a layer whose size is a multiple of the span exactly size/span spans", async () => {
  const tar = writeTar([{ name: "x", type: "file", data: new Uint8Array(512) }]); // 512 + 512 + 1024 bytes
  assert.equal(tar.length, 2048);
  const z = (await build(tar)).ztoc;
  assert.equal(z.maxSpanId, 1);
  assert.equal(z.spanDigests.length, 2);
});

test("buildZtoc() builds a gzip layer and checks the blob against its descriptor", async () => {
  const blob = new Uint8Array(gzipSync(writeTar(files)));
  const built = await build(blob, { compression: "gzip", spanSize: 4096, expectedDigest: sha256Digest(blob), expectedSize: blob.length });
  assert.equal(built.blobDigest, sha256Digest(blob));
  assert.equal(built.ztoc.toc.length, 3);
  await assert.rejects(build(blob, { compression: "gzip", expectedSize: blob.length - 1 }), /more than \d+ bytes, expected/);
  await assert.rejects(build(blob, { compression: "gzip", expectedSize: blob.length + 1 }), /is \d+ bytes, expected/);
  await assert.rejects(build(blob, { compression: "gzip", expectedDigest: "sha256:" + "0".repeat(64) }), /has digest sha256:/);
});

test("buildZtoc() refuses span size 0 for uncompressed layers and bad options", async () => {
  await assert.rejects(build(writeTar(files), { spanSize: 0 }), InvalidArgumentError);
  await assert.rejects(build(writeTar(files), { spanSize: -1 }), InvalidArgumentError);
  await assert.rejects(build(writeTar(files), { compression: "zstd" as "gzip" }), InvalidArgumentError);
});

test("buildZtoc() accepts span size 0 for gzip layers", async () => {
  const blob = new Uint8Array(gzipSync(writeTar(files)));
  const built = await build(blob, { compression: "gzip", spanSize: 0 });
  assert.equal(built.ztoc.spanDigests.length, built.ztoc.maxSpanId + 1);
});

test("buildZtoc() refuses a PAX global header, naming it, so the layer can be skipped", async () => {
  const global = concatBytes([encodeTarHeader({ name: "pax_global_header", type: "file", size: 0 })]);
  global[156] = 0x67; // typeflag 'g'
  fixChecksum(global);
  const tar = concatBytes([global, writeTar(files)]);
  await assert.rejects(build(tar), (e: unknown) => e instanceof FormatError && /unsupported tar entry 'g' \(PAX global header\)/.test(e.message) && e.hint !== undefined);
});

test("buildZtoc() refuses old GNU sparse files and unknown typeflags", async () => {
  for (const flag of ["7", "V", "Q"]) {
    const h = encodeTarHeader({ name: "odd", type: "file", size: 0 });
    h[156] = flag.charCodeAt(0);
    fixChecksum(h);
    await assert.rejects(build(concatBytes([h, new Uint8Array(1024)])), new RegExp(`unsupported tar entry '${flag}'`));
  }
});

function fixChecksum(h: Uint8Array): void {
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += h[i];
  h.set(utf8(sum.toString(8).padStart(6, "0") + "\0 "), 148);
}

/** A PAX 0.1 sparse file: 10 stored bytes standing for a 1 MiB file. */
function sparseTar(): Uint8Array {
  const records = concatBytes([
    encodePaxRecord("GNU.sparse.major", "0"), encodePaxRecord("GNU.sparse.minor", "1"), encodePaxRecord("GNU.sparse.name", "sparse"),
    encodePaxRecord("GNU.sparse.size", "1048576"), encodePaxRecord("GNU.sparse.numblocks", "1"), encodePaxRecord("GNU.sparse.map", "0,10"),
  ]);
  const pax = encodeTarHeader({ name: "PaxHeader", type: "file", size: records.length });
  pax[156] = 0x78; // typeflag 'x'
  fixChecksum(pax);
  return concatBytes([pax, records, new Uint8Array(512 - records.length), writeTar([{ name: "GNUSparseFile/sparse", type: "file", data: new Uint8Array(10) }, ...files])]);
}

test("buildZtoc() refuses a PAX sparse file whose TOC upstream's snapshotter would reject", async () => {
  await assert.rejects(build(sparseTar()), (e: unknown) => e instanceof FormatError && /header would start at/.test(e.message));
});

test("buildZtoc() names the directory whose size field breaks the header-offset rule", async () => {
  const dir = encodeTarHeader({ name: "d/", type: "dir", mtime: 1700000000 });
  dir.set(utf8("00000002000\0"), 124); // size field: 1024, but no data follows (Go: dirs have no data area)
  fixChecksum(dir);
  const tar = concatBytes([dir, writeTar(files)]);
  await assert.rejects(build(tar), (e: unknown) => {
    assert.ok(e instanceof FormatError);
    assert.equal(
      e.message,
      'Cannot build a usable zTOC: entry "a" has data at 1024 but its header would start at 1536: the previous entry "d/" (dir) claims 1024 bytes of data from 512 ' +
        "(formats §2.5; a PAX sparse file's logical size, or a directory, link or device with a non-zero size) (in \"layer\", at uncompressed offset 1024)",
    );
    return true;
  });
});

test("buildZtoc() with upstreamCompat keeps the PAX sparse file's logical size and warns", async () => {
  const built = await build(sparseTar(), { upstreamCompat: true });
  const sparse = built.ztoc.toc[0];
  assert.equal(new TextDecoder().decode(sparse.name), "sparse");
  assert.equal(sparse.uncompressedSize, 1048576);
  assert.equal(built.warnings.length, 1);
  assert.match(built.warnings[0], /upstream's snapshotter will reject/);
});

test("buildZtoc() warns about an archive without an end marker", async () => {
  const tar = writeTar(files);
  const built = await build(tar.subarray(0, tar.length - 1024));
  assert.deepEqual(built.warnings, ["the tar archive has no end-of-archive marker"]);
  assert.equal(built.ztoc.uncompressedArchiveSize, tar.length - 1024);
});

test("buildZtoc() reports progress and closes the blob iterator on failure", async () => {
  const seen: number[] = [];
  await build(writeTar(files), { onProgress: (n) => seen.push(n) });
  assert.equal(seen.at(-1), writeTar(files).length);
  let closed = false;
  const blob = {
    [Symbol.asyncIterator]() {
      let sent = false;
      return {
        next: async () => (sent ? { done: true as const, value: undefined } : ((sent = true), { done: false as const, value: new Uint8Array(512).fill(7) })),
        return: async () => ((closed = true), { done: true as const, value: undefined }),
      };
    },
  };
  await assert.rejects(buildZtoc(blob, { compression: "uncompressed", spanSize: 1024, buildToolIdentifier: TOOL }), FormatError);
  assert.equal(closed, true); // the bad header fails the walk before the blob ends
});

test("buildZtoc() with a hasher reports every span range once, in order, and takes the digests from it", async () => {
  const big = new Uint8Array(300_000);
  let x = 2463534242;
  for (let i = 0; i < big.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    big[i] = (x >>> 0) % 16; // half-entropy bytes: several Huffman blocks, not one stored run
  }
  const blob = new Uint8Array(gzipSync(writeTar([...files, { name: "big", type: "file", data: big, mtime: 1700000000 }])));
  const plain = await build(blob, { compression: "gzip", spanSize: 65536, expectedDigest: sha256Digest(blob) });
  assert.ok(plain.ztoc.spanDigests.length > 2);
  const spans: Array<[number, number, number]> = [];
  const hasher = {
    span: (i: number, start: number, end: number) => void spans.push([i, start, end]),
    finish: async () => ({ blobDigest: sha256Digest(blob), blobSize: blob.length, spanDigests: spans.map(([, s, e]) => sha256Digest(blob.subarray(s, e))) }),
  };
  // Chunks of a reused buffer: nothing may be kept after a push.
  async function* reused(): AsyncIterable<Uint8Array> {
    const buf = new Uint8Array(777);
    for (let i = 0; i < blob.length; i += buf.length) {
      const n = Math.min(buf.length, blob.length - i);
      buf.set(blob.subarray(i, i + n));
      yield buf.subarray(0, n);
      buf.fill(0xee);
    }
  }
  const viaHasher = await buildZtoc(reused(), { compression: "gzip", spanSize: 65536, buildToolIdentifier: TOOL, source: "layer", expectedDigest: sha256Digest(blob), hasher });
  assert.deepEqual(Buffer.from(viaHasher.bytes), Buffer.from(plain.bytes));
  assert.deepEqual(spans.map(([i]) => i), spans.map((_, i) => i));
  assert.equal(spans.at(-1)![2], blob.length);
  // A hasher that read other bytes: the digest mismatch is reported.
  const wrong = { span() {}, finish: async () => ({ blobDigest: "sha256:" + "1".repeat(64), blobSize: blob.length, spanDigests: plain.ztoc.spanDigests }) };
  await assert.rejects(buildZtoc(reused(), { compression: "gzip", spanSize: 65536, buildToolIdentifier: TOOL, expectedDigest: sha256Digest(blob), hasher: wrong }), /has digest sha256:1{64}, expected/);
});
