#!/usr/bin/env node
// `npm start`, the README's main job: install what is missing, build the
// single binary, build the bundled `sample` fixture image, then show soci at
// work on it with the compiled binary:
//
//   soci convert   the sample OCI layout → a SOCI-enabled copy (oci-dir) and
//                  the zTOCs + SOCI index recorded in a private store
//   soci index list, soci ztoc list   what the store now holds
//   soci verify    the converted layout checked end to end
//
// Everything lands under .build/ (store: .build/demo-store, output:
// .build/demo/sample-soci) and is recreated on each run; the binary and the
// bundle are rebuilt only when their inputs changed.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureNodeModules } from "./setup.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const FIXTURE_IMAGES = join(root, ".build", "fixtures", "images");
const SAMPLE = join(FIXTURE_IMAGES, "sample");
const STORE = join(root, ".build", "demo-store");
const OUT_DIR = join(root, ".build", "demo");
const OUTPUT = join(OUT_DIR, "sample-soci");

function step(title) {
  console.log(`\n=== ${title}`);
}

function fail(message) {
  console.error(`main: ${message}`);
  process.exit(1);
}

/** Runs a command with inherited output; exits on failure. */
function sh(cmd, args, { show = true } = {}) {
  if (show) console.log(`$ ${[relative(root, cmd) || cmd, ...args.map((a) => (a.startsWith(root) ? relative(root, a) : a))].join(" ")}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: "inherit" });
  if (r.error) fail(`cannot run ${cmd}: ${r.error.message}`);
  if (r.status !== 0) fail(`${relative(root, cmd) || cmd} exited with ${r.status ?? r.signal}`);
}

/** The fixture generator is scripts/make_fixtures.{mjs,py,sh}; it writes .build/fixtures/images/<name>. */
function makeSampleFixture() {
  const candidates = [
    ["make_fixtures.mjs", process.execPath],
    ["make_fixtures.py", "python3"],
    ["make_fixtures.sh", "bash"],
  ];
  const found = candidates.find(([f]) => existsSync(join(root, "scripts", f)));
  if (!found) fail("scripts/make_fixtures.{mjs,py,sh} is missing: cannot build the sample image");
  const [file, interpreter] = found;
  sh(interpreter, [join(root, "scripts", file), "sample"]);
  if (!existsSync(join(SAMPLE, "index.json"))) {
    const have = existsSync(FIXTURE_IMAGES) ? readdirSync(FIXTURE_IMAGES).join(", ") : "nothing";
    fail(`the fixture generator did not write ${relative(root, SAMPLE)}/index.json (found: ${have})`);
  }
}

async function mainJob() {
  step("setup: npm packages");
  ensureNodeModules();

  step("build: wasm core → dist/soci.mjs → dist/soci");
  const { build } = await import("./build.mjs");
  const { binary } = await build({ log: (m) => console.log(m) });

  step("fixtures: the bundled sample image");
  makeSampleFixture();
  console.log(`sample image: ${relative(root, SAMPLE)}`);

  rmSync(STORE, { recursive: true, force: true });
  rmSync(OUT_DIR, { recursive: true, force: true });
  mkdirSync(OUT_DIR, { recursive: true });
  const soci = (...args) => sh(binary, ["--store", STORE, ...args]);

  step("soci --version");
  sh(binary, ["--version"]);

  step("soci convert: sample → SOCI-enabled OCI layout (small layers too: --min-layer-size 0)");
  soci("convert", "--min-layer-size", "0", "--format", "oci-dir", SAMPLE, OUTPUT);

  step("soci index list");
  soci("index", "list");

  step("soci ztoc list");
  soci("ztoc", "list");

  step("soci verify");
  soci("verify", OUTPUT);

  console.log(`\nmain: done. Store: ${relative(root, STORE)}, converted image: ${relative(root, OUTPUT)}`);
}

mainJob().catch((e) => fail(e instanceof Error ? e.message : String(e)));
