// The kernel against node:zlib (whole-stream output identical) on the
// generated corpus and the realistic layer; checkpoints validated
// structurally (formats §12.1 items 3–6); random span extraction.
import { test } from "node:test";
import assert from "node:assert/strict";
import zlib from "node:zlib";
import { sha256Digest } from "../../core-wasm/src/bytes/mod.ts";
import {
  encodeZinfo, gunzip, GzipIndexer, gzipSpanTable, inflateSpan, type Checkpoint, type GzipSummary,
} from "../../core-wasm/src/gzip/mod.ts";
import { corpus, randomBytes, realisticLayer } from "./_corpus.ts";

function headerLength(gz: Uint8Array): number {
  const flg = gz[3];
  let n = 10;
  if (flg & 4) n += 2 + (gz[10] | (gz[11] << 8));
  for (const f of [8, 16]) if (flg & f) { while (gz[n] !== 0) n++; n++; }
  return flg & 2 ? n + 2 : n;
}

function indexWhole(gz: Uint8Array, spanSize: number, chunk: number): GzipSummary {
  const ix = new GzipIndexer({ spanSize });
  const sink = { data() {}, checkpoint() {} };
  for (let p = 0; p < gz.length; p += chunk) ix.push(gz.subarray(p, p + chunk), sink);
  return ix.finish(sink);
}

/** formats §12.1 items 3–6 for one checkpoint list. */
function checkStructure(gz: Uint8Array, full: Uint8Array, spanSize: number, cps: Checkpoint[]): void {
  const blob = encodeZinfo({ spanSize, checkpoints: cps });
  assert.equal(blob.length, 12 + 32785 * cps.length);
  assert.deepEqual([cps[0].in, cps[0].out, cps[0].bits], [headerLength(gz), 0, 0]);
  assert.ok(cps[0].window.every((b) => b === 0));
  for (let k = 1; k < cps.length; k++) {
    assert.ok(cps[k].out - cps[k - 1].out > spanSize, `checkpoint ${k} more than a span past ${k - 1}`);
    assert.ok(cps[k].bits >= 0 && cps[k].bits <= 7);
    const w = new Uint8Array(32768);
    const s = Math.max(0, cps[k].out - 32768);
    w.set(full.subarray(s, cps[k].out), 32768 - (cps[k].out - s));
    assert.ok(Buffer.from(cps[k].window).equals(w), `window ${k}`);
  }
  const table = gzipSpanTable({ version: 2, spanSize, checkpoints: cps }, gz.length, full.length);
  for (let i = 0; i < table.spanCount; i++) {
    const [cs, ce] = table.compressedRange(i);
    const [us, ue] = table.uncompressedRange(i);
    if (i + 1 < table.spanCount) assert.ok(cs < ce && us < ue, `span ${i} non-empty`);
    assert.match(sha256Digest(gz.subarray(cs, ce)), /^sha256:[0-9a-f]{64}$/);
    if (i % 7 === 0 || i === table.spanCount - 1) {
      const got = inflateSpan(cps[i], gz.subarray(cs, ce), 0, ue - us);
      assert.ok(Buffer.from(got).equals(full.subarray(us, ue)), `span ${i} inflates to its range`);
    }
  }
}

for (const { name, gz } of corpus()) {
  test(`gunzip() equals node:zlib and checkpoints hold formats §12.1 on corpus case: ${name}`, () => {
    const full = zlib.gunzipSync(gz);
    assert.ok(Buffer.from(gunzip(gz)).equals(full));
    for (const [span, chunk] of [[0, 65536], [65536, 997], [1 << 20, 1 << 20]]) {
      const sum = indexWhole(gz, span, chunk);
      assert.equal(sum.uncompressedSize, full.length);
      checkStructure(gz, full, span, sum.checkpoints);
    }
  });
}

test("gunzip() equals node:zlib on random data at every level", () => {
  const data = randomBytes(300000, 99);
  for (let level = 0; level <= 9; level++) {
    const gz = zlib.gzipSync(data, { level });
    assert.ok(Buffer.from(gunzip(gz)).equals(data), `level ${level}`);
  }
});

test("the realistic layer: gunzip() equals node:zlib, 4 MiB checkpoints hold §12.1, random spans match", () => {
  const gz = realisticLayer();
  const full = zlib.gunzipSync(gz);
  const ours = gunzip(gz);
  assert.equal(ours.length, full.length);
  assert.ok(Buffer.from(ours).equals(full));
  const span = 4 << 20;
  const sum = indexWhole(gz, span, 1 << 20);
  checkStructure(gz, full, span, sum.checkpoints);
  const table = gzipSpanTable({ version: 2, spanSize: span, checkpoints: sum.checkpoints }, gz.length, full.length);
  const rnd = randomBytes(4 * 64, 12345);
  const dv = new DataView(rnd.buffer);
  for (let i = 0; i < 64; i++) {
    const off = dv.getUint32(i * 4, true) % full.length;
    const len = Math.min(full.length - off, (dv.getUint32(((i + 32) % 64) * 4, true) % (6 << 20)) + 1);
    const s = table.spanFor(off);
    const e = table.spanFor(off + len - 1);
    const [cs] = table.compressedRange(s);
    const [, ce] = table.compressedRange(e);
    const got = inflateSpan(sum.checkpoints[s], gz.subarray(cs, ce), off - table.uncompressedRange(s)[0], len);
    assert.ok(Buffer.from(got).equals(full.subarray(off, off + len)), `range ${off}+${len}`);
  }
});
