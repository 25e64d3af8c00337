#!/usr/bin/env node
// Checks the dependency direction of STYLE §3 over every .ts file:
//   * core layers import only lower layers, and other folders only via mod.ts;
//   * `_`-prefixed files are private to their folder;
//   * cli/ and snapshotter/ never import each other; inside snapshotter/,
//     fuse/ knows nothing of SOCI, spans/ nothing of FUSE, grpc/ of neither;
//   * only core-wasm/src/wasm/ touches `WebAssembly`;
//   * core-wasm/assembly/ imports only itself (AssemblyScript std).
// Test files (`*_test.ts`) and test/, bench/ may import anything but cli/snapshotter
// internals still go through their own rules. Exits 1 listing every violation.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

/** Core folders and the core folders each may import (errors.ts is always allowed). */
export const CORE_ALLOWED = {
  runtime: [],
  bytes: [],
  wasm: ["bytes"],
  gzip: ["bytes", "wasm"],
  tar: ["bytes", "runtime"],
  oci: ["bytes", "tar"],
  ztoc: ["bytes", "wasm", "gzip", "tar", "runtime"],
  store: ["bytes", "oci"],
  registry: ["bytes", "oci"],
  workers: ["bytes", "ztoc"],
  soci: ["bytes", "wasm", "gzip", "tar", "oci", "ztoc", "store", "registry", "workers"],
};

/** Snapshotter folders that must not reach the named snapshotter folders / core folders. */
export const SNAPSHOTTER_FORBIDDEN = {
  fuse: { snap: ["grpc", "snapshots", "layers", "layerfs", "spans", "fetcher"], core: ["gzip", "tar", "ztoc", "soci", "oci", "store", "registry", "wasm"] },
  spans: { snap: ["fuse", "layerfs", "grpc", "snapshots", "layers"], core: [] },
  grpc: { snap: ["fuse", "layerfs", "spans", "fetcher", "layers"], core: ["gzip", "tar", "ztoc", "soci", "wasm"] },
  layerfs: { snap: ["grpc", "snapshots", "layers", "fetcher"], core: ["registry", "soci", "store", "oci"] },
  fetcher: { snap: ["fuse", "layerfs", "grpc", "snapshots", "layers"], core: [] },
  snapshots: { snap: ["fuse", "grpc"], core: [] },
};

const IMPORT_RE = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s*["']([^"']+)["']|(?:^|\n)\s*import\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g;

export function importsOf(text) {
  const out = [];
  for (const m of text.matchAll(IMPORT_RE)) out.push(m[1] ?? m[2] ?? m[3]);
  return out;
}

function classify(rel) {
  const parts = rel.split("/");
  if (parts[0] === "core-wasm" && parts[1] === "assembly") return { area: "assembly" };
  if (parts[0] === "core-wasm" && parts[1] === "src") {
    if (parts.length === 3) return { area: "core", folder: parts[2].replace(/\.ts$/, ""), file: parts[2] };
    return { area: "core", folder: parts[2], file: parts.slice(3).join("/") };
  }
  if (parts[0] === "cli") return { area: "cli", folder: parts[1] };
  if (parts[0] === "snapshotter") return { area: "snapshotter", folder: parts.length > 2 ? parts[1] : "" };
  return { area: parts[0] };
}

/**
 * Returns the violations for one file given its repo-relative path, its text and
 * a resolver from import specifier to repo-relative path (null for packages/builtins).
 */
