import { test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import process from "node:process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { utf8 } from "../bytes/mod.ts";
import { FormatError, NotFoundError } from "../errors.ts";
import { decodeZtoc, readTocFile, readUncompressed, ztocInfo, type Ztoc } from "./mod.ts";

const FIXTURES = join(process.env.SOCI_REPO_ROOT ?? process.cwd(), "test/fixtures/upstream");

function load(ztocFile: string, input: string): { z: Ztoc; blob: Uint8Array; plain: Uint8Array; size: number } {
  const bytes = readFileSync(join(FIXTURES, "expected", ztocFile));
  const gz = new Uint8Array(readFileSync(join(FIXTURES, "inputs", input)));
  const plain = new Uint8Array(gunzipSync(gz));
  const z = decodeZtoc(bytes);
  return { z, blob: z.compressionAlgorithm === "gzip" ? gz : plain, plain, size: bytes.length };
}

/** A fetcher over `blob` that counts calls. */
function fetcher(blob: Uint8Array) {
  const calls: Array<[number, number]> = [];
  const fetch = async (start: number, end: number) => {
    calls.push([start, end]);
    return blob.slice(start, end);
  };
  return { fetch, calls };
}

/** Deterministic pseudo-random numbers (xorshift32). */
function rng(seed: number): () => number {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

const cases = [
  ["layer-a.tar.gz.span65536.ztoc", "layer-a.tar.gz"],
  ["layer-a-2members.tar.gz.span50000.ztoc", "layer-a-2members.tar.gz"],
  ["layer-a-2members.tar.gz.span65536.ztoc", "layer-a-2members.tar.gz"],
  ["layer-a.tar.span65536.ztoc", "layer-a.tar.gz"],
  ["layer-b.tar.gz.span4194304.ztoc", "layer-b.tar.gz"],
] as const;

for (const [ztocFile, input] of cases) {
  test(`readUncompressed() over random ranges of ${ztocFile} equals the decompressed layer`, async () => {
    const { z, blob, plain } = load(ztocFile, input);
    const { fetch, calls } = fetcher(blob);
    const next = rng(0x9e3779b9);
    const limit = z.uncompressedArchiveSize;
    const ranges: Array<[number, number]> = [[0, 1], [limit - 1, 1], [0, limit], [limit, 0]];
    for (let i = 0; i < 40; i++) {
      const offset = Math.floor(next() * limit);
      ranges.push([offset, Math.floor(next() * Math.min(150000, limit - offset))]);
    }
    for (const [offset, length] of ranges) {
      const got = await readUncompressed(z, fetch, offset, length);
      assert.ok(Buffer.from(got).equals(Buffer.from(plain.subarray(offset, offset + length))), `[${offset}, +${length})`);
    }
    assert.ok(calls.length <= ranges.length);
  });
}

test("readUncompressed() rejects a span that fails its digest", async () => {
  const { z, blob } = load("layer-a.tar.gz.span65536.ztoc", "layer-a.tar.gz");
  const corrupt = blob.slice();
  corrupt[40000] ^= 1; // inside span 1 [31437, 63766)
  await assert.rejects(readUncompressed(z, fetcher(corrupt).fetch, 100000, 10), (e: unknown) => e instanceof FormatError && /span 1 has digest/.test(e.message));
});

test("readUncompressed() rejects ranges outside the archive and short fetches", async () => {
  const { z, blob } = load("layer-a.tar.gz.span65536.ztoc", "layer-a.tar.gz");
  await assert.rejects(readUncompressed(z, fetcher(blob).fetch, z.uncompressedArchiveSize, 1), RangeError);
  await assert.rejects(readUncompressed(z, fetcher(blob).fetch, -1, 1), RangeError);
  await assert.rejects(readUncompressed(z, async () => new Uint8Array(3), 0, 10), /fetched 3 bytes/);
});

test("readTocFile() reads a file by raw name and follows a hardlink to its target", async () => {
  const { z, blob, plain } = load("layer-b.tar.gz.span4194304.ztoc", "layer-b.tar.gz");
  const { fetch } = fetcher(blob);
  const passwd = z.toc.find((e) => new TextDecoder().decode(e.name) === "./etc/passwd")!;
  const want = plain.subarray(passwd.uncompressedOffset, passwd.uncompressedOffset + passwd.uncompressedSize);
  assert.deepEqual(await readTocFile(z, fetch, utf8("./etc/passwd")), want);
  assert.deepEqual(await readTocFile(z, fetch, utf8("./etc/passwd-link")), want);
  assert.deepEqual(await readTocFile(z, fetch, utf8("./etc/")), new Uint8Array(0));
  await assert.rejects(readTocFile(z, fetch, utf8("etc/passwd")), NotFoundError);
});

test("ztocInfo() gives the upstream `ztoc info` shape with spans per file", () => {
  const { z, size } = load("layer-a.tar.gz.span65536.ztoc", "layer-a.tar.gz");
  const info = ztocInfo(z, size);
  assert.deepEqual(Object.keys(info), ["version", "build_tool", "size", "span_size", "num_spans", "num_files", "num_multi_span_files", "files"]);
  assert.equal(info.version, "0.9");
  assert.equal(info.build_tool, "AWS SOCI CLI v0.2");
  assert.equal(info.size, 166208);
  assert.equal(info.span_size, 65536);
  assert.equal(info.num_spans, 5);
  assert.equal(info.num_files, 8);
  assert.deepEqual(Object.keys(info.files[0]), ["filename", "offset", "size", "type", "start_span", "end_span"]);
  const big = info.files.find((f) => f.size === 300000)!;
  assert.ok(big.end_span > big.start_span);
  assert.equal(info.num_multi_span_files, info.files.filter((f) => f.start_span !== f.end_span).length);
  const offsets = info.files.map((f) => f.offset);
  assert.deepEqual(offsets, [...offsets].sort((a, b) => a - b));
  const uncompressed = load("layer-a.tar.span65536.ztoc", "layer-a.tar.gz");
  assert.equal(ztocInfo(uncompressed.z, uncompressed.size).span_size, 65536);
});
