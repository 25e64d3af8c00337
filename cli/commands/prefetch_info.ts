/**
 * `soci prefetch info DIGEST` (formats §11.2, §9.6): a stored prefetch
 * artifact as upstream prints it — `Digest:`, `Version:`, `Span Ranges:`,
 * `Layer Digest:`, `Size: N bytes`, `Created: YYYY-MM-DD HH:MM:SS` (UTC),
 * then each range `[i] StartSpan: a, EndSpan: b (covers n spans)` (+
 * `Priority:` when non-zero) and `Total spans to prefetch: n`.
 *
 * `--json`: upstream prints the text followed by the raw artifact; our global
 * `--json` promises one JSON document on stdout, so it is one object holding
 * the same facts and the raw artifact under `Artifact` (key order as stored).
 * An artifact recorded for several layers (identical range lists give
 * identical blobs) prints one `Layer Digest:` line per layer.
 * Index and zTOC digests are refused; a damaged blob fails naming the digest.
 *
 * Not here: reading and parsing the blob (soci/store_records.ts).
 */
import { PREFETCH_ARTIFACT_VERSION, readStoredPrefetch, totalPrefetchSpans } from "../../core-wasm/src/soci/mod.ts";
import { LocalStore } from "../../core-wasm/src/store/mod.ts";
import { digestArg, type CommandSpec } from "../command.ts";

/** `2006-01-02 15:04:05` in UTC. */
function created(iso: string): string {
  const t = new Date(iso);
  return Number.isNaN(t.getTime()) ? iso : t.toISOString().slice(0, 19).replace("T", " ");
}

export const prefetchInfoCommand: CommandSpec = {
  name: "prefetch info",
  args: "<digest>",
  description: "Show a prefetch artifact from the local store",
  examples: ["soci prefetch info sha256:…", "soci prefetch info --json sha256:…"],
  async run(ctx, args) {
    const digest = digestArg(args[0] as string, "digest");
    const a = await readStoredPrefetch(await LocalStore.open(ctx.storeDir), digest);
    const total = totalPrefetchSpans(a.spans);
    const { out } = ctx;
    if (out.json) {
      return out.printJson({
        Digest: digest,
        Version: PREFETCH_ARTIFACT_VERSION,
        SpanRanges: a.spans.length,
        LayerDigest: a.record.layerDigest,
        LayerDigests: a.layerDigests,
        Size: a.record.size,
        CreatedAt: a.record.createdAt,
        TotalSpans: total,
        Artifact: JSON.parse(new TextDecoder().decode(a.bytes)),
      });
    }
    out.line(`Digest:        ${digest}`);
    out.line(`Version:       ${PREFETCH_ARTIFACT_VERSION}`);
    out.line(`Span Ranges:   ${a.spans.length}`);
    for (const l of a.layerDigests) out.line(`Layer Digest:  ${l}`);
    out.line(`Size:          ${a.record.size} bytes`);
    out.line(`Created:       ${created(a.record.createdAt)}`);
    out.line();
    out.line("Prefetch Spans:");
    a.spans.forEach((s, i) => {
      out.line(`  [${i}] StartSpan: ${s.startSpan}, EndSpan: ${s.endSpan} (covers ${s.endSpan - s.startSpan + 1} spans)`);
      if (s.priority !== 0) out.line(`      Priority: ${s.priority}`);
    });
    out.line();
    out.line(`Total spans to prefetch: ${total}`);
  },
};
