import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { defaultStoreDir, foldSubcommand, run } from "./main.ts";
import { VERSION } from "./version.ts";

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

async function soci(args: string[], env: Record<string, string> = {}): Promise<Result> {
  const r = { code: 0, stdout: "", stderr: "" };
  const storeDir = mkdtempSync(join(tmpdir(), "soci-cli-test-"));
  try {
    r.code = await run(args, {
      stdout: { write: (s: string | Uint8Array) => (r.stdout += text(s)) },
      stderr: { write: (s: string | Uint8Array) => (r.stderr += text(s)) },
      env: { HOME: storeDir, ...env },
      cwd: storeDir,
    });
  } finally {
    rmSync(storeDir, { recursive: true, force: true });
  }
  return r;
}

function text(s: string | Uint8Array): string {
  return typeof s === "string" ? s : new TextDecoder().decode(s);
}

const GROUPS = new Set(["index", "ztoc"]);

test("foldSubcommand() joins a group and its subcommand into one token", () => {
  assert.deepEqual(foldSubcommand(["index", "list"], GROUPS), ["index list"]);
  assert.deepEqual(foldSubcommand(["--store", "s", "ztoc", "get-file", "d", "f", "-o", "x"], GROUPS), ["--store", "s", "ztoc get-file", "d", "f", "-o", "x"]);
  assert.deepEqual(foldSubcommand(["-q", "index", "--ref", "img", "ls"], GROUPS), ["-q", "index ls", "--ref", "img"]);
  assert.deepEqual(foldSubcommand(["--store=s", "index", "rm", "a", "b"], GROUPS), ["--store=s", "index rm", "a", "b"]);
});

test("foldSubcommand() leaves other commands and a bare group alone", () => {
  assert.deepEqual(foldSubcommand(["convert", "index", "list"], GROUPS), ["convert", "index", "list"]);
  assert.deepEqual(foldSubcommand(["index"], GROUPS), ["index"]);
  assert.deepEqual(foldSubcommand(["--", "index", "ls"], GROUPS), ["--", "index", "ls"]);
});

test("defaultStoreDir() prefers $XDG_DATA_HOME/soci, else ~/.local/share/soci", () => {
  assert.equal(defaultStoreDir({ XDG_DATA_HOME: "/x/data", HOME: "/home/u" }), "/x/data/soci");
  assert.equal(defaultStoreDir({ HOME: "/home/u" }), "/home/u/.local/share/soci");
  assert.equal(defaultStoreDir({ XDG_DATA_HOME: "relative", HOME: "/home/u" }), "/home/u/.local/share/soci");
});

test("run() prints the version for --version and -v and returns 0", async () => {
  for (const flag of ["--version", "-v"]) {
    const r = await soci([flag]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, new RegExp(`^soci version ${VERSION.replaceAll(".", "\\.")} \\(soci-ts; `));
    assert.equal(r.stderr, "");
  }
});

test("run() prints help listing every command for --help, -h and returns 0", async () => {
  for (const flag of ["--help", "-h"]) {
    const r = await soci([flag]);
    assert.equal(r.code, 0);
    for (const c of ["convert", "create", "index list", "index info", "index rm", "ztoc list", "ztoc info", "ztoc get-file", "verify"]) {
      assert.ok(r.stdout.includes(`  ${c} `), `help lists ${c}`);
    }
    assert.match(r.stdout, /--store <dir>/);
  }
});

test("run() prints a command's own help with its flags and defaults", async () => {
  const r = await soci(["convert", "--help"]);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /Usage:\n {2}soci convert \[flags\] <src> <dst>/);
  assert.match(r.stdout, /--span-size <bytes>\s+.*\(default: 4194304\)/);
  assert.match(r.stdout, /--min-layer-size <bytes>\s+.*\(default: 10485760\)/);
  const ls = await soci(["index", "ls", "--help"]);
  assert.match(ls.stdout, /soci index list/);
  assert.match(ls.stdout, /Aliases: index ls/);
});

test("run() with no command is a usage error: exit 2 and the valid commands", async () => {
  const r = await soci([]);
  assert.equal(r.code, 2);
  assert.equal(r.stdout, "");
  assert.match(r.stderr, /^soci: Cannot run soci: no command given\nhint: Valid commands: convert, create, index, ztoc, prefetch, verify/);
});

