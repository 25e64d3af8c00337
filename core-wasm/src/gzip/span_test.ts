// Span tables against the upstream span digests (formats §4.5, §12.1 item 6)
// and inflateSpan against the whole stream, including spans that cross the
// member boundary of layer-a-2members (formats §6.4).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { sha256Digest } from "../bytes/mod.ts";
import { FormatError } from "../errors.ts";
import { GzipIndexer, gzipSpanTable, inflateSpan, tarSpanTable, type Checkpoint } from "./mod.ts";

const FIX = join(process.env.SOCI_REPO_ROOT ?? process.cwd(), "test", "fixtures", "upstream");

function checkpointsOf(bytes: Uint8Array, spanSize: number, upstreamCompat = false): Checkpoint[] {
  const ix = new GzipIndexer({ spanSize, upstreamCompat });
  const sink = { data() {}, checkpoint() {} };
  ix.push(bytes, sink);
  return ix.finish(sink).checkpoints;
}

for (const f of readdirSync(join(FIX, "expected")).filter((f) => f.endsWith(".json"))) {
  const exp = JSON.parse(readFileSync(join(FIX, "expected", f), "utf8"));
  if (exp.compression !== "gzip") continue;
  test(`gzipSpanTable() ranges hash to the upstream span digests and inflateSpan() reproduces every span of ${f}`, () => {
    const bytes = readFileSync(join(FIX, exp.input));
    const cps = checkpointsOf(bytes, exp.span_size, f.startsWith("layer-b-emptyfirst"));
    const full = gunzipSync(bytes);
    const table = gzipSpanTable({ version: 2, spanSize: exp.span_size, checkpoints: cps }, bytes.length, exp.uncompressed_archive_size);
    assert.equal(table.spanCount, exp.span_digests.length);
    for (let i = 0; i < table.spanCount; i++) {
      const [cs, ce] = table.compressedRange(i);
      assert.equal(sha256Digest(bytes.subarray(cs, ce)), exp.span_digests[i], `span ${i}`);
      const [us, ue] = table.uncompressedRange(i);
      const got = inflateSpan(cps[i], bytes.subarray(cs, ce), 0, ue - us);
      assert.ok(Buffer.from(got).equals(full.subarray(us, ue)), `span ${i} bytes`);
      if (ue > us) assert.equal(table.spanFor(us), i);
    }
  });
}

test("inflateSpan() crosses the member boundary of layer-a-2members from every checkpoint", () => {
  const bytes = readFileSync(join(FIX, "inputs", "layer-a-2members.tar.gz"));
  const full = gunzipSync(bytes);
  for (const span of [50000, 65536, 0]) {
    const cps = checkpointsOf(bytes, span);
    for (const cp of cps) {
      const start = cp.bits ? cp.in - 1 : cp.in;
      const len = full.length - cp.out;
      const got = inflateSpan(cp, bytes.subarray(start), 0, len);
      assert.ok(Buffer.from(got).equals(full.subarray(cp.out)), `from out=${cp.out}`);
      const mid = inflateSpan(cp, bytes.subarray(start), 1234, 100);
      assert.ok(Buffer.from(mid).equals(full.subarray(cp.out + 1234, cp.out + 1334)));
    }
  }
});

test("inflateSpan() refuses to invent bytes when the data ends early", () => {
  const bytes = readFileSync(join(FIX, "inputs", "layer-a.tar.gz"));
  const [cp0] = checkpointsOf(bytes, 65536);
  assert.throws(() => inflateSpan(cp0, bytes.subarray(10, 2000), 0, 300000), (e) => e instanceof FormatError && /ends after/.test(e.message));
  assert.equal(inflateSpan(cp0, bytes.subarray(10, 10), 0, 0).length, 0);
});

test("tarSpanTable() follows formats §5 (max_span_id, last span to U)", () => {
  const t = tarSpanTable(65536, 389120, 382976);
  assert.equal(t.spanCount, 6);
  assert.deepEqual(t.compressedRange(5), [327680, 389120]);
  assert.deepEqual(t.uncompressedRange(5), [327680, 382976]);
  assert.equal(t.spanFor(65536), 1);
  assert.equal(t.spanFor(10_000_000), 5);
  assert.equal(tarSpanTable(65536, 131072, 131072).spanCount, 2);
  assert.equal(tarSpanTable(65536, 0, 0).spanCount, 0);
  assert.throws(() => tarSpanTable(0, 10, 10), RangeError);
});

test("gzipSpanTable().spanFor() lets the later of equal outs win and clamps past the end", () => {
  const w = new Uint8Array(32768);
  const cps = [{ in: 10, out: 0, bits: 0, window: w }, { in: 30, out: 0, bits: 0, window: w }, { in: 90, out: 500, bits: 3, window: w }];
  const t = gzipSpanTable({ version: 2, spanSize: 0, checkpoints: cps }, 200, 900);
  assert.equal(t.spanFor(0), 1);
  assert.equal(t.spanFor(499), 1);
  assert.equal(t.spanFor(10 ** 9), 2);
  assert.deepEqual(t.compressedRange(2), [89, 200]);
});
