// Checkpoint placement against zlib itself, for the gzip writers real layers
// come from. test/oracle/zlib_checkpoints.c runs the formats §4.4 rule with
// zlib's own Z_BLOCK inflate (what upstream's zinfo builder links); our
// GzipIndexer must produce the same (in, out, bits, window) list for every
// writer and span size, and fail where zlib fails. The upstream golden files
// cover two writers (Python's zlib and Go); this covers the rest: GNU gzip
// (levels, --rsyncable), pigz (sync markers, -i, its zopfli level), libdeflate
// (big blocks), Python's zlib with full and sync flushes, node's zlib
// strategies, and concatenated members from different writers.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import zlib from "node:zlib";
import { GzipIndexer } from "../../core-wasm/src/gzip/mod.ts";
import { crc32 as slowCrc32, realisticLayer, ROOT, sampleData } from "./_corpus.ts";

const SPANS = [4 << 20, 1_000_000, 65536, 0];
const crc32 = (b: Uint8Array): number => (typeof zlib.crc32 === "function" ? zlib.crc32(b) >>> 0 : slowCrc32(b));

let dir = "";
let oracle = "";

before(() => {
  dir = mkdtempSync(join(tmpdir(), "soci-zlib-oracle-"));
  oracle = join(dir, "zlib_checkpoints");
  // gcc and zlib1g-dev are prerequisites (scripts/setup.mjs): a failure here is a failure.
  execFileSync("gcc", ["-O2", "-o", oracle, join(ROOT, "test", "oracle", "zlib_checkpoints.c"), "-lz"], { stdio: "inherit" });
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
});

/** 12 MB of a real rootfs tar: long runs of text, ELF files, small files. */
let tarCache: Uint8Array | null = null;
function tarData(): Uint8Array {
  tarCache ??= Buffer.concat([zlib.gunzipSync(realisticLayer()).subarray(0, 12 << 20), sampleData()]);
  return tarCache;
}

const run = (cmd: string, args: string[], input: Uint8Array): Uint8Array =>
  execFileSync(cmd, args, { input, maxBuffer: 1 << 30 });

function pythonZlib(data: Uint8Array, script: string): Uint8Array {
  return run("python3", ["-c", `import sys, zlib\nd = sys.stdin.buffer.read()\n${script}\nsys.stdout.buffer.write(o)`], data);
}

const WRITERS: [string, (d: Uint8Array) => Uint8Array][] = [
  ["gzip -1", (d) => run("gzip", ["-1", "-c", "-n"], d)],
  ["gzip -9", (d) => run("gzip", ["-9", "-c", "-n"], d)],
  ["gzip --rsyncable", (d) => run("gzip", ["--rsyncable", "-c", "-n"], d)],
  ["pigz", (d) => run("pigz", ["-c", "-p", "2"], d)],
  ["pigz -11 (zopfli)", (d) => run("pigz", ["-c", "-p", "2", "-11"], d.subarray(0, 2 << 20))],
  ["pigz -i -b 32", (d) => run("pigz", ["-c", "-p", "2", "-i", "-b", "32"], d)],
  ["libdeflate-gzip -1", (d) => run("libdeflate-gzip", ["-1", "-c"], d)],
  ["libdeflate-gzip -12", (d) => run("libdeflate-gzip", ["-12", "-c"], d.subarray(0, 4 << 20))],
  ["python zlib, full and sync flushes", (d) => pythonZlib(d, [
    "c = zlib.compressobj(6, zlib.DEFLATED, 31)",
    "o = b''",
    "for i in range(0, len(d), 300000):",
    "    o += c.compress(d[i:i + 300000])",
    "    o += c.flush(zlib.Z_FULL_FLUSH if i % 900000 == 0 else zlib.Z_SYNC_FLUSH)",
    "o += c.flush()",
  ].join("\n"))],
  ["node zlib level 0 (stored)", (d) => zlib.gzipSync(d.subarray(0, 3 << 20), { level: 0 })],
  ["node zlib Z_FIXED", (d) => zlib.gzipSync(d.subarray(0, 3 << 20), { strategy: zlib.constants.Z_FIXED })],
  ["node zlib Z_HUFFMAN_ONLY", (d) => zlib.gzipSync(d.subarray(0, 3 << 20), { strategy: zlib.constants.Z_HUFFMAN_ONLY })],
  ["node zlib Z_RLE, memLevel 1, windowBits 9", (d) => zlib.gzipSync(d.subarray(0, 3 << 20), { strategy: zlib.constants.Z_RLE, memLevel: 1, windowBits: 9 })],
  ["members: gzip, pigz, an empty one, libdeflate", (d) => Buffer.concat([
    run("gzip", ["-c", "-n"], d.subarray(0, 5_000_000)),
    run("pigz", ["-c", "-p", "2"], d.subarray(5_000_000, 7_500_000)),
    zlib.gzipSync(new Uint8Array(0)),
    run("libdeflate-gzip", ["-c"], d.subarray(7_500_000)),
  ])],
];

