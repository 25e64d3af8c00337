// One in-process measurement (runs under Node, Bun and Deno): warm-up + N
// timed runs on the realistic layer, prints {mode, medianMs, bytes} as JSON.
//   worker.mjs <bundle.mjs> <layer.tar.gz> <index|zlib|span> [runs]
// index: GzipIndexer, span 4 MiB, 1 MiB pushes, CRC-32/ISIZE verified, output discarded.
// zlib:  node:zlib gunzipSync (CRC verified).
// span:  inflateSpan of one 4 MiB span from a mid-layer checkpoint.
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import zlib from "node:zlib";

const [bundlePath, layerPath, mode, runsArg] = process.argv.slice(2);
const runs = Number(runsArg ?? 7);
const { GzipIndexer, gzipSpanTable, inflateSpan } = await import(pathToFileURL(bundlePath).href);
const gz = new Uint8Array(readFileSync(layerPath));
const SPAN = 4 << 20;

function index() {
  const ix = new GzipIndexer({ spanSize: SPAN });
  let n = 0;
  const sink = { data(c) { n += c.length; }, checkpoint() {} };
  for (let p = 0; p < gz.length; p += 1 << 20) ix.push(gz.subarray(p, p + (1 << 20)), sink);
  return { sum: ix.finish(sink), n };
}

let fn;
let bytes;
if (mode === "index") {
  fn = () => index().n;
} else if (mode === "zlib") {
  fn = () => zlib.gunzipSync(gz).length;
} else if (mode === "span") {
  const { sum } = index();
  const cps = sum.checkpoints;
  const t = gzipSpanTable({ version: 2, spanSize: SPAN, checkpoints: cps }, gz.length, sum.uncompressedSize);
  const i = cps.length >> 1;
  const [cs, ce] = t.compressedRange(i);
  const [us, ue] = t.uncompressedRange(i);
  const part = gz.subarray(cs, ce);
  fn = () => inflateSpan(cps[i], part, 0, ue - us).length;
} else throw new Error(`unknown mode ${mode}`);

if (runs === 0) {
  // One pass, for whole-process timing (hyperfine).
  console.log(JSON.stringify({ mode, bytes: fn() }));
  process.exit(0);
}
bytes = fn(); // warm-up
fn();
const times = [];
for (let r = 0; r < runs; r++) {
  const t0 = performance.now();
  fn();
  times.push(performance.now() - t0);
}
times.sort((a, b) => a - b);
console.log(JSON.stringify({ mode, medianMs: times[times.length >> 1], minMs: times[0], bytes }));
