#!/usr/bin/env node
// `npm run build`: the wasm core (scripts/build_wasm.mjs) → the bundle
// dist/soci.mjs (scripts/bundle.mjs) → the single executable dist/soci
// (scripts/compile.mjs). Each step is skipped when its output is newer than its
// inputs; `--force` rebuilds all three. Every step writes a temp file and
// renames it into place, so an interrupted build leaves the last good output.
import { statSync } from "node:fs";
import { buildWasm } from "./build_wasm.mjs";
import { bundle } from "./bundle.mjs";
import { compile } from "./compile.mjs";

/** Runs the three steps; returns the paths it produced. */
export async function build({ force = false, log = () => {} } = {}) {
  const wasm = buildWasm({ force });
  log(`build: wasm ${wasm} (${statSync(wasm).size} bytes)`);
  const mjs = await bundle({ force });
  log(`build: bundle ${mjs} (${statSync(mjs).size} bytes)`);
  const bin = compile({ force });
  log(`build: binary ${bin} (${statSync(bin).size} bytes)`);
  return { wasm, bundle: mjs, binary: bin };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await build({ force: process.argv.includes("--force"), log: (m) => console.error(m) });
}
