#!/usr/bin/env node
// Builds the kernel as a WebAssembly component (core-wasm/wit/core.wit, world
// `core`) and transpiles it to JS bindings. Off the hot path: the CLI and the
// snapshotter embed the plain core module (scripts/build_wasm.mjs); this is
// for hosts that speak the component model, and for its test
// (test/e2e/component_test.ts). Steps, all offline:
//   1. asc core-wasm/assembly/component.ts → core.wasm (build_wasm's pinned
//      flags, but growable memory for the cabi_realloc arena);
//   2. rename the `inflate_*` exports to their canonical-ABI names
//      (`soci:core/inflate@0.1.0#crc32`; AssemblyScript cannot spell them);
//   3. jco embed: the WIT world as a `component-type` custom section. Through
//      jco's JS API with the WIT text (`witSource`): the `jco embed` CLI of
//      jco 1.35.0 passes `--wit` as a path to its bundled wasm-tools, whose
//      WASI filesystem (preview2-shim 0.26) now has no preopened directory,
//      so it panics "No such file or directory" for any path;
//   4. jco new: wrap the core module into a component (lifts/lowers via the
//      canonical ABI, validates exports against the world);
//   5. jco transpile: JS + core wasm + .d.ts that run the component in JS.
// Output goes to .build/component/<key>/ where <key> hashes every input, built
// in a temporary directory and renamed into place, so concurrent test runs
// never see a half-written build and an unchanged tree costs nothing.
//
//   node scripts/build_component.mjs [--force]     (also: build_wasm.mjs --component)
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ASC_FLAGS } from "./build_wasm.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const asmDir = join(root, "core-wasm", "assembly");
const witDir = join(root, "core-wasm", "wit");
const WIT_FILE = "core.wit";
const WORLD = "core";
const PACKAGE = "soci:core/inflate@0.1.0";
/** AssemblyScript export name → canonical-ABI name; coupled with core-wasm/assembly/component.ts. */
export const EXPORT_NAMES = {
  inflate_crc32: `${PACKAGE}#crc32`,
  inflate_gunzip: `${PACKAGE}#gunzip`,
  cabi_post_inflate_gunzip: `cabi_post_${PACKAGE}#gunzip`,
};
/** Name of the transpiled entry module (<name>.js) inside the output directory. */
export const COMPONENT_NAME = "soci_core";

/** build_wasm's flags minus the memory maximum: lists are allocated above the fixed arenas. */
function componentAscFlags() {
  const flags = [];
  for (let i = 0; i < ASC_FLAGS.length; i++) {
    if (ASC_FLAGS[i] === "--maximumMemory") i++;
    else flags.push(ASC_FLAGS[i]);
  }
  return flags;
}

