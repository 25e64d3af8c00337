// The compiled `soci` on the bundled `sample` fixture image (scripts/make_fixtures.sh):
// convert → index/ztoc listings → ztoc info/get-file → verify → create → index rm,
// with the text, --quiet and --json outputs and the exit codes of formats §11.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";

const root = process.env.SOCI_REPO_ROOT ?? process.cwd();
const BIN = join(root, "dist", "soci");
const SAMPLE = join(root, ".build", "fixtures", "images", "sample");
let dir = "";
let store = "";

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

function soci(...args: string[]): Ran {
  const r = spawnSync(BIN, ["--store", store, ...args], { cwd: dir, encoding: "utf8", timeout: 300_000, env: { PATH: "/usr/bin:/bin", HOME: dir } });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function ok(r: Ran): Ran {
  assert.equal(r.code, 0, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}

before(() => {
  const fx = spawnSync("sh", [join(root, "scripts", "make_fixtures.sh"), "-q", "sample"], { cwd: root, encoding: "utf8", timeout: 600_000 });
  assert.equal(fx.status, 0, `make_fixtures sample failed:\n${fx.stderr}`);
  assert.ok(existsSync(join(SAMPLE, "index.json")));
  const b = spawnSync(process.execPath, [join(root, "scripts", "build.mjs")], { cwd: root, encoding: "utf8", timeout: 600_000 });
  assert.equal(b.status, 0, `build failed:\n${b.stderr}`);
  dir = mkdtempSync(join(tmpdir(), "soci-convert-e2e-"));
  store = join(dir, "store");
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface ConvertJson {
  image: { mediaType: string; digest: string; size: number };
  destination: string;
  format: string;
  platforms: Array<{
    platform: string;
    imageManifest: string;
    sociIndex: { digest: string; size: number } | null;
    layers: Array<{ digest: string; status: string; ztoc?: string; reused?: boolean; reason?: string }>;
  }>;
  indexesRecorded: string[];
  notice?: { message: string; hint: string };
}

let converted: ConvertJson;

test("convert --json on the sample writes an oci-dir and reports every layer", () => {
  const r = ok(soci("--json", "convert", "--min-layer-size", "0", "--format", "oci-dir", SAMPLE, "out"));
  converted = JSON.parse(r.stdout);
  assert.equal(converted.image.mediaType, "application/vnd.oci.image.index.v1+json");
  assert.equal(converted.destination, `oci:${join(dir, "out")}`);
  assert.equal(converted.platforms.length, 1);
  const p = converted.platforms[0];
  assert.equal(p.platform, "linux/amd64");
  assert.ok(p.sociIndex !== null);
  assert.equal(p.layers.length, 2);
  for (const l of p.layers) assert.equal(l.status, "built");
  assert.deepEqual(converted.indexesRecorded, [p.sociIndex!.digest]);
  const index = JSON.parse(readFileSync(join(dir, "out", "index.json"), "utf8"));
  assert.equal(index.manifests[0].digest, converted.image.digest);
});

test("convert again prints the upstream per-layer lines with (already exists) and the same image digest", () => {
  const r = ok(soci("convert", "--min-layer-size", "0", "--format", "oci-dir", SAMPLE, "out2"));
  const lines = r.stdout.trim().split("\n");
  const layerLines = lines.filter((l) => l.startsWith("layer "));
  assert.equal(layerLines.length, 2);
  for (const l of layerLines) assert.match(l, /^layer sha256:[0-9a-f]{64} -> ztoc sha256:[0-9a-f]{64} \(already exists\)$/);
  assert.match(r.stdout, new RegExp(`converted image ${converted.image.digest} written to out2 \\(oci-dir\\)`));
});

test("convert --quiet prints only the converted image digest; the default min layer size skips the small layer", () => {
  const r = ok(soci("-q", "convert", SAMPLE, "out.tar"));
  assert.match(r.stdout, /^sha256:[0-9a-f]{64}\n$/);
  const t = ok(soci("convert", "--format", "oci-archive", SAMPLE, "out3.tar"));
  assert.match(t.stdout, /ztoc skipped - layer sha256:[0-9a-f]{64} \(application\/vnd\.oci\.image\.layer\.v1\.tar\+gzip\) size \d+ is less than min-layer-size 10485760/);
});

test("index list shows the recorded index as an upstream table; -q digests; --json records", () => {
  const digest = converted.platforms[0].sociIndex!.digest;
  const table = ok(soci("index", "list")).stdout;
  assert.match(table, /^DIGEST {4,}SIZE {4,}IMAGE REF {4,}PLATFORM {4,}MEDIA TYPE {4,}MANIFEST VERSION {4,}CREATED\n/);
  assert.ok(table.includes(digest));
  assert.match(table, /linux\/amd64 {4,}application\/vnd\.oci\.image\.manifest\.v1\+json {4,}v2 {4,}\d+s ago/);
  assert.ok(ok(soci("index", "ls", "-q")).stdout.split("\n").includes(digest));
  // One record per index digest: the latest conversion that produced it (out2) names it.
  const json = JSON.parse(ok(soci("--json", "index", "ls", "--ref", "out2")).stdout);
  assert.deepEqual(json.map((x: { digest: string }) => x.digest), [digest]);
});

test("index info prints the stored index and refuses a zTOC digest", () => {
  const digest = converted.platforms[0].sociIndex!.digest;
  const doc = JSON.parse(ok(soci("index", "info", digest)).stdout);
  assert.equal(doc.config.mediaType, "application/vnd.amazon.soci.index.v2+json");
  assert.equal(doc.subject, undefined);
  const ztoc = converted.platforms[0].layers[0].ztoc!;
  const bad = soci("index", "info", ztoc);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^soci: Cannot show index sha256:[0-9a-f]{64}: it is a zTOC\nhint: /);
});

test("ztoc list, ztoc info and ztoc get-file read what convert stored", () => {
  const big = converted.platforms[0].layers.map((l) => l.ztoc!);
  const table = ok(soci("ztoc", "ls")).stdout;
  assert.match(table, /^DIGEST {4,}SIZE {4,}LAYER DIGEST\n/);
  for (const z of big) assert.ok(table.includes(z));
  let withFiles: { z: string; file: string; size: number } | undefined;
  for (const z of big) {
    const info = JSON.parse(ok(soci("ztoc", "info", z)).stdout);
    assert.deepEqual(Object.keys(info), ["version", "build_tool", "size", "span_size", "num_spans", "num_files", "num_multi_span_files", "files"]);
    assert.equal(info.version, "0.9");
    assert.match(info.build_tool, /^soci-ts \d/);
    const reg = info.files.find((f: { type: string; size: number }) => f.type === "reg" && f.size > 1_000_000);
    if (reg) withFiles = { z, file: reg.filename, size: reg.size };
  }
  assert.ok(withFiles, "the sample has a file over 1 MB");
  ok(soci("ztoc", "get-file", withFiles.z, withFiles.file, "-o", "extracted"));
  const got = readFileSync(join(dir, "extracted"));
  assert.equal(got.length, withFiles.size);
  const layerDigest = converted.platforms[0].layers.find((l) => l.ztoc === withFiles!.z)!.digest;
  const want = spawnSync("tar", ["-xzOf", join(SAMPLE, "blobs", "sha256", layerDigest.slice(7)), withFiles.file], { maxBuffer: 1 << 28 });
  assert.equal(want.status, 0);
  assert.ok(Buffer.compare(got, want.stdout) === 0, "extracted bytes equal tar's");
  const missing = soci("ztoc", "get-file", withFiles.z, "no/such/file");
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^soci: Cannot find "no\/such\/file" in the zTOC/);
});

test("verify passes on the converted image and fails with exit 1 on an unconverted one", () => {
  const good = ok(soci("verify", "out"));
  assert.match(good.stdout, /^ok: out: 1 SOCI index/);
  const json = JSON.parse(ok(soci("--json", "verify", "out.tar")).stdout);
  assert.equal(json.ok, true);
  assert.deepEqual(json.problems, []);
  const bad = soci("verify", SAMPLE);
  assert.equal(bad.code, 1);
  assert.match(bad.stdout, /^problem: /);
  assert.match(bad.stderr, /^soci: Cannot verify ".*sample": 1 problem found\nhint: /);
});

test("create records a v1 index with a subject, and index rm removes it", () => {
  const r = ok(soci("-q", "create", "--min-layer-size", "0", SAMPLE));
  const digest = r.stdout.trim();
  assert.match(digest, /^sha256:[0-9a-f]{64}$/);
  const doc = JSON.parse(ok(soci("index", "info", digest)).stdout);
  assert.equal(doc.config.mediaType, "application/vnd.amazon.soci.index.v1+json");
  assert.ok(doc.subject.digest.startsWith("sha256:"));
  assert.match(ok(soci("index", "ls")).stdout, /v1 {4,}\d+s ago/);
  assert.equal(ok(soci("index", "rm", digest)).stdout, `${digest}\n`);
  assert.ok(!ok(soci("index", "ls", "-q")).stdout.includes(digest));
  const again = soci("index", "rm", digest);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /^soci: Cannot remove index sha256:[0-9a-f]{64}: the local store has no such index/);
});

test("convert of a missing source fails with `soci: …` and exit 1", () => {
  const r = soci("convert", "./no-such-layout", "x");
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^soci: Cannot /);
  assert.ok(!existsSync(join(dir, "x")), "nothing half-written");
});
