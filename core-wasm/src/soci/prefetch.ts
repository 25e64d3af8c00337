/**
 * Prefetch artifacts (formats §9.6, upstream "experimental"): per layer, the
 * span ranges a snapshotter fetches before it reports the layer ready.
 *
 * Built at convert/create time from a list of paths (`--prefetch-file`,
 * `--prefetch-files-json`): each path is cleaned, looked up by raw TOC name in
 * the layers from the top down (first hit wins), and becomes the inclusive
 * span range `[span(offset), span(offset + size)]` of that layer. Ranges are
 * merged per layer and written as one small JSON document per layer, encoded
 * as Go's encoder writes it. A path found nowhere is a warning, not an error.
 *
 * Not here: where the artifacts go (build_soci_index.ts, convert.ts) and how a
 * snapshotter uses them (snapshotter/layers).
 */
import { binaryString, sha256Digest, utf8 } from "../bytes/mod.ts";
import { FormatError } from "../errors.ts";
import { ANNOTATION_IMAGE_LAYER_DIGEST, encodeGoJsonValue, MEDIA_TYPE_SOCI_PREFETCH, type Descriptor } from "../oci/mod.ts";
import { ztocSpans, type TocEntry, type Ztoc } from "../ztoc/mod.ts";


export const PREFETCH_ARTIFACT_VERSION = "1.0";

/** An inclusive range of span ids. `priority` is upstream's optional field (0 = absent). */
export interface PrefetchSpan {
  startSpan: number;
  endSpan: number;
  priority: number;
}

/**
 * formats §9.6 path cleaning: absolute, `.`/`..` resolved (never above the
 * root), repeated slashes collapsed, then the leading `/` dropped. "" for the
 * root itself.
 */
export function cleanPrefetchPath(path: string): string {
  const out: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") out.pop();
    else out.push(part);
  }
  return out.join("/");
}

/**
 * The paths of a `--prefetch-files-json` document: a JSON array of strings,
 * each trimmed, empty ones dropped. FormatError (naming `source`) otherwise.
 */
export function parsePrefetchFilesJson(text: string, source: string): string[] {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new FormatError(`Cannot read prefetch file list ${source}: not JSON (${(e as Error).message})`, {}, { hint: 'Write a JSON array of paths, e.g. ["/app/main.py", "/usr/bin/python3"]' });
  }
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) {
    throw new FormatError(`Cannot read prefetch file list ${source}: expected a JSON array of strings`, {}, { hint: 'Write a JSON array of paths, e.g. ["/app/main.py", "/usr/bin/python3"]' });
  }
  return (v as string[]).map((s) => s.trim()).filter((s) => s !== "");
}

/** Sorts by (start, end) and merges ranges that overlap or touch (`next.start ≤ cur.end + 1`). */
export function mergePrefetchSpans(spans: readonly PrefetchSpan[]): PrefetchSpan[] {
  const sorted = [...spans].sort((a, b) => a.startSpan - b.startSpan || a.endSpan - b.endSpan);
  const out: PrefetchSpan[] = [];
  for (const s of sorted) {
    const cur = out[out.length - 1];
    if (cur !== undefined && s.startSpan <= cur.endSpan + 1) {
      cur.endSpan = Math.max(cur.endSpan, s.endSpan);
      cur.priority = Math.max(cur.priority, s.priority);
    } else out.push({ ...s });
  }
  return out;
}

/** The artifact document, byte for byte as Go encodes it (`priority` omitted when 0). */
export function encodePrefetchArtifact(spans: readonly PrefetchSpan[]): Uint8Array {
  const doc = {
    version: PREFETCH_ARTIFACT_VERSION,
    prefetch_spans: spans.map((s) => ({ start_span: s.startSpan, end_span: s.endSpan, ...(s.priority !== 0 ? { priority: s.priority } : {}) })),
  };
  return utf8(encodeGoJsonValue(doc));
}

/**
 * Decodes an artifact. FormatError (naming `source`) unless it is version
 * "1.0" with at least one range of non-negative integer span ids, start ≤ end.
 */