function filesUnder(dir) {
  return readdirSync(dir).sort().flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

function inputKey() {
  const h = createHash("sha256");
  const jcoPkg = join(root, "node_modules", "@bytecodealliance", "jco", "package.json");
  for (const f of [...filesUnder(asmDir), ...filesUnder(witDir), fileURLToPath(import.meta.url), jcoPkg]) {
    h.update(f.slice(root.length) + "\0").update(readFileSync(f)).update("\0");
  }
  h.update(JSON.stringify(componentAscFlags()));
  return h.digest("hex").slice(0, 16);
}

function readLeb(b, p) {
  let v = 0;
  let shift = 0;
  for (;;) {
    const x = b[p++];
    v += (x & 0x7f) * 2 ** shift;
    shift += 7;
    if (x < 0x80) return [v, p];
  }
}

function leb(v) {
  const out = [];
  do {
    let x = v % 128;
    v = Math.floor(v / 128);
    if (v > 0) x |= 0x80;
    out.push(x);
  } while (v > 0);
  return out;
}

/**
 * Rewrites the names in a core module's export section (id 7) per `names`;
 * every other byte is kept. Throws if a name in `names` is not exported.
 */
export function renameExports(wasm, names) {
  const parts = [wasm.subarray(0, 8)];
  const seen = new Set();
  let p = 8;
  while (p < wasm.length) {
    const id = wasm[p];
    const [size, body] = readLeb(wasm, p + 1);
    const end = body + size;
    if (id !== 7) {
      parts.push(wasm.subarray(p, end));
      p = end;
      continue;
    }
    let [count, q] = readLeb(wasm, body);
    const out = [...leb(count)];
    for (; count > 0; count--) {
      const [len, s] = readLeb(wasm, q);
      const name = Buffer.from(wasm.subarray(s, s + len)).toString("utf8");
      q = s + len;
      const kind = wasm[q++];
      const [, r] = readLeb(wasm, q);
      const index = wasm.subarray(q, r);
      q = r;
      const renamed = names[name] ?? name;
      if (name in names) seen.add(name);
      const nb = Buffer.from(renamed, "utf8");
      out.push(...leb(nb.length), ...nb, kind, ...index);
    }
    parts.push(Uint8Array.from([7, ...leb(out.length), ...out]));
    p = end;
  }
  for (const n of Object.keys(names)) if (!seen.has(n)) throw new Error(`build_component: export ${n} not found`);
  return Buffer.concat(parts);
}

/**
 * Builds (or reuses) the component. Returns { dir, component, entry }: the
 * output directory, the component binary and the transpiled ES module.
 */
export async function buildComponent({ force = false, quiet = true } = {}) {
  const outRoot = join(root, ".build", "component");
  const dir = join(outRoot, inputKey());
  const result = { dir, component: join(dir, "core.component.wasm"), entry: join(dir, "js", `${COMPONENT_NAME}.js`) };
  if (!force && existsSync(join(dir, "DONE"))) return result;
  const tmp = join(outRoot, `tmp-${process.pid}-${Date.now()}`);
  mkdirSync(tmp, { recursive: true });
  const stdio = quiet ? ["ignore", "pipe", "pipe"] : "inherit";
  const run = (cmd, args) => {
    try {
      execFileSync(cmd, args, { cwd: root, stdio });
    } catch (e) {
      throw new Error(`build_component: ${[cmd, ...args].join(" ")} failed\n${e.stderr?.toString() ?? ""}${e.stdout?.toString() ?? ""}`);
    }
  };
  try {
    const bin = (n) => join(root, "node_modules", ".bin", n);
    const coreRaw = join(tmp, "core.raw.wasm");
    run(bin("asc"), [join(asmDir, "component.ts"), "--outFile", coreRaw, ...componentAscFlags()]);
    const core = join(tmp, "core.wasm");
    writeFileSync(core, renameExports(readFileSync(coreRaw), EXPORT_NAMES));
    const embedded = join(tmp, "core.embedded.wasm");
    const jco = await import("@bytecodealliance/jco");
    const witSource = readFileSync(join(witDir, WIT_FILE), "utf8");
    writeFileSync(embedded, await jco.componentEmbed({ binary: readFileSync(core), witSource, world: WORLD }));
    run(bin("jco"), ["new", embedded, "-o", join(tmp, "core.component.wasm")]);
    run(bin("jco"), ["transpile", join(tmp, "core.component.wasm"), "--name", COMPONENT_NAME, "-o", join(tmp, "js"), "-q"]);
    writeFileSync(join(tmp, "DONE"), new Date().toISOString() + "\n");
    if (force) rmSync(dir, { recursive: true, force: true });
    try {
      renameSync(tmp, dir);
    } catch (e) {
      // Another run finished the same key first; its output is identical.
      if (!existsSync(join(dir, "DONE"))) throw e;
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return result;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await buildComponent({ force: process.argv.includes("--force"), quiet: false });
  console.error(`build_component: ${r.component} (${statSync(r.component).size} bytes), bindings ${r.entry}`);
}
