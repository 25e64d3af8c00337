#!/usr/bin/env node
// bench/inflate/kernel.mjs: the bare wasm kernel (core-wasm/assembly) over one
// single-member gzip file, without the binding or GzipIndexer: 1 MiB input
// chunks straight into the input arena, output discarded, CRC-32 checked
// against the trailer. For judging kernel changes by instruction counts
// (valgrind --tool=callgrind node --no-liftoff --no-wasm-tier-up kernel.mjs …
// with passes 0 and 1; the difference is one pass) and by interleaved wall
// times. Not part of bench/inflate/run.mjs.
//   node bench/inflate/kernel.mjs [core.wasm] <file.gz> [passes=5]   (NOCRC=1: CRC off)
import { readFileSync } from "node:fs";

const args = process.argv.slice(2);
const wasmPath = args[0].endsWith(".wasm") ? args.shift() : new URL("../../.build/core.wasm", import.meta.url).pathname;
const [gzPath, passesArg] = args;
const passes = Number(passesArg ?? 5);
const gz = new Uint8Array(readFileSync(gzPath));
const x = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(wasmPath)), {}).exports;
if (x.init() !== 0) throw new Error("kernel init failed");
if (process.env.NOCRC) x.setCrcEnabled(0);
const mem = new Uint8Array(x.memory.buffer);
const inPtr = x.inputPtr();
const CHUNK = x.inputCap();

function headerLength(b) {
  if (b[0] !== 0x1f || b[1] !== 0x8b) throw new Error(`${gzPath} is not gzip`);
  let p = 10;
  const f = b[3];
  if (f & 4) p += 2 + (b[10] | (b[11] << 8));
  if (f & 8) while (b[p++]);
  if (f & 16) while (b[p++]);
  if (f & 2) p += 2;
  return p;
}

function pass() {
  x.resetStream();
  x.beginMember();
  let p = headerLength(gz);
  let out = 0;
  for (;;) {
    const n = Math.min(CHUNK, gz.length - p);
    mem.set(gz.subarray(p, p + n), inPtr);
    const st = x.inflate(n, 0x7fffffff, 0, Infinity);
    p += x.consumed();
    out += x.outputEnd() - x.outputStart();
    if (st < 0) throw new Error(`kernel status ${st} near compressed offset ${p}`);
    if (st === 2) break; // STREAM_END
    if (st === 0 && n === 0) throw new Error("truncated gzip member");
  }
  return { out, crc: x.crcValue() >>> 0 };
}

let r = pass();
const times = [];
for (let i = 0; i < passes; i++) {
  const t0 = performance.now();
  r = pass();
  times.push(performance.now() - t0);
}
times.sort((a, b) => a - b);
const trailerCrc = new DataView(gz.buffer, gz.byteOffset).getUint32(gz.length - 8, true);
console.log(JSON.stringify({
  medianMs: times.length ? +times[times.length >> 1].toFixed(1) : null,
  minMs: times.length ? +times[0].toFixed(1) : null,
  bytes: r.out,
  crcOk: process.env.NOCRC ? null : r.crc === trailerCrc,
}));
