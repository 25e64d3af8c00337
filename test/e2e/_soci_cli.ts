// Shared by the e2e files: run the built CLI (`node dist/soci.mjs` or the Bun
// binary dist/soci; blocking or not), build it and the fixture images once per file, write small
// OCI layouts by hand (hostile ones too), and check a written layout
// independently of soci-ts's own readers (every reachable blob present with its
// digest and size). Not a test file itself (no `_test` suffix).
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { gzipSync } from "node:zlib";
import { IMAGES_DIR, readFixtures, ROOT, sha256, type ImageFacts } from "../fakes/fixture_facts.ts";
import { xorshiftBytes } from "../fakes/pseudo_random.ts";

export { ROOT, sha256 };
export type { ImageFacts, LayerFacts, ManifestFacts } from "../fakes/fixture_facts.ts";
export const BUNDLE = join(ROOT, "dist", "soci.mjs");
/** The Bun-compiled single binary (scripts/compile.mjs). */
export const BINARY = join(ROOT, "dist", "soci");
export const IMAGES = IMAGES_DIR;

export interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Builds dist/ (skipped by build.mjs when up to date) and the named fixture images. */
export function buildCliAndFixtures(images: string[]): void {
  const b = spawnSync(process.execPath, [join(ROOT, "scripts", "build.mjs")], { cwd: ROOT, encoding: "utf8", timeout: 600_000 });
  assert.equal(b.status, 0, `build failed:\n${b.stderr}`);
  if (images.length === 0) return;
  const fx = spawnSync("sh", [join(ROOT, "scripts", "make_fixtures.sh"), "-q", ...images], { cwd: ROOT, encoding: "utf8", timeout: 600_000 });
  assert.equal(fx.status, 0, `make_fixtures ${images.join(" ")} failed:\n${fx.stderr}`);
}

