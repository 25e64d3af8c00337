#!/usr/bin/env node
// The test command (`npm test`, also run by .ci/run): installs what is missing,
// builds the wasm core, checks the module dependency rules, compiles every
// `*_test.ts` with esbuild and runs them with node's test runner.
//
//   npm test                      everything
//   npm test -- core-wasm/src/tar only test files whose path contains one of the args
//
// Under CI=true a missing prerequisite fails the run (see scripts/setup.mjs).
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, rmSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureDebianPackages, ensureNodeModules } from "./setup.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const TEST_DIRS = ["core-wasm/src", "cli", "snapshotter", "test", "scripts", "bench"];

function findTests(dir, out = []) {
  if (!existsSync(dir)) return out; // e.g. snapshotter/ before it has files
  for (const name of readdirSync(dir)) {
    if (name === "node_modules" || name.startsWith(".")) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) findTests(p, out);
    else if (name.endsWith("_test.ts")) out.push(p);
  }
  return out;
}

async function main() {
  // CI covers the slow real-rootfs fixtures too (debootstrap, ~60 s once per machine).
  if (process.env.CI === "true" && process.env.SOCI_FIXTURES_DEBIAN === undefined) process.env.SOCI_FIXTURES_DEBIAN = "1";
  ensureNodeModules();
  ensureDebianPackages();
  const { buildWasm } = await import("./build_wasm.mjs");
  buildWasm();
  const deps = spawnSync(process.execPath, [join(root, "scripts", "check_deps.mjs")], { stdio: "inherit" });
  if (deps.status !== 0) process.exit(deps.status ?? 1);

  const filters = process.argv.slice(2);
  let tests = TEST_DIRS.flatMap((d) => findTests(join(root, d)));
  if (filters.length > 0) tests = tests.filter((t) => filters.some((f) => relative(root, t).includes(f)));
  if (tests.length === 0) {
    console.error("test: no test files matched");
    process.exit(1);
  }
  // A private output dir per run: several runs may go on at once.
  const outDir = join(root, ".build", `tests-${process.pid}`);
  rmSync(outDir, { recursive: true, force: true });
  const esbuild = await import("esbuild");
  const entryPoints = Object.fromEntries(tests.map((t) => [relative(root, t).replace(/\.ts$/, ""), t]));
  await esbuild.build({
    entryPoints,
    outdir: outDir,
    outExtension: { ".js": ".mjs" },
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    sourcemap: "inline",
    packages: "external",
    logLevel: "warning",
  });
  const compiled = Object.keys(entryPoints).map((k) => join(outDir, k + ".mjs"));
  const args = ["--enable-source-maps", "--test", `--test-concurrency=${process.env.TEST_CONCURRENCY ?? 2}`];
  if (process.env.TEST_REPORTER) args.push(`--test-reporter=${process.env.TEST_REPORTER}`);
  const r = spawnSync(process.execPath, [...args, ...compiled], {
    stdio: "inherit",
    cwd: root,
    env: { ...process.env, SOCI_REPO_ROOT: root },
  });
  if (!process.env.KEEP_TEST_BUILD) rmSync(outDir, { recursive: true, force: true });
  process.exit(r.status ?? 1);
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
