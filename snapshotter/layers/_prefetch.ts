/**
 * Checking a layer's prefetch artifact (formats §9.6, snapshotter §7.3 step
 * 7) before it is used: the bytes must match the descriptor (size and
 * SHA-256, whatever the source already checked), parse as a version "1.0"
 * document with at least one range (core `parsePrefetchArtifact`), and every
 * span id must be a span of the layer's zTOC — an artifact naming span 40 of
 * a 12-span zTOC was built for another zTOC, so it is refused whole rather
 * than half-applied.
 *
 * Not here: fetching the bytes (resolve_image.ts), fetching the spans
 * (_lazy.ts through spans/).
 */
import { sha256Digest } from "../../core-wasm/src/bytes/mod.ts";
import { FormatError } from "../../core-wasm/src/errors.ts";
import type { Descriptor } from "../../core-wasm/src/oci/mod.ts";
import { parsePrefetchArtifact, type PrefetchSpan } from "../../core-wasm/src/soci/mod.ts";
import { ztocSpans, type Ztoc } from "../../core-wasm/src/ztoc/mod.ts";

/** Artifacts larger than this are refused before they are read (real ones are a few hundred bytes). */
export const MAX_PREFETCH_ARTIFACT_SIZE = 4 << 20;

/** The artifact's ranges, or FormatError saying why it cannot be used for `ztoc`. */
export function checkPrefetchArtifact(bytes: Uint8Array, d: Descriptor, ztoc: Ztoc): PrefetchSpan[] {
  if (bytes.length !== d.size || sha256Digest(bytes) !== d.digest) {
    throw new FormatError(`Cannot use prefetch artifact ${d.digest}: its ${bytes.length} bytes do not match the descriptor (${d.size} bytes, ${d.digest})`);
  }
  const spans = parsePrefetchArtifact(bytes, d.digest);
  const count = ztocSpans(ztoc).table.spanCount;
  const bad = spans.find((s) => s.endSpan >= count);
  if (bad !== undefined) {
    throw new FormatError(`Cannot use prefetch artifact ${d.digest}: it lists spans ${bad.startSpan}-${bad.endSpan}, the zTOC has spans 0-${count - 1}`, {}, {
      hint: "The artifact was built for another zTOC of this layer; convert the image again",
    });
  }
  return spans;
}
