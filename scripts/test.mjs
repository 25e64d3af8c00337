#!/usr/bin/env node
// The test command (`npm test`, also run by .ci/run): installs what is missing,
// builds the wasm core, checks the module dependency rules, compiles every
// `*_test.ts` with esbuild and runs them with node's test runner.
//
//   npm test                      everything
//   npm test -- core-wasm/src/tar only test files whose path contains one of the args
//
// Under CI=true a missing prerequisite fails the run (see scripts/setup.mjs).
import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, readdirSync, rmSync, statSync } from "node:fs";
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
  const env = { ...process.env, SOCI_REPO_ROOT: root };
  const totals = { passed: 0, failed: 0, skipped: 0 };

  // 1. Everything under Node's test runner (TAP on a pipe: "# pass N" lines).
  const args = ["--enable-source-maps", "--test", `--test-concurrency=${process.env.TEST_CONCURRENCY ?? 2}`];
  if (process.env.TEST_REPORTER) args.push(`--test-reporter=${process.env.TEST_REPORTER}`);
  const node = await run(process.execPath, [...args, ...compiled], env);
  add(totals, count(node.out, /^# pass (\d+)/m), count(node.out, /^# fail (\d+)/m), count(node.out, /^# skipped (\d+)/m));
  let ok = node.status === 0;

  // 2. The core's unit tests again under Deno and Bun: one file runs on all three
  //    runtimes (STYLE §8). Known per-runtime failures: test/runtime_known_failures.json.
  const unit = compiled.filter((f) => relative(outDir, f).startsWith("core-wasm/"));
  if (unit.length > 0 && process.env.SOCI_TEST_RUNTIMES !== "node") {
    const bin = (n) => join(root, "node_modules", ".bin", n);
    const deno = await run(bin("deno"), ["test", "-A", "--no-check", ...unit.map((f) => relative(root, f))], env);
    const dp = count(deno.out, /\| (\d+) passed/), df = count(deno.out, /\| \d+ passed \| (\d+) failed/);
    add(totals, dp, df, 0);
    console.log(`deno: ${dp} passed, ${df} failed`);
    ok = ok && deno.status === 0;
    // bun test only picks up files named *.test.*
    const bunFiles = unit.map((f) => {
      const b = f.replace(/_test\.mjs$/, ".bun.test.mjs");
      copyFileSync(f, b);
      return "./" + relative(root, b);
    });
    const bun = await run(bin("bun"), ["test", ...bunFiles], env);
    const bp = count(bun.out, /^\s*(\d+) pass$/m), bf = count(bun.out, /^\s*(\d+) fail$/m);
    add(totals, bp, bf, 0);
    console.log(`bun: ${bp} passed, ${bf} failed`);
    ok = ok && bun.status === 0;
  }
  if (!process.env.KEEP_TEST_BUILD) rmSync(outDir, { recursive: true, force: true });
  // The closing line CI reads, over all runtimes.
  console.log(`total: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
  process.exit(ok && totals.failed === 0 ? 0 : 1);
}

/** Runs a command, streaming its output through and keeping a copy. */
function run(cmd, args, env) {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    p.stdout.on("data", (b) => {
      process.stdout.write(b);
      out += b;
    });
    p.stderr.on("data", (b) => {
      process.stderr.write(b);
      out += b;
    });
    p.on("close", (code) => resolve({ status: code ?? 1, out: out.replace(/\x1b\[[0-9;]*m/g, "") }));
  });
}

function count(text, re) {
  const m = re.exec(text);
  return m ? Number(m[1]) : 0;
}

function add(t, p, f, s) {
  t.passed += p;
  t.failed += f;
  t.skipped += s;
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