function oracleLines(gz: Uint8Array, span: number): { lines: string[]; error: string | null } {
  const f = join(dir, "layer.gz");
  writeFileSync(f, gz);
  const r = spawnSync(oracle, [f, String(span)], { encoding: "utf8", maxBuffer: 1 << 28 });
  if (r.status !== 0) return { lines: [], error: r.stderr.trim() || `exit ${r.status}` };
  return { lines: r.stdout.trim().split("\n"), error: null };
}

function ourLines(gz: Uint8Array, span: number): string[] {
  const ix = new GzipIndexer({ spanSize: span });
  const sink = { data() {}, checkpoint() {} };
  for (let p = 0; p < gz.length; p += 1 << 16) ix.push(gz.subarray(p, p + (1 << 16)), sink);
  return ix.finish(sink).checkpoints.map((c) => `${c.in} ${c.out} ${c.bits} ${crc32(c.window)}`);
}

for (const [name, write] of WRITERS) {
  test(`checkpoints equal zlib's Z_BLOCK placement for ${name}`, () => {
    const gz = write(tarData());
    assert.ok(Buffer.from(zlib.gunzipSync(gz)).length > 0, "the writer produced a readable stream");
    for (const span of SPANS) {
      const want = oracleLines(gz, span);
      assert.equal(want.error, null, `oracle failed on ${name}`);
      const got = ourLines(gz, span);
      assert.ok(want.lines.length >= 1);
      // Compared line by line so a failure names the first differing checkpoint.
      for (let i = 0; i < Math.max(want.lines.length, got.length); i++) {
        assert.equal(got[i], want.lines[i], `${name}, span ${span}: checkpoint ${i} (in out bits window-crc)`);
      }
    }
  });
}

test("where zlib fails (truncated stream, corrupt data) so do we; trailing zeros we index as the stream without them", () => {
  const gz = run("gzip", ["-c", "-n"], tarData().subarray(0, 2 << 20));
  const cases: [string, Uint8Array][] = [
    ["truncated", gz.subarray(0, gz.length - 100)],
    ["corrupt block", (() => { const b = Buffer.from(gz); b[b.length >> 1] ^= 0xff; b[(b.length >> 1) + 1] ^= 0x55; return b; })()],
  ];
  for (const [what, bad] of cases) {
    const want = oracleLines(bad, 65536);
    assert.notEqual(want.error, null, `zlib should reject the ${what} stream`);
    assert.throws(() => ourLines(bad, 65536), `GzipIndexer should reject the ${what} stream`);
  }
  // Zero padding after the last member: upstream fails (fixture layer-b-trailing);
  // issue 3 asks for the better thing, so the padding is ignored and the
  // checkpoints are zlib's for the stream without it.
  const padded = Buffer.concat([gz, Buffer.alloc(16)]);
  assert.notEqual(oracleLines(padded, 65536).error, null);
  assert.deepEqual(ourLines(padded, 65536), oracleLines(gz, 65536).lines);
  // A zlib (not gzip) stream: zlib's auto-detect accepts it; formats §4.4 says
  // the TOC step (a gzip reader) rejects such a layer, and our indexer, which
  // only reads gzip, rejects it at once.
  const zl = zlib.deflateSync(tarData().subarray(0, 1 << 20));
  assert.equal(oracleLines(zl, 4 << 20).error, null);
  assert.throws(() => ourLines(zl, 4 << 20));
});
