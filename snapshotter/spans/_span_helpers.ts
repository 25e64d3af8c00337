/**
 * Pure helpers of span_manager.ts, kept apart so it holds only its state
 * machine: grouping spans into range requests, and its two remote-data errors
 * (STYLE §7: message, where, hint).
 */
import { FormatError, RegistryError, SociError } from "../../core-wasm/src/errors.ts";
import type { SpanTable } from "../../core-wasm/src/gzip/mod.ts";

/** Splits sorted span ids into runs of adjacent spans whose compressed ranges total ≤ maxCoalesce (a single bigger span is its own run). */
export function coalesceRuns(ids: readonly number[], table: SpanTable, maxCoalesce: number): number[][] {
  const runs: number[][] = [];
  let cur: number[] = [];
  let start = 0;
  for (const id of ids) {
    const [cs, ce] = table.compressedRange(id);
    if (cur.length > 0 && (id !== cur[cur.length - 1] + 1 || ce - start > maxCoalesce)) {
      runs.push(cur);
      cur = [];
    }
    if (cur.length === 0) start = cs;
    cur.push(id);
  }
  if (cur.length > 0) runs.push(cur);
  return runs;
}

/** A range request failed: RegistryError (details kept) when the fetcher's was one, else SociError; `cause` is `e`. */
export function fetchError(what: string, start: number, end: number, e: unknown): SociError {
  const why = e instanceof Error ? e.message : String(e);
  const msg = `Cannot fetch ${what}: compressed bytes [${start}, ${end}): ${why}`;
  const hint = e instanceof SociError && e.hint !== undefined ? e.hint : "Check that the registry is reachable; the next read retries";
  return e instanceof RegistryError ? new RegistryError(msg, e.details, { cause: e, hint }) : new SociError(msg, { cause: e, hint });
}

/** Span `id` kept failing its digest after `attempts` fetches. */
export function digestError(layerDigest: string, id: number, cs: number, ce: number, digest: string, want: string, attempts: number): FormatError {
  return new FormatError(
    `Cannot read span ${id} of layer ${JSON.stringify(layerDigest)}: compressed bytes [${cs}, ${ce}) have digest ${JSON.stringify(digest)}, not ${JSON.stringify(want)} from the zTOC (${attempts} fetch${attempts > 1 ? "es" : ""})`,
    { source: layerDigest, compressedOffset: cs },
    { hint: "The registry serves bytes that differ from the ones the SOCI index was built from; check the registry or mirror, or rebuild the index" },
  );
}
