// The shipped artefacts run on their own: `npm run build` produces dist/soci
// (bun --compile) and dist/soci.mjs (esbuild bundle); each is copied ALONE into
// an empty directory (no node_modules, no package.json, no wasm file) and run
// there. The bundle is run on Node, Deno and Bun.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";

const root = process.env.SOCI_REPO_ROOT ?? process.cwd();
const DENO = join(root, "node_modules", ".bin", "deno");
const BUN = join(root, "node_modules", ".bin", "bun");
let dir = "";

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runIn(cwd: string, cmd: string, args: string[]): Ran {
  const env: Record<string, string> = { PATH: "/usr/bin:/bin", HOME: cwd, DENO_NO_UPDATE_CHECK: "1" };
  if (process.env.DENO_DIR) env.DENO_DIR = process.env.DENO_DIR;
  const r = spawnSync(cmd, args, { cwd, env, encoding: "utf8", timeout: 120_000 });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

before(() => {
  const b = spawnSync(process.execPath, [join(root, "scripts", "build.mjs")], { cwd: root, encoding: "utf8", timeout: 600_000 });
  assert.equal(b.status, 0, `npm run build failed:\n${b.stderr}`);
  dir = mkdtempSync(join(tmpdir(), "soci-binary-"));
  copyFileSync(join(root, "dist", "soci"), join(dir, "soci"));
  copyFileSync(join(root, "dist", "soci.mjs"), join(dir, "soci.mjs"));
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("the build leaves the binary and the bundle alone in an empty directory", () => {
  assert.deepEqual(readdirSync(dir).sort(), ["soci", "soci.mjs"]);
  assert.ok(!existsSync(join(dir, "node_modules")));
});

test("./soci --version prints the version from the compiled binary (Bun runtime) and exits 0", () => {
  const r = runIn(dir, "./soci", ["--version"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^soci version \d+\.\d+\.\d+ \(soci-ts; bun \d/);
  assert.equal(r.stderr, "");
});

test("./soci --help lists every command and exits 0", () => {
  const r = runIn(dir, "./soci", ["--help"]);
  assert.equal(r.code, 0, r.stderr);
  for (const c of ["convert", "create", "index list", "index info", "index rm", "ztoc list", "ztoc info", "ztoc get-file", "verify"]) {
    assert.ok(r.stdout.includes(`  ${c} `), `help lists ${c}`);
  }
});

test("a bad command line prints `soci: …` with a hint and exits 2", () => {
  const r = runIn(dir, "./soci", ["frobnicate"]);
  assert.equal(r.code, 2);
  assert.equal(r.stdout, "");
  assert.match(r.stderr, /^soci: Cannot run "frobnicate": unknown command\nhint: /);
  const flag = runIn(dir, "./soci", ["index", "list", "--nope"]);
  assert.equal(flag.code, 2);
  assert.match(flag.stderr, /^soci: Cannot use --nope: unknown flag/);
});

test("a failing command prints `soci: …` without a stack and exits 1", () => {
  const r = runIn(dir, "./soci", ["--store", join(dir, "store"), "index", "info", "sha256:" + "0".repeat(64)]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^soci: Cannot /);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
});

test("node soci.mjs --version runs the bundle on Node without node_modules", () => {
  const r = runIn(dir, process.execPath, ["soci.mjs", "--version"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^soci version \d+\.\d+\.\d+ \(soci-ts; node v\d/);
});

test("the bundle runs on Deno (`deno run -A soci.mjs`)", () => {
  const r = runIn(dir, DENO, ["run", "-A", "soci.mjs", "--version"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^soci version \d+\.\d+\.\d+ \(soci-ts; deno \d/);
  const bad = runIn(dir, DENO, ["run", "-A", "soci.mjs", "frobnicate"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^soci: Cannot run "frobnicate"/);
});

test("the bundle runs on Bun (`bun soci.mjs`)", () => {
  const r = runIn(dir, BUN, ["soci.mjs", "--version"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^soci version \d+\.\d+\.\d+ \(soci-ts; bun \d/);
  const help = runIn(dir, BUN, ["soci.mjs", "--help"]);
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /ztoc get-file/);
});
