#!/usr/bin/env node
// Bundles the CLI (cli/main.ts) with esbuild into dist/soci.mjs: one ESM file
// with the npm dependencies and the wasm core (the generated
// core-wasm/src/wasm/_core_wasm_bytes.ts) inlined, a `#!/usr/bin/env node`
// shebang and a `require` for any dependency that needs one. The same file runs
// on Node 20 (`node dist/soci.mjs`), Deno (`deno run -A`) and Bun, and is the
// input of scripts/compile.mjs.
//
// The entry is a two-line module that calls `main(import.meta.url)`: the bundle
// passes its own URL so zTOC worker threads start from the same file.
//
// Written to a temp file and renamed into place; skipped when dist/soci.mjs is
// newer than every input (pass --force to rebuild).
import { chmodSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
export const BUNDLE = join(root, "dist", "soci.mjs");

const ENTRY = `import { main } from "./cli/main.ts";\nawait main(import.meta.url);\n`;

const BANNER = [
  "#!/usr/bin/env node",
  "// soci-ts: bundled by scripts/bundle.mjs; do not edit.",
  'import { createRequire as __sociCreateRequire } from "node:module";',
  "const require = __sociCreateRequire(import.meta.url);",
].join("\n");

/** Newest modification time (ms) of the files under `p` (a file or a directory). */
export function newestMtime(p) {
  if (!existsSync(p)) return 0;
  const s = statSync(p);
  if (!s.isDirectory()) return s.mtimeMs;
  let t = 0;
  for (const f of readdirSync(p)) {
    if (f === "node_modules" || f.startsWith(".")) continue;
    t = Math.max(t, newestMtime(join(p, f)));
  }
  return t;
}

function inputsMtime() {
  return Math.max(
    newestMtime(join(root, "cli")),
    newestMtime(join(root, "core-wasm", "src")),
    newestMtime(join(root, "snapshotter")), // cli/ reaches it through snapshotter/mod.ts
    newestMtime(join(root, "package.json")),
    newestMtime(join(root, "package-lock.json")),
    newestMtime(fileURLToPath(import.meta.url)),
  );
}

export function bundleIsFresh() {
  return existsSync(BUNDLE) && statSync(BUNDLE).mtimeMs >= inputsMtime();
}

/** Builds dist/soci.mjs; returns its path. Requires the generated wasm module (scripts/build_wasm.mjs). */
export async function bundle({ force = false, minify = true } = {}) {
  if (!force && bundleIsFresh()) return BUNDLE;
  if (!existsSync(join(root, "core-wasm", "src", "wasm", "_core_wasm_bytes.ts"))) {
    throw new Error("bundle: core-wasm/src/wasm/_core_wasm_bytes.ts is missing; run scripts/build_wasm.mjs first");
  }
  const esbuild = await import("esbuild");
  // The zTOC pool workers run this builder-only script, not the whole CLI (core-wasm/src/workers/mod.ts).
  const worker = await esbuild.build({
    entryPoints: [join(root, "core-wasm", "src", "workers", "_pool_worker_entry.ts")],
    bundle: true,
    platform: "node",
    format: "cjs",
    target: ["node20", "deno2", "es2022"],
    minify,
    keepNames: true,
    legalComments: "none",
    write: false,
    logLevel: "warning",
  });
  const result = await esbuild.build({
    define: { __SOCI_ZTOC_WORKER_SOURCE__: JSON.stringify(worker.outputFiles[0].text) },
    stdin: { contents: ENTRY, resolveDir: root, sourcefile: "soci-entry.ts", loader: "ts" },
    bundle: true,
    platform: "node",
    format: "esm",
    target: ["node20", "deno2", "es2022"],
    minify,
    keepNames: true,
    legalComments: "none",
    banner: { js: BANNER },
    write: false,
    logLevel: "warning",
  });
  const [file] = result.outputFiles;
  mkdirSync(dirname(BUNDLE), { recursive: true });
  const tmp = `${BUNDLE}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, file.contents);
    chmodSync(tmp, 0o755);
    renameSync(tmp, BUNDLE);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  return BUNDLE;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const p = await bundle({ force: process.argv.includes("--force") });
  console.error(`bundle: ${p} (${statSync(p).size} bytes)`);
}
