// zTOC interop against upstream's golden fixtures (formats §12.2): every
// expected/*.ztoc must survive decode → encode unchanged, decode to the TOC in
// its expected/*.json, and be reproduced byte for byte by buildZtoc from the
// input blob. Expected values come from upstream only (fixtures README);
// nothing here regenerates them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import process from "node:process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { sha256Digest, toHex } from "../../core-wasm/src/bytes/mod.ts";
import { FormatError } from "../../core-wasm/src/errors.ts";
import { buildZtoc, decodeZtoc, encodeZtoc, type BuildZtocOptions } from "../../core-wasm/src/ztoc/mod.ts";

const ROOT = process.env.SOCI_REPO_ROOT ?? process.cwd();
const FIXTURES = join(ROOT, "test/fixtures/upstream");
const TOOL = "AWS SOCI CLI v0.2";

interface ExpectedEntry {
  name: string; type: string; uncompressed_offset: number; uncompressed_size: number; linkname: string; mode_octal: string;
  uid: number; gid: number; uname: string; gname: string; mod_time: string; devmajor: number; devminor: number;
  xattrs_base64: Record<string, string>;
}
interface Expected {
  ztoc_digest: string; ztoc_size: number; version: string; build_tool_identifier: string; compression: string;
  compressed_archive_size: number; uncompressed_archive_size: number; max_span_id: number; span_digests: string[];
  zinfo_blob_size: number; zinfo_blob_sha256: string; span_size: number; toc: ExpectedEntry[];
}

const fixtures = readdirSync(join(FIXTURES, "expected"))
  .filter((f) => f.endsWith(".ztoc"))
  .map((f) => {
    const m = /^(.+)\.span(\d+)\.ztoc$/.exec(f)!;
    return { file: f, input: m[1], spanSize: Number(m[2]), base: f.slice(0, -".ztoc".length) };
  });

function expectedOf(base: string): Expected {
  return JSON.parse(readFileSync(join(FIXTURES, "expected", base + ".json"), "utf8"));
}

function ztocBytes(file: string): Uint8Array {
  return new Uint8Array(readFileSync(join(FIXTURES, "expected", file)));
}

/** The blob for an input name; `layer-a.tar` is the decompressed layer-a.tar.gz (fixtures README). */
function inputBlob(input: string): Uint8Array {
  if (input === "layer-a.tar") return new Uint8Array(gunzipSync(readFileSync(join(FIXTURES, "inputs", "layer-a.tar.gz"))));
  return new Uint8Array(readFileSync(join(FIXTURES, "inputs", input)));
}

/** Chunks of uneven sizes, so nothing depends on chunk boundaries. */
async function* chunked(b: Uint8Array, size = 7919): AsyncIterable<Uint8Array> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}

const text = (b: Uint8Array) => new TextDecoder().decode(b);

test("the fixture set has all eight upstream zTOCs", () => {
  assert.equal(fixtures.length, 8);
});