export function parsePrefetchArtifact(bytes: Uint8Array, source: string): PrefetchSpan[] {
  let v: { version?: unknown; prefetch_spans?: unknown };
  try {
    v = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (e) {
    throw new FormatError(`Cannot read prefetch artifact ${source}: not JSON (${(e as Error).message})`);
  }
  if (v === null || typeof v !== "object") throw new FormatError(`Cannot read prefetch artifact ${source}: not a JSON object`);
  if (v.version !== PREFETCH_ARTIFACT_VERSION) throw new FormatError(`Cannot read prefetch artifact ${source}: version ${JSON.stringify(v.version)}, expected "1.0"`);
  const list = v.prefetch_spans;
  if (!Array.isArray(list) || list.length === 0) throw new FormatError(`Cannot read prefetch artifact ${source}: no prefetch_spans`);
  const isId = (x: unknown): x is number => typeof x === "number" && Number.isSafeInteger(x) && x >= 0;
  return list.map((s: { start_span?: unknown; end_span?: unknown; priority?: unknown }, i) => {
    if (s === null || typeof s !== "object" || !isId(s.start_span) || !isId(s.end_span) || s.start_span > s.end_span) {
      throw new FormatError(`Cannot read prefetch artifact ${source}: prefetch_spans[${i}] is not a range of span ids`);
    }
    const priority = s.priority === undefined ? 0 : s.priority;
    if (typeof priority !== "number" || !Number.isSafeInteger(priority)) throw new FormatError(`Cannot read prefetch artifact ${source}: prefetch_spans[${i}].priority is not an integer`);
    return { startSpan: s.start_span, endSpan: s.end_span, priority };
  });
}

/** One layer's artifact: its blob and descriptor. */
export interface PrefetchArtifact {
  layerDigest: string;
  spans: PrefetchSpan[];
  bytes: Uint8Array;
  descriptor: Descriptor;
}

/** The index descriptor of an artifact blob for `layerDigest`. */
export function prefetchDescriptor(layerDigest: string, bytes: Uint8Array): Descriptor {
  return { mediaType: MEDIA_TYPE_SOCI_PREFETCH, digest: sha256Digest(bytes), size: bytes.length, annotations: { [ANNOTATION_IMAGE_LAYER_DIGEST]: layerDigest } };
}

/**
 * The artifacts for `paths` over `layers` (bottom to top, as in the manifest;
 * only layers with a zTOC in this build), returned bottom to top (the index
 * order of §9.4), with one warning per path found in no layer.
 */
export function buildPrefetchArtifacts(paths: readonly string[], layers: ReadonlyArray<{ layerDigest: string; ztoc: Ztoc }>): { artifacts: PrefetchArtifact[]; warnings: string[] } {
  const ranges = new Map<string, PrefetchSpan[]>();
  const warnings: string[] = [];
  const topDown = [...layers].reverse();
  // Raw TOC name (as a binary string: one char per byte) → its first entry, per zTOC, made once:
  // a recorded file list has thousands of paths (1,373 for bench/run's main.py).
  const byName = new Map<Ztoc, Map<string, TocEntry>>();
  const entryNamed = (ztoc: Ztoc, name: string): TocEntry | undefined => {
    let names = byName.get(ztoc);
    if (names === undefined) {
      names = new Map();
      for (const t of ztoc.toc) {
        const key = binaryString(t.name);
        if (!names.has(key)) names.set(key, t);
      }
      byName.set(ztoc, names);
    }
    return names.get(name);
  };
  for (const path of paths) {
    const name = binaryString(utf8(cleanPrefetchPath(path)));
    let found = false;
    for (const { layerDigest, ztoc } of topDown) {
      const e = entryNamed(ztoc, name);
      if (e === undefined) continue;
      const { table } = ztocSpans(ztoc);
      const start = table.spanFor(e.uncompressedOffset);
      const end = Math.max(start, table.spanFor(e.uncompressedOffset + e.uncompressedSize));
      let list = ranges.get(layerDigest);
      if (list === undefined) ranges.set(layerDigest, (list = []));
      list.push({ startSpan: start, endSpan: end, priority: 0 });
      found = true;
      break;
    }
    if (!found) warnings.push(`prefetch file ${JSON.stringify(path)} was not found in any indexed layer`);
  }
  const artifacts: PrefetchArtifact[] = [];
  const seen = new Set<string>();
  for (const { layerDigest } of layers) {
    const list = ranges.get(layerDigest);
    if (list === undefined || seen.has(layerDigest)) continue;
    seen.add(layerDigest);
    const spans = mergePrefetchSpans(list);
    const bytes = encodePrefetchArtifact(spans);
    artifacts.push({ layerDigest, spans, bytes, descriptor: prefetchDescriptor(layerDigest, bytes) });
  }
  return { artifacts, warnings };
}