/** Why `tools` are missing, or null. Under CI=true a missing tool is a failure (as fixtures_build_test.ts). */
export function missingTools(tools: string[], who: string): string | null {
  const absent = tools.filter((t) => spawnSync("sh", ["-c", `command -v ${t}`]).status !== 0);
  if (absent.length === 0) return null;
  const why = `missing ${absent.join(", ")}`;
  if (process.env.CI === "true") throw new Error(`${who}: ${why} (required under CI=true)`);
  return why;
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export interface SociRunOptions {
  /** Run the Bun-compiled binary (dist/soci) instead of `node dist/soci.mjs`. */
  binary?: boolean;
  timeoutMs?: number;
}

function sociCommand(store: string, args: string[], o: SociRunOptions): [string, string[]] {
  return o.binary ? [BINARY, ["--store", store, ...args]] : [process.execPath, [BUNDLE, "--store", store, ...args]];
}

/** `soci --store STORE …` in `cwd` with a bare environment (blocks this process). */
export function sociIn(cwd: string, store: string, o: SociRunOptions = {}) {
  return (...args: string[]): Ran => {
    const [cmd, argv] = sociCommand(store, args, o);
    const r = spawnSync(cmd, argv, {
      cwd,
      encoding: "utf8",
      timeout: o.timeoutMs ?? 300_000,
      maxBuffer: 1 << 28,
      env: { PATH: "/usr/bin:/bin", HOME: cwd },
    });
    if (r.error) throw r.error;
    return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
  };
}

/**
 * `sociIn` without blocking this process: needed when a server the command
 * talks to (fault proxy, token server) runs in the test process itself.
 */
export function sociAsync(cwd: string, store: string, o: SociRunOptions = {}) {
  return (...args: string[]): Promise<Ran> =>
    new Promise((resolveRun, fail) => {
      const [cmd, argv] = sociCommand(store, args, o);
      const p = spawn(cmd, argv, { cwd, env: { PATH: "/usr/bin:/bin", HOME: cwd }, stdio: ["ignore", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      p.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
      p.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
      const timer = setTimeout(() => p.kill("SIGKILL"), o.timeoutMs ?? 300_000);
      p.on("error", fail);
      p.on("close", (code, signal) => {
        clearTimeout(timer);
        resolveRun({ code, signal, stdout, stderr });
      });
    });
}

export function ok(r: Ran): Ran {
  assert.equal(r.code, 0, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}

export const blobFile = (layout: string, digest: string) => join(layout, "blobs", "sha256", digest.slice("sha256:".length));

// ---- fixtures.json ----

export function fixtureFacts(name: string): ImageFacts {
  const all = readFixtures();
  assert.ok(all.images[name], `fixtures.json has ${name}`);
  return all.images[name];
}

export function platformText(p: { architecture: string; os: string; variant?: string }): string {
  return [p.os, p.architecture, ...(p.variant ? [p.variant] : [])].join("/");
}

// ---- files ----

/** Every path under `dir` (relative, sorted), directories with a trailing `/`. */
export function tree(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) {
        out.push(relative(dir, p) + "/");
        walk(p);
      } else out.push(relative(dir, p));
    }
  };
  walk(dir);
  return out;
}

/** `tree` plus each file's size and sha256: equal snapshots mean nothing changed. */
export function snapshot(dir: string): string[] {
  return tree(dir).map((p) => (p.endsWith("/") ? p : `${p} ${sha256(readFileSync(join(dir, p)))}`));
}

export const tempNames = (dir: string) => tree(dir).filter((p) => p.split("/").some((part) => part.startsWith(".tmp-")));

// ---- an independent layout check ----

const INDEX_TYPES = new Set(["application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json"]);
const MANIFEST_TYPES = new Set(["application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json"]);

interface Desc {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  artifactType?: string;
}

/**
 * Checks the OCI layout in `dir` from `index.json` down: every reachable blob
 * exists with the digest and size its descriptor names. Returns the digests
 * checked. Uses only node:fs/crypto and JSON.parse.
 */
export function checkLayout(dir: string): Set<string> {
  assert.equal(JSON.parse(readFileSync(join(dir, "oci-layout"), "utf8")).imageLayoutVersion, "1.0.0");
  const seen = new Set<string>();
  const visit = (d: Desc, from: string) => {
    if (seen.has(d.digest)) return;
    if (d.urls && d.urls.length > 0 && !existsSync(blobFile(dir, d.digest))) return; // foreign layer
    const p = blobFile(dir, d.digest);
    assert.ok(existsSync(p), `${dir}: blob ${d.digest} (named by ${from}) is missing`);
    const bytes = readFileSync(p);
    assert.equal(bytes.length, d.size, `${dir}: blob ${d.digest} has ${bytes.length} bytes, descriptor says ${d.size}`);
    assert.equal(sha256(bytes), d.digest, `${dir}: blob ${d.digest} has another digest`);
    seen.add(d.digest);
    if (INDEX_TYPES.has(d.mediaType)) {
      for (const m of (JSON.parse(bytes.toString("utf8")) as { manifests: Desc[] }).manifests) visit(m, d.digest);
    } else if (MANIFEST_TYPES.has(d.mediaType)) {
      const m = JSON.parse(bytes.toString("utf8")) as { config: Desc; layers: Desc[]; subject?: Desc };
      visit(m.config, d.digest);
      for (const l of m.layers) visit(l, d.digest);
    }
  };
  const top = JSON.parse(readFileSync(join(dir, "index.json"), "utf8")) as { manifests: Desc[] };
  assert.ok(top.manifests.length > 0, `${dir}: index.json lists nothing`);
  for (const d of top.manifests) visit(d, "index.json");
  return seen;
}

/** Unpacks an oci-archive with GNU tar into a fresh directory and returns it. */
export function untar(archive: string, into: string): string {
  mkdirSync(into, { recursive: true });
  const r = spawnSync("tar", ["-xf", archive, "-C", into], { encoding: "utf8" });
  assert.equal(r.status, 0, `tar -xf ${archive}: ${r.stderr}`);
  return into;
}

// ---- hand-made layouts ----

/** One ustar header; `sizeField` overrides the 12-byte size field (hostile sizes). */
export function tarHeader(name: string, size: number, sizeField?: Uint8Array): Uint8Array {
  const h = new Uint8Array(512);
  const put = (off: number, text: string) => h.set(new TextEncoder().encode(text), off);
  put(0, name);
  put(100, "0000644\0");
  put(108, "0000000\0");
  put(116, "0000000\0");
  if (sizeField) h.set(sizeField, 124);
  else put(124, size.toString(8).padStart(11, "0") + "\0");
  put(136, "14544321400\0");
  h[156] = 0x30;
  put(257, "ustar\0");
  put(263, "00");
  h.fill(0x20, 148, 156);
  const sum = h.reduce((a, b) => a + b, 0);
  put(148, sum.toString(8).padStart(6, "0") + "\0 ");
  return h;
}

export interface TarFile {
  name: string;
  data: Uint8Array;
  sizeField?: Uint8Array;
}

export function tarOf(files: TarFile[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const f of files) {
    parts.push(tarHeader(f.name, f.data.length, f.sizeField), f.data, new Uint8Array((512 - (f.data.length % 512)) % 512));
  }
  parts.push(new Uint8Array(1024));
  return Buffer.concat(parts);
}

export const gzip = (b: Uint8Array) => new Uint8Array(gzipSync(b, { level: 6 }));

/** Deterministic pseudo-random bytes (xorshift32): incompressible, so gzip stores them. */
export const noise = (n: number, seed = 0x9e3779b9): Uint8Array => xorshiftBytes(n, seed);

export interface HandLayout {
  dir: string;
  manifest: string;
  layers: Desc[];
}

/**
 * Writes a one-manifest OCI layout (linux/amd64) with `layers` (gzip blobs by
 * default). `manifestBytes`/`indexBytes` replace the generated documents.
 */
export function writeLayout(
  dir: string,
  layers: Uint8Array[],
  opts: { mediaTypes?: string[]; manifestBytes?: Uint8Array; indexBytes?: Uint8Array; edit?: (m: { layers: Desc[] }) => void } = {},
): HandLayout {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, "blobs", "sha256"), { recursive: true });
  writeFileSync(join(dir, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}');
  const put = (b: Uint8Array) => {
    writeFileSync(blobFile(dir, sha256(b)), b);
    return { digest: sha256(b), size: b.length };
  };
  const config = new TextEncoder().encode(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] }, config: {} }));
  const descs: Desc[] = layers.map((b, i) => ({ mediaType: opts.mediaTypes?.[i] ?? "application/vnd.oci.image.layer.v1.tar+gzip", ...put(b) }));
  const m = { schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config: { mediaType: "application/vnd.oci.image.config.v1+json", ...put(config) }, layers: descs };
  opts.edit?.(m);
  const manifest = opts.manifestBytes ?? new TextEncoder().encode(JSON.stringify(m));
  const md = put(manifest);
  const index = { schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: [{ mediaType: "application/vnd.oci.image.manifest.v1+json", ...md }] };
  writeFileSync(join(dir, "index.json"), opts.indexBytes ?? JSON.stringify(index));
  return { dir, manifest: md.digest, layers: m.layers };
}