for (const f of fixtures) {
  test(`decodeZtoc() then encodeZtoc() reproduces ${f.file} byte for byte`, () => {
    const bytes = ztocBytes(f.file);
    assert.deepEqual(encodeZtoc(decodeZtoc(bytes)), bytes);
  });

  test(`decodeZtoc() of ${f.file} equals its expected JSON field by field`, () => {
    const x = expectedOf(f.base);
    const z = decodeZtoc(ztocBytes(f.file));
    assert.equal(z.version, x.version);
    assert.equal(z.buildToolIdentifier, x.build_tool_identifier);
    assert.equal(z.compressionAlgorithm, x.compression);
    assert.equal(z.compressedArchiveSize, x.compressed_archive_size);
    assert.equal(z.uncompressedArchiveSize, x.uncompressed_archive_size);
    assert.equal(z.maxSpanId, x.max_span_id);
    assert.deepEqual(z.spanDigests, x.span_digests);
    assert.equal(z.zinfo.length, x.zinfo_blob_size);
    assert.equal(sha256Digest(z.zinfo).slice("sha256:".length), x.zinfo_blob_sha256.replace(/^sha256:/, ""));
    assert.equal(z.toc.length, x.toc.length);
    z.toc.forEach((e, i) => {
      const w = x.toc[i];
      const where = `entry ${i} (${w.name})`;
      assert.equal(text(e.name), w.name, where);
      assert.equal(e.type, w.type, where);
      assert.equal(e.uncompressedOffset, w.uncompressed_offset, where);
      assert.equal(e.uncompressedSize, w.uncompressed_size, where);
      assert.equal(text(e.linkname), w.linkname, where);
      assert.equal(e.mode.toString(8), w.mode_octal, where);
      assert.equal(e.uid, w.uid, where);
      assert.equal(e.gid, w.gid, where);
      assert.equal(text(e.uname), w.uname, where);
      assert.equal(text(e.gname), w.gname, where);
      assert.equal(text(e.modTime), w.mod_time, where);
      assert.equal(e.devmajor, w.devmajor, where);
      assert.equal(e.devminor, w.devminor, where);
      const xattrs = Object.fromEntries(e.xattrs.map((a) => [text(a.key), Buffer.from(a.value).toString("base64")]));
      assert.deepEqual(xattrs, w.xattrs_base64, where);
      assert.deepEqual(e.xattrs.map((a) => text(a.key)), Object.keys(w.xattrs_base64).sort(), `${where}: xattrs sorted by key`);
    });
  });

  const compressed = !f.input.endsWith(".tar");
  const modes: Array<{ label: string; upstreamCompat: boolean }> = f.input === "layer-b-emptyfirst.tar.gz"
    ? [{ label: "with upstreamCompat", upstreamCompat: true }]
    : [{ label: "by default", upstreamCompat: false }, { label: "with upstreamCompat", upstreamCompat: true }];
  for (const mode of modes) {
    test(`buildZtoc() ${mode.label} reproduces ${f.file} byte for byte`, async () => {
      const x = expectedOf(f.base);
      const blob = inputBlob(f.input);
      const opts: BuildZtocOptions = {
        compression: compressed ? "gzip" : "uncompressed",
        spanSize: f.spanSize,
        buildToolIdentifier: TOOL,
        source: f.input,
        expectedDigest: sha256Digest(blob),
        expectedSize: blob.length,
        upstreamCompat: mode.upstreamCompat,
      };
      const built = await buildZtoc(chunked(blob), opts);
      assert.equal(built.digest, x.ztoc_digest);
      assert.equal(built.size, x.ztoc_size);
      assert.equal(toHex(built.bytes), toHex(ztocBytes(f.file)));
      assert.equal(built.blobSize, blob.length);
      assert.deepEqual(built.warnings, []);
    });
  }
}

test("buildZtoc() fails on layer-b-trailing.tar.gz under upstreamCompat, like upstream", async () => {
  const blob = inputBlob("layer-b-trailing.tar.gz");
  await assert.rejects(
    buildZtoc(chunked(blob), { compression: "gzip", spanSize: 4194304, buildToolIdentifier: TOOL, upstreamCompat: true }),
    FormatError,
  );
});

test("buildZtoc() by default accepts layer-b-trailing.tar.gz with a warning and layer-b's TOC", async () => {
  const blob = inputBlob("layer-b-trailing.tar.gz");
  const built = await buildZtoc(chunked(blob), { compression: "gzip", spanSize: 4194304, buildToolIdentifier: TOOL });
  assert.equal(built.warnings.length, 1);
  assert.match(built.warnings[0], /16 zero bytes/);
  const reference = decodeZtoc(ztocBytes("layer-b.tar.gz.span4194304.ztoc"));
  assert.deepEqual(built.ztoc.toc, reference.toc);
  assert.equal(built.ztoc.compressedArchiveSize, reference.compressedArchiveSize + 16);
});

test("buildZtoc() by default drops layer-b-emptyfirst's duplicate out=0 checkpoint, leaving one span", async () => {
  const blob = inputBlob("layer-b-emptyfirst.tar.gz");
  const built = await buildZtoc(chunked(blob), { compression: "gzip", spanSize: 4194304, buildToolIdentifier: TOOL });
  assert.equal(built.ztoc.maxSpanId, 0);
  assert.equal(built.ztoc.spanDigests.length, 1);
  assert.equal(built.ztoc.uncompressedArchiveSize, 12800);
});

test("buildZtoc() names a digest mismatch rather than the parse error it causes", async () => {
  const blob = inputBlob("layer-b.tar.gz").slice();
  const expectedDigest = sha256Digest(blob);
  blob[200] ^= 0xff;
  await assert.rejects(
    buildZtoc(chunked(blob, 100), { compression: "gzip", spanSize: 4194304, buildToolIdentifier: TOOL, expectedDigest, source: "sha256:layer" }),
    (e: unknown) => e instanceof FormatError && /has digest sha256:[0-9a-f]{64}, expected/.test(e.message) && /sha256:layer/.test(e.message),
  );
});
