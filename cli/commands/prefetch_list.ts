/**
 * `soci prefetch list` / `ls` (formats §11.2, §9.6): the prefetch artifacts
 * recorded in the local store, newest first, as upstream's table
 * `DIGEST LAYER DIGEST SPANS CREATED` (SPANS = span ids the ranges cover,
 * `N/A` when the blob cannot be read); `--quiet` digests only; `--json`
 * upstream's array of `{Digest, LayerDigest, TotalSpans, CreatedAt}`
 * (TotalSpans -1 when unreadable, as upstream; `[]` when there are none).
 *
 * Not here: reading and parsing the blobs (soci/store_records.ts).
 */
import { listStoredPrefetches } from "../../core-wasm/src/soci/mod.ts";
import { LocalStore } from "../../core-wasm/src/store/mod.ts";
import type { CommandSpec } from "../command.ts";
import { ago } from "../output.ts";

export const prefetchListCommand: CommandSpec = {
  name: "prefetch list",
  aliases: ["prefetch ls"],
  description: "List the prefetch artifacts in the local store",
  examples: ["soci prefetch ls", "soci prefetch ls --json"],
  async run(ctx) {
    const rows = await listStoredPrefetches(await LocalStore.open(ctx.storeDir));
    const { out } = ctx;
    if (out.json) {
      return out.printJson(rows.map((r) => ({ Digest: r.digest, LayerDigest: r.layerDigest, TotalSpans: r.totalSpans ?? -1, CreatedAt: r.createdAt })));
    }
    if (out.quiet) {
      for (const r of rows) out.line(r.digest);
      return;
    }
    const now = Date.now();
    out.table(
      ["DIGEST", "LAYER DIGEST", "SPANS", "CREATED"],
      rows.map((r) => [r.digest, r.layerDigest, r.totalSpans === null ? "N/A" : String(r.totalSpans), ago(Date.parse(r.createdAt), now)]),
    );
  },
};