export function checkFile(rel, text, resolveRel) {
  const errs = [];
  const me = classify(rel);
  const isTest = rel.endsWith("_test.ts") || me.area === "test" || me.area === "bench" || me.area === "scripts";
  if (/\bWebAssembly\s*\./.test(text) && !(me.area === "core" && me.folder === "wasm") && !isTest && me.area !== "assembly") {
    errs.push(`${rel}: uses WebAssembly outside core-wasm/src/wasm/`);
  }
  for (const spec of importsOf(text)) {
    const target = resolveRel(spec);
    if (me.area === "assembly") {
      if (target !== null && !target.startsWith("core-wasm/assembly/")) errs.push(`${rel}: assembly imports ${spec}`);
      continue;
    }
    if (target === null) continue; // package or builtin
    const t = classify(target);
    const tBase = target.split("/").pop();
    if (t.area === "assembly" && !(me.area === "core" && me.folder === "wasm") && !isTest) {
      errs.push(`${rel}: imports the AssemblyScript kernel ${spec}; use core-wasm/src/wasm/`);
    }
    // Private files: only their own folder.
    if (tBase.startsWith("_") && dirname(target) !== dirname(rel) && !(isTest && dirname(target) === dirname(rel))) {
      errs.push(`${rel}: imports private file ${target}`);
    }
    if (t.area === "cli" && me.area === "snapshotter") errs.push(`${rel}: snapshotter imports cli (${spec})`);
    // One binary, one command table: cli/ reaches the snapshotter (mount, umount,
    // snapshotter, image rpull) only through its door, snapshotter/mod.ts.
    if (t.area === "snapshotter" && me.area === "cli" && target !== "snapshotter/mod.ts") {
      errs.push(`${rel}: cli imports ${target}; reach the snapshotter only through snapshotter/mod.ts`);
    }
    if (t.area === "core") {
      const sameFolder = me.area === "core" && me.folder === t.folder;
      if (!sameFolder && t.folder !== "errors" && !target.endsWith("/mod.ts") && !target.endsWith("/_core_wasm_bytes.ts")) {
        errs.push(`${rel}: imports ${target}; import another folder only through its mod.ts`);
      }
      if (me.area === "core" && !sameFolder && t.folder !== "errors" && !isTest) {
        if (me.folder === "errors") errs.push(`${rel}: errors.ts must import nothing`);
        else if (!(CORE_ALLOWED[me.folder] ?? []).includes(t.folder)) {
          errs.push(`${rel}: core/${me.folder} may not import core/${t.folder} (allowed: ${(CORE_ALLOWED[me.folder] ?? []).join(", ") || "none"})`);
        }
      }
      if (me.area === "snapshotter" && SNAPSHOTTER_FORBIDDEN[me.folder]?.core.includes(t.folder)) {
        errs.push(`${rel}: snapshotter/${me.folder} may not import core/${t.folder}`);
      }
    }
    if (me.area === "core" && (t.area === "cli" || t.area === "snapshotter") ) errs.push(`${rel}: core imports ${t.area}`);
    if (me.area === "snapshotter" && t.area === "snapshotter" && SNAPSHOTTER_FORBIDDEN[me.folder]?.snap.includes(t.folder)) {
      errs.push(`${rel}: snapshotter/${me.folder} may not import snapshotter/${t.folder}`);
    }
  }
  return errs;
}

function walk(dir, out = []) {
  for (const name of readdirSync(dir)) {
    if (name === "node_modules" || name.startsWith(".")) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith(".ts")) out.push(p);
  }
  return out;
}

export function checkTree(root) {
  const errs = [];
  for (const top of ["core-wasm", "cli", "snapshotter", "test", "bench", "scripts"]) {
    let files;
    try {
      files = walk(join(root, top));
    } catch {
      continue;
    }
    for (const f of files) {
      const rel = relative(root, f).split(sep).join("/");
      const resolver = (spec) => {
        if (!spec.startsWith(".")) return null;
        let abs = resolve(dirname(f), spec);
        return relative(root, abs).split(sep).join("/");
      };
      errs.push(...checkFile(rel, readFileSync(f, "utf8"), resolver));
    }
  }
  return errs;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const root = join(dirname(fileURLToPath(import.meta.url)), "..");
  const errs = checkTree(root);
  if (errs.length > 0) {
    console.error(`check_deps: ${errs.length} dependency rule violation(s):`);
    for (const e of errs) console.error("  " + e);
    process.exit(1);
  }
  console.error("check_deps: dependency rules hold");
}
