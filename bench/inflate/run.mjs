#!/usr/bin/env node
// bench/inflate: the inflate kernel on the realistic layer, all in one run.
//  1. In-process medians (bench/inflate/worker.mjs): our GzipIndexer (span
//     4 MiB, CRC checked) vs zlib.gunzipSync, and 4 MiB span extraction,
//     under Node, Bun and Deno.
//  2. hyperfine over whole processes: ours (Node/Bun/Deno) vs
//     libdeflate-gunzip -c, pigz -dc, gzip -dc.
// Every figure is a ratio to a baseline from the same run; results go to
// bench/results/inflate.{json,md}.
//   node bench/inflate/run.mjs [--runs N]
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { hyperfine, ratio, ROOT, writeResults } from "../lib.mjs";

const runs = Number(process.argv[process.argv.indexOf("--runs") + 1] || 7);
const layer = execFileSync(join(ROOT, "scripts", "make_realistic_layer.sh"), { encoding: "utf8" }).trim();
const { buildWasm } = await import(join(ROOT, "scripts", "build_wasm.mjs"));
buildWasm();
const outDir = join(ROOT, ".build", "bench");
mkdirSync(outDir, { recursive: true });
const bundle = join(outDir, "gzip_bundle.mjs");
const esbuild = await import("esbuild");
await esbuild.build({
  entryPoints: [join(ROOT, "core-wasm", "src", "gzip", "mod.ts")],
  outfile: bundle, bundle: true, platform: "node", format: "esm", target: "es2022", logLevel: "warning",
});
const worker = join(ROOT, "bench", "inflate", "worker.mjs");
const bin = (n) => join(ROOT, "node_modules", ".bin", n);
const runtimes = {
  node: [process.execPath],
  bun: [bin("bun")],
  deno: [bin("deno"), "run", "-A"],
};

function inproc(rt, mode) {
  const out = execFileSync(runtimes[rt][0], [...runtimes[rt].slice(1), worker, bundle, layer, mode, String(runs)], { encoding: "utf8" });
  return JSON.parse(out.trim().split("\n").pop());
}

const results = { layer, runs, inproc: {}, hyperfine: {} };
const rows = [];
const zlibNode = inproc("node", "zlib");
results.inproc.zlib_node = zlibNode;
const mbps = (r) => Math.round(r.bytes / r.medianMs / 1000);
rows.push(["in-process", "node", "zlib.gunzipSync", `${mbps(zlibNode)} MB/s`, "1.000 (baseline)"]);
for (const rt of Object.keys(runtimes)) {
  const idx = inproc(rt, "index");
  const span = inproc(rt, "span");
  const z = rt === "node" ? zlibNode : inproc(rt, "zlib");
  results.inproc[rt] = { index: idx, span, zlib: z, indexVsZlibNode: ratio(zlibNode.medianMs, idx.medianMs), indexVsZlibSameRuntime: ratio(z.medianMs, idx.medianMs) };
  rows.push(["in-process", rt, "GzipIndexer span 4 MiB + CRC", `${mbps(idx)} MB/s`, `${ratio(zlibNode.medianMs, idx.medianMs)} × node zlib; ${ratio(z.medianMs, idx.medianMs)} × ${rt} zlib`]);
  rows.push(["in-process", rt, "inflateSpan 4 MiB", `${mbps(span)} MB/s`, `${ratio(span.bytes / span.medianMs, zlibNode.bytes / zlibNode.medianMs)} × node zlib throughput`]);
}

const q = (s) => `'${s}'`;
const cmds = {
  "libdeflate-gunzip -c": `libdeflate-gunzip -c ${q(layer)} > /dev/null`,
  "pigz -dc": `pigz -dc ${q(layer)} > /dev/null`,
  "gzip -dc": `gzip -dc ${q(layer)} > /dev/null`,
};
for (const rt of Object.keys(runtimes)) cmds[`soci-ts ${rt} (index, 1 pass)`] = [...runtimes[rt], worker, bundle, layer, "index", "0"].map(q).join(" ");
cmds["node zlib.gunzipSync (1 pass)"] = [process.execPath, worker, bundle, layer, "zlib", "0"].map(q).join(" ");
const h = hyperfine(cmds, { warmup: 1, runs: Math.max(3, Math.min(runs, 10)) });
results.hyperfine = h;
const lib = h["libdeflate-gunzip -c"].median;
for (const [name, r] of Object.entries(h)) {
  rows.push(["process (hyperfine)", name.split(" ")[1] ?? "", name, `${r.median.toFixed(3)} s`, `${ratio(lib, r.median)} × libdeflate speed`]);
}
results.summary = {
  target: "index ≥ 1.3 × zlib.gunzipSync (in-process, node)",
  indexVsZlibNode: results.inproc.node.indexVsZlibNode,
  nodeProcessVsLibdeflate: ratio(lib, h["soci-ts node (index, 1 pass)"].median),
};
const md = writeResults("inflate", results, rows, ["kind", "runtime", "what", "median", "ratio"]);
console.log(md);
console.log(JSON.stringify(results.summary));
