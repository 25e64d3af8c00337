// Golden checkpoints: every gzip expected/*.json of the upstream fixtures
// (formats §12.2) against GzipIndexer + encodeZinfo. Expected values come from
// upstream; they are never regenerated here.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { FormatError } from "../errors.ts";
import { sha256Digest } from "../bytes/mod.ts";
import { encodeZinfo, GzipIndexer, type Checkpoint, type InflateSink } from "./mod.ts";

const FIX = join(process.env.SOCI_REPO_ROOT ?? process.cwd(), "test", "fixtures", "upstream");

interface Expected {
  input: string;
  span_size: number;
  compression: string;
  checkpoints: { in: number; out: number; bits: number }[];
  zinfo_blob_sha256: string;
  zinfo_blob_size: number;
}

function index(bytes: Uint8Array, spanSize: number, upstreamCompat = false, chunk = 16384) {
  const seen: Checkpoint[] = [];
  let out = 0;
  const sink: InflateSink = {
    data(c, off) {
      assert.equal(off, out);
      out += c.length;
    },
    checkpoint(cp) {
      assert.equal(cp.out, out, "checkpoint arrives after all data before it");
      seen.push(cp);
    },
  };
  const ix = new GzipIndexer({ spanSize, upstreamCompat, source: "fixture" });
  for (let p = 0; p < bytes.length; p += chunk) ix.push(bytes.subarray(p, p + chunk), sink);
  const sum = ix.finish(sink);
  assert.deepEqual(sum.checkpoints, seen);
  return sum;
}

function windowAt(full: Uint8Array, out: number): Uint8Array {
  const w = new Uint8Array(32768);
  const start = Math.max(0, out - 32768);
  w.set(full.subarray(start, out), 32768 - (out - start));
  return w;
}

const cases = readdirSync(join(FIX, "expected"))
  .filter((f) => f.endsWith(".json"))
  .map((f) => ({ file: f, exp: JSON.parse(readFileSync(join(FIX, "expected", f), "utf8")) as Expected }))
  .filter((c) => c.exp.compression === "gzip");

for (const { file, exp } of cases) {
  for (const chunk of [1, 7, 16384, 1 << 22]) {
    if (chunk === 1 && exp.span_size > 60000 && file.includes("layer-a")) continue; // byte-at-a-time: keep runtime small
    test(`GzipIndexer reproduces upstream checkpoints and zinfo for ${file} (chunks of ${chunk})`, () => {
      const bytes = readFileSync(join(FIX, exp.input));
      const compat = file.startsWith("layer-b-emptyfirst");
      const sum = index(bytes, exp.span_size, compat, chunk);
      assert.deepEqual(sum.checkpoints.map((c) => ({ in: c.in, out: c.out, bits: c.bits })), exp.checkpoints);
      const full = gunzipSync(bytes);
      for (const cp of sum.checkpoints) assert.ok(Buffer.from(cp.window).equals(windowAt(full, cp.out)), `window at out=${cp.out}`);
      assert.equal(sum.uncompressedSize, full.length);
      assert.equal(sum.compressedSize, bytes.length);
      const blob = encodeZinfo({ spanSize: exp.span_size, checkpoints: sum.checkpoints });
      assert.equal(blob.length, exp.zinfo_blob_size);
      assert.equal(sha256Digest(blob), exp.zinfo_blob_sha256);
    });
  }
}

test("GzipIndexer drops the duplicate out=0 checkpoint of an empty first member by default", () => {
  const bytes = readFileSync(join(FIX, "inputs", "layer-b-emptyfirst.tar.gz"));
  const sum = index(bytes, 4194304);
  assert.deepEqual(sum.checkpoints.map((c) => [c.in, c.out, c.bits]), [[10, 0, 0]]);
  assert.equal(sum.members, 2);
});

test("GzipIndexer fails layer-b-trailing with upstreamCompat and tolerates its 16 zero bytes by default", () => {
  const bytes = readFileSync(join(FIX, "inputs", "layer-b-trailing.tar.gz"));
  const tail = bytes.subarray(642);
  assert.ok(tail.length === 16 && tail.every((b) => b === 0), "fixture is layer-b + 16 zero bytes");
  assert.throws(() => index(bytes, 4194304, true), (e) => e instanceof FormatError && e.location.compressedOffset === 642);
  const sum = index(bytes, 4194304);
  assert.equal(sum.trailingZeroBytes, 16);
  assert.deepEqual(sum.checkpoints.map((c) => [c.in, c.out, c.bits]), [[10, 0, 0]]);
});

test("GzipIndexer rejects non-zero trailing garbage even by default", () => {
  const base = readFileSync(join(FIX, "inputs", "layer-b.tar.gz"));
  const bytes = Buffer.concat([base, Buffer.from([0, 0, 5])]);
  assert.throws(() => index(bytes, 4194304), (e) => e instanceof FormatError && /non-zero bytes after the last member/.test(e.message));
});
