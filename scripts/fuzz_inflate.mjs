#!/usr/bin/env node
// Mutation fuzzer for the inflate kernel and gzip framing: mutates corpus
// inputs (bit flips, byte edits, truncation, splices, appended bytes) for a
// bounded time and compares with node:zlib. Either both succeed with identical
// output, or we throw a FormatError; any other exception, or different bytes,
// is a failure (the input is saved under .build/fuzz/). The GzipIndexer path
// with random chunking must agree with gunzip().
//
//   node scripts/fuzz_inflate.mjs [--seconds N] [--seed S]     (default 20 s)
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import zlib from "node:zlib";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const seconds = arg("--seconds", 20);
let seed = arg("--seed", Date.now() % 0x7fffffff) >>> 0 || 1;

const outDir = join(root, ".build", "fuzz");
mkdirSync(outDir, { recursive: true });
const { buildWasm } = await import("./build_wasm.mjs");
buildWasm();
const esbuild = await import("esbuild");
const bundle = join(outDir, "gzip_bundle.mjs");
await esbuild.build({
  stdin: {
    contents: 'export * from "./core-wasm/src/gzip/mod.ts"; export { FormatError } from "./core-wasm/src/errors.ts";',
    resolveDir: root,
    loader: "ts",
  },
  outfile: bundle, bundle: true, platform: "node", format: "esm", target: "node20", logLevel: "warning",
});
const { gunzip, GzipIndexer, FormatError } = await import(pathToFileURL(bundle).href + `?t=${Date.now()}`);

function rand(n) {
  seed ^= seed << 13; seed >>>= 0; seed ^= seed >>> 17; seed ^= seed << 5; seed >>>= 0;
  return seed % n;
}

function corpus() {
  const dir = join(root, "test", "fixtures", "upstream", "inputs");
  const files = readdirSync(dir).map((f) => readFileSync(join(dir, f)));
  const text = zlib.gunzipSync(files.find((f) => f.length > 100000)).subarray(0, 60000);
  const C = zlib.constants;
  const made = [
    zlib.gzipSync(text, { level: 0 }), zlib.gzipSync(text, { strategy: C.Z_FIXED }), zlib.gzipSync(text, { level: 1 }),
    zlib.gzipSync(text.subarray(0, 3000), { level: 9 }), zlib.gzipSync(text, { strategy: C.Z_HUFFMAN_ONLY }),
    zlib.gzipSync(text.subarray(0, 5000), { strategy: C.Z_RLE }), zlib.gzipSync(Buffer.alloc(0)),
    Buffer.concat([zlib.gzipSync(text.subarray(0, 700)), zlib.gzipSync(text.subarray(700, 4000))]),
  ];
  return [...files.filter((f) => f.length < 20000), ...made];
}

function mutate(inputs) {
  let b = Buffer.from(inputs[rand(inputs.length)]);
  const edits = 1 + rand(4);
  for (let k = 0; k < edits; k++) {
    const op = rand(7);
    if (b.length === 0) break;
    if (op <= 2) b[rand(b.length)] ^= 1 << rand(8);
    else if (op === 3) b[rand(b.length)] = rand(256);
    else if (op === 4) b = b.subarray(0, rand(b.length + 1));
    else if (op === 5) {
      const o = inputs[rand(inputs.length)];
      const s = rand(o.length + 1);
      b = Buffer.concat([b.subarray(0, rand(b.length + 1)), o.subarray(s, s + rand(4096))]);
    } else b = Buffer.concat([b, Buffer.from([rand(2) ? 0 : rand(256), rand(256)]).subarray(0, 1 + rand(2))]);
  }
  return b;
}

function viaIndexer(input) {
  const parts = [];
  const ix = new GzipIndexer({ spanSize: rand(3) === 0 ? 0 : rand(200000) });
  const sink = { data: (c) => parts.push(Buffer.from(c)), checkpoint() {} };
  for (let p = 0; p < input.length;) {
    const n = 1 + rand(5000);
    ix.push(input.subarray(p, p + n), sink);
    p += n;
  }
  ix.finish(sink);
  return Buffer.concat(parts);
}

const inputs = corpus();
const end = Date.now() + seconds * 1000;
let runs = 0, ok = 0, rejected = 0, failures = 0;
const startSeed = seed;
while (Date.now() < end) {
  const input = mutate(inputs);
  runs++;
  let want;
  try { want = zlib.gunzipSync(input); } catch { want = undefined; }
  let problem;
  try {
    const got = Buffer.from(gunzip(input));
    if (want === undefined) problem = "we succeeded where node:zlib failed";
    else if (!got.equals(want)) problem = "different bytes from node:zlib";
    else if (!viaIndexer(input).equals(got)) problem = "GzipIndexer output differs from gunzip()";
    else ok++;
  } catch (e) {
    if (e instanceof FormatError) rejected++;
    else problem = `non-FormatError exception: ${e?.stack ?? e}`;
  }
  if (problem) {
    failures++;
    const f = join(outDir, `fail-${startSeed}-${runs}.gz`);
    writeFileSync(f, input);
    console.error(`fuzz_inflate: ${problem} (saved ${f})`);
    if (failures >= 5) break;
  }
}
console.log(JSON.stringify({ seconds, seed: startSeed, runs, ok, rejected, failures }));
process.exit(failures === 0 ? 0 : 1);