test("run() rejects an unknown command with exit 2 naming the valid ones", async () => {
  const r = await soci(["frobnicate"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^soci: Cannot run "frobnicate": unknown command\nhint: Valid commands: convert, create, index, ztoc, prefetch, verify, pull, push, copy, login, logout, mount, umount, snapshotter, image; /);
});

test("run() rejects an unknown or missing subcommand, listing the group's commands", async () => {
  const bad = await soci(["index", "frob"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^soci: Cannot run "index frob": unknown command\nhint: Valid commands: index list, index info, index rm;/);
  const none = await soci(["ztoc"]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /^soci: Cannot run "ztoc": a subcommand is required\nhint: Valid commands: ztoc list, ztoc info, ztoc get-file;/);
});

test("run() rejects an unknown flag with exit 2 and lists the valid flags", async () => {
  const r = await soci(["index", "list", "--bogus"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^soci: Cannot use --bogus: unknown flag for "index list"\nhint: Valid flags: .*--ref.*--store/);
});

test("run() rejects missing and extra arguments with exit 2", async () => {
  const missing = await soci(["convert", "only-src"]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /^soci: Cannot run "convert": missing arguments \(usage: soci convert <src> <dst>\)/);
  const extra = await soci(["index", "info", "sha256:" + "a".repeat(64), "extra"]);
  assert.equal(extra.code, 2);
  assert.match(extra.stderr, /^soci: Cannot run "index info": too many arguments: "extra"/);
});

test("run() rejects bad flag values before touching the core", async () => {
  const span = await soci(["convert", "--span-size", "big", "a", "b"]);
  assert.equal(span.code, 2);
  assert.match(span.stderr, /^soci: Cannot use --span-size "big": expected an integer ≥ 0\n/);
  const fmt = await soci(["convert", "--format", "zip", "a", "b"]);
  assert.equal(fmt.code, 2);
  assert.match(fmt.stderr, /^soci: Cannot use --format "zip": expected one of oci-archive, oci-dir\n/);
  const opt = await soci(["convert", "--optimizations", "xattr,turbo", "a", "b"]);
  assert.equal(opt.code, 2);
  assert.match(opt.stderr, /^soci: Cannot use --optimizations "turbo": expected one of xattr\n/);
  const both = await soci(["convert", "--all-platforms", "-p", "linux/amd64", "a", "b"]);
  assert.equal(both.code, 2);
  assert.match(both.stderr, /--all-platforms and --platform/);
  const jobs = await soci(["convert", "--jobs", "0", "a", "b"]);
  assert.equal(jobs.code, 2);
  assert.match(jobs.stderr, /^soci: Cannot use --jobs "0": expected an integer ≥ 1\n/);
});

test("run() rejects a malformed digest argument", async () => {
  const r = await soci(["ztoc", "info", "sha256:abc"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^soci: Cannot use digest "sha256:abc": expected a full digest/);
});

test("run() reports a missing index as `soci: …` with exit 1", async () => {
  const r = await soci(["index", "info", "sha256:" + "0".repeat(64)]);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, "");
  assert.match(r.stderr, /^soci: Cannot /);
  assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack without --debug");
});

test("run() lists an empty store as a header-only table, `[]` with --json, nothing with -q", async () => {
  const table = await soci(["index", "list"]);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /^DIGEST {4}SIZE {4}IMAGE REF {4}PLATFORM {4}MEDIA TYPE {4}MANIFEST VERSION {4}CREATED\n$/);
  const json = await soci(["--json", "index", "ls"]);
  assert.equal(json.code, 0, json.stderr);
  assert.deepEqual(JSON.parse(json.stdout), []);
  const quiet = await soci(["index", "ls", "-q"]);
  assert.equal(quiet.stdout, "");
  const ztocs = await soci(["ztoc", "ls"]);
  assert.match(ztocs.stdout, /^DIGEST {4}SIZE {4}LAYER DIGEST\n$/);
});

test("run() resolves --store against the working directory and --debug traces it", async () => {
  const r = await soci(["--debug", "--store", "rel-store", "ztoc", "list"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /soci: debug: store \/.*\/rel-store\n/);
});

test("run() stops quietly with status 141 when stdout's reader has gone (EPIPE), and reports other write errors", async () => {
  let err = "";
  const stderr = { write: (s: string) => ((err += s), true) };
  const closed = { write: () => { throw Object.assign(new Error("EPIPE: broken pipe, write"), { code: "EPIPE" }); } };
  assert.equal(await run(["--version"], { stdout: closed, stderr }), 141);
  assert.equal(err, "", "nothing on stderr");
  const full = { write: () => { throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" }); } };
  assert.notEqual(await run(["--version"], { stdout: full, stderr }), 141);
  assert.match(err, /ENOSPC/);
});
