/**
 * JIT tier hints for the zTOC builder's JavaScript (Bun only; a no-op on Node
 * and Deno).
 *
 * A conversion is a short process: the tar walker, the TOC entry builder and
 * the FlatBuffers encoder run hot for a few hundred milliseconds per layer, and
 * JavaScriptCore then compiles about forty of them again with its optimizing
 * FTL tier — ≈ 250 ms of compiler CPU per debian-python convert
 * (`BUN_JSC_reportFTLCompileTimes=1`), on the core that the blob-hash helper and
 * the other `--jobs` builders need, and finished too late to pay back. Keeping
 * those functions at the DFG tier made `soci convert --jobs 1` 6–12 % faster
 * (hyperfine, debian-minbase and big-layer, both orders) and changed nothing on
 * a 1 GiB layer (BENCHMARKS.md, "Convert analysis", session 5). The hot inflate
 * loop is WebAssembly and unaffected.
 *
 * Uses `noFTL` from `bun:jsc`, reached through `process.getBuiltinModule` so
 * the same code loads in the ESM bundle, the CommonJS pool worker, Node and
 * Deno (where there is no such module and this does nothing).
 */

type NoFtl = (fn: unknown) => unknown;

function loadNoFtl(): NoFtl | null {
  const g = globalThis as { Bun?: unknown; process?: { getBuiltinModule?: (id: string) => unknown } };
  if (g.Bun === undefined) return null;
  try {
    const jsc = g.process?.getBuiltinModule?.("bun:jsc") as { noFTL?: unknown } | undefined;
    return typeof jsc?.noFTL === "function" ? (jsc.noFTL as NoFtl) : null;
  } catch {
    return null;
  }
}

const noFtl: NoFtl | null = loadNoFtl();

/** True when hints take effect (Bun with `bun:jsc`'s noFTL). */
export const jitHintsActive: boolean = noFtl !== null;

/** Keeps these functions below JavaScriptCore's FTL tier. */
export function keepOutOfFtl(...fns: unknown[]): void {
  if (noFtl === null) return;
  for (const f of fns) if (typeof f === "function") noFtl(f);
}

/** Keeps every method and accessor of these prototypes below the FTL tier. */
export function keepMethodsOutOfFtl(...protos: object[]): void {
  if (noFtl === null) return;
  for (const proto of protos) {
    for (const key of Object.getOwnPropertyNames(proto)) {
      if (key === "constructor") continue;
      const d = Object.getOwnPropertyDescriptor(proto, key);
      if (d !== undefined) keepOutOfFtl(d.value, d.get, d.set);
    }
  }
}
