// Shared by the mount_*_test.ts e2e files: prerequisites (root, /dev/fuse,
// overlayfs, docker-registry, python3, GNU tar), the CLI run as a child
// process (`node dist/soci.mjs`, never blocking this process: the fault
// proxies live here), converting + pushing a fixture to a loopback registry,
// the expected tree (test/fakes/fs_tree.py: GNU tar -x of the layers in order,
// whiteouts honoured) and the comparison of two walks. Not a test file.
import assert from "node:assert/strict";
import { execFile, spawn, spawnSync } from "node:child_process";
import { accessSync, constants, existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { BUNDLE, fixtureFacts, IMAGES, ROOT, type Ran } from "./_soci_cli.ts";

export const FS_TREE = join(ROOT, "test", "fakes", "fs_tree.py");

/** Why the mount e2e tests cannot run here, or null. */
export function mountPrerequisites(): string | null {
  if (process.getuid?.() !== 0) return "needs root (FUSE, overlayfs, chroot)";
  try {
    accessSync("/dev/fuse", constants.R_OK | constants.W_OK);
  } catch {
    return "/dev/fuse is not available";
  }
  for (const t of ["mount", "docker-registry", "python3", "tar", "zstd"]) {
    if (spawnSync("sh", ["-c", `command -v ${t}`]).status !== 0) return `missing ${t}`;
  }
  const fs = existsSync("/proc/filesystems") ? readFileSync("/proc/filesystems", "utf8") : "";
  if (!/\toverlay\n/.test(fs) && spawnSync("modprobe", ["overlay"]).status !== 0) return "overlayfs is not available";
  return null;
}

/** Runs a command without blocking this process (in-process servers keep answering). */
export function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd: opts.cwd, env: opts.env, timeout: opts.timeoutMs ?? 600_000, maxBuffer: 1 << 28, encoding: "utf8" }, (err, stdout, stderr) => {
      const e = err as (Error & { code?: number; signal?: NodeJS.Signals }) | null;
      resolve({ code: e ? (typeof e.code === "number" ? e.code : -1) : 0, signal: e?.signal ?? null, stdout, stderr });
    });
  });
}

export const sh = (script: string, timeoutMs = 120_000) => run("sh", ["-c", script], { timeoutMs });

export function ok(r: Ran, what = ""): Ran {
  assert.equal(r.code, 0, `${what} exit ${r.code}\nstdout: ${r.stdout.slice(-3000)}\nstderr: ${r.stderr.slice(-3000)}`);
  return r;
}

/** `soci --store STORE …` as a child process (cwd = dir). */
export function soci(dir: string, store: string) {
  return (...args: string[]) => run(process.execPath, [BUNDLE, "--store", store, ...args], { cwd: dir, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir } });
}

/** The layout dir and layer blob paths of a fixture platform (`os/arch[/variant]`, default the only/first). */
export function fixtureLayers(name: string, platform?: string): { layout: string; blobs: string[]; sizes: number[] } {
  const facts = fixtureFacts(name);
  const layout = join(IMAGES, facts.layout);
  const m = facts.manifests.find((x) => {
    if (!x.platform) return platform === undefined;
    const p = [x.platform.os, x.platform.architecture, ...(x.platform.variant ? [x.platform.variant] : [])].join("/");
    return platform === undefined ? true : p === platform;
  });
  assert.ok(m, `${name} has a manifest for ${platform}`);
  return { layout, blobs: m.layers.map((l) => join(layout, "blobs", "sha256", l.digest.slice(7))), sizes: m.layers.map((l) => l.size) };
}

export interface TreeEntry {
  path: string;
  name: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime_ns: number;
  sha256?: string;
  target?: string;
  rdev?: string;
  xattrs: Record<string, string>;
}

/** fs_tree.py walk DIR, from a child process. */
export async function walkTree(dir: string): Promise<Map<string, TreeEntry>> {
  const r = ok(await run("python3", [FS_TREE, "walk", dir]), `walk ${dir}`);
  const out = new Map<string, TreeEntry>();
  for (const line of r.stdout.split("\n")) {
    if (line === "") continue;
    const e = JSON.parse(line) as TreeEntry;
    out.set(e.name, e);
  }
  return out;
}

/** The expected merged tree of `blobs` (bottom first) extracted into `out`. */
export async function expectTree(out: string, blobs: string[]): Promise<void> {
  ok(await run("python3", [FS_TREE, "expect", out, ...blobs]), "fs_tree.py expect");
}

/**
 * Differences between two walks: every attribute compared, except directory
 * mtimes (tar -x touches a directory when it adds a child; overlayfs shows the
 * top layer's). `renames` maps expected names to the names we must show
 * instead (documented Go-vs-GNU-tar divergences).
 */
export function diffTrees(expected: Map<string, TreeEntry>, got: Map<string, TreeEntry>, renames: Record<string, string> = {}): string[] {
  const norm = (e: TreeEntry | undefined) => {
    if (e === undefined) return undefined;
    const { path: _p, name: _n, ...rest } = e;
    if (e.type === "dir") return { ...rest, mtime_ns: 0 };
    return rest;
  };
  const diffs: string[] = [];
  const names = new Set([...[...expected.keys()].map((n) => renames[n] ?? n), ...got.keys()]);
  const byName = new Map([...expected].map(([n, e]) => [renames[n] ?? n, e]));
  for (const n of [...names].sort()) {
    const a = JSON.stringify(norm(byName.get(n)));
    const b = JSON.stringify(norm(got.get(n)));
    if (a !== b) diffs.push(`${n}\n  expected ${a}\n  mounted  ${b}`);
  }
  return diffs;
}

/** Mount figures from `soci mount --stats --json DIR`. */
export interface StatusJson {
  pid: number;
  sociIndex: { digest: string; version: string } | null;
  note?: string;
  layers: Array<{ digest: string; mode: string; size: number; bytesFetched: number; spansFetched: number; spansFromCache: number; spanCount: number; fetchErrors: number; reason?: string }>;
}

/** Starts a command detached from this test's process group wait (used for daemons we kill). */
export function spawnDetached(cmd: string, args: string[]): number {
  const p = spawn(cmd, args, { detached: true, stdio: "ignore" });
  p.unref();
  return p.pid!;
}
