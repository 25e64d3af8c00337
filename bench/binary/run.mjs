#!/usr/bin/env node
// Binary bench: the size of the shipped artefacts and the start-up time of
// `soci --version`, each start-up figure a ratio to `node -e 0` measured by the
// same hyperfine run (bench/lib.mjs). Builds first (skipped when up to date).
//
//   node bench/binary/run.mjs [--runs N]
//
// Writes bench/results/binary.{json,md} and the "Binary" section of
// BENCHMARKS.md (only that section; the others are left as they are).
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { hyperfine, ratio, replaceBenchmarksSection, ROOT, writeResults } from "../lib.mjs";

const runsArg = process.argv.indexOf("--runs");
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 20;

const build = spawnSync(process.execPath, [join(ROOT, "scripts", "build.mjs")], { cwd: ROOT, stdio: "inherit" });
if (build.status !== 0) process.exit(build.status ?? 1);

const BIN = join(ROOT, "dist", "soci");
const MJS = join(ROOT, "dist", "soci.mjs");
const DENO = join(ROOT, "node_modules", ".bin", "deno");
const BUN = join(ROOT, "node_modules", ".bin", "bun");
const WASM = join(ROOT, ".build", "core.wasm");

const commands = {
  "node -e 0 (baseline)": `${process.execPath} -e 0`,
  "dist/soci --version": `${BIN} --version`,
  "node dist/soci.mjs --version": `${process.execPath} ${MJS} --version`,
  "bun dist/soci.mjs --version": `${BUN} ${MJS} --version`,
  "deno run -A dist/soci.mjs --version": `${DENO} run -A ${MJS} --version`,
};
const times = hyperfine(commands, { warmup: 3, runs: RUNS });
const base = times["node -e 0 (baseline)"].mean;

const sizes = {
  binary: statSync(BIN).size,
  bundle: statSync(MJS).size,
  wasm: existsSync(WASM) ? statSync(WASM).size : null,
  bunRuntime: statSync(realBun()).size,
};

function realBun() {
  // The npm `bun` package's executable: what --compile embeds (the size floor of dist/soci).
  const p = join(ROOT, "node_modules", "bun", "bin", "bun.exe");
  return existsSync(p) ? p : BUN;
}

const mb = (n) => (n / 1e6).toFixed(2) + " MB";
const ms = (s) => (s * 1000).toFixed(1) + " ms";
const rows = [
  ...Object.entries(times).map(([name, t]) => [name, ms(t.mean), `± ${ms(t.stddev)}`, `${ratio(t.mean, base)}×`]),
  ["size: dist/soci (bun --compile)", mb(sizes.binary), "", `${ratio(sizes.binary, sizes.bunRuntime)}× the bun runtime (${mb(sizes.bunRuntime)})`],
  ["size: dist/soci.mjs (bundle)", mb(sizes.bundle), "", ""],
  ...(sizes.wasm === null ? [] : [["size: core.wasm (inlined)", `${(sizes.wasm / 1000).toFixed(1)} kB`, "", ""]]),
];
const md = writeResults(
  "binary",
  { runs: RUNS, baseline: "node -e 0", startup: times, sizes, ratios: Object.fromEntries(Object.entries(times).map(([k, t]) => [k, ratio(t.mean, base)])) },
  rows,
  ["what", "mean / size", "stddev", "ratio to baseline"],
);
console.log(md);

// Replace (or add) only the "## Binary" section of BENCHMARKS.md.
const section =
  "## Binary\n\n" +
  `Start-up of \`soci --version\` and artefact sizes; start-up ratios are to \`node -e 0\` in the same hyperfine run (${RUNS} runs, 3 warm-ups). ` +
  "Regenerate with `node bench/binary/run.mjs`; raw data in `bench/results/binary.json`.\n\n" +
  md +
  "\n";
replaceBenchmarksSection("Binary", section);
