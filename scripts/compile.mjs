#!/usr/bin/env node
// Compiles the bundle (dist/soci.mjs, from scripts/bundle.mjs) into one
// self-contained executable, dist/soci, with `bun build --compile` (the npm
// `bun` package pins the runtime embedded in it). The result needs no Node, no
// node_modules and no other file: copy it anywhere and run it.
//
// Written to a temp file and renamed into place; skipped when dist/soci is
// newer than the bundle (pass --force to rebuild).
import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, renameSync, rmSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { BUNDLE } from "./bundle.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
export const BINARY = join(root, "dist", "soci");
const BUN = join(root, "node_modules", ".bin", "bun");

export function binaryIsFresh() {
  return existsSync(BINARY) && existsSync(BUNDLE) && statSync(BINARY).mtimeMs >= Math.max(statSync(BUNDLE).mtimeMs, statSync(fileURLToPath(import.meta.url)).mtimeMs);
}

/** Builds dist/soci from dist/soci.mjs; returns its path. */
export function compile({ force = false } = {}) {
  if (!existsSync(BUNDLE)) throw new Error("compile: dist/soci.mjs is missing; run scripts/bundle.mjs first");
  if (!force && binaryIsFresh()) return BINARY;
  // Built as `soci` in a private directory, then renamed: the output's name is
  // what stack traces show (`/$bunfs/root/soci`), so it must not be a temp name.
  const tmpDir = join(dirname(BINARY), `.compile-${process.pid}`);
  const tmp = join(tmpDir, "soci");
  mkdirSync(tmpDir, { recursive: true });
  try {
    // The bundle is already minified; --compile embeds it with the Bun runtime.
    // --bytecode embeds JavaScriptCore bytecode as well, so start-up skips
    // parsing the 0.9 MB bundle: `dist/soci --version` 46 → 16 ms, a
    // debian-minbase convert 440 → 400 ms (hyperfine, 2026-11-27). It is tied
    // to the embedded runtime's version, which --compile pins anyway.
    // BUN_INSTALL_CACHE_DIR etc. are left alone; no network is needed for the host target.
    execFileSync(BUN, ["build", "--compile", "--bytecode", "--format=esm", "--target=bun", BUNDLE, "--outfile", tmp], {
      cwd: root,
      stdio: ["ignore", "ignore", "inherit"],
    });
    chmodSync(tmp, 0o755);
    renameSync(tmp, BINARY);
  } finally {
    rmSync(tmpDir, { recursive: true, force: true });
  }
  return BINARY;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const p = compile({ force: process.argv.includes("--force") });
  console.error(`compile: ${p} (${statSync(p).size} bytes)`);
}
