/**
 * The `soci ztoc info` document (formats §11.2): keys in upstream's order,
 * files in offset order with the spans their bytes touch (`end_span` is the
 * span of offset + size, as upstream computes it). Names are shown as text
 * (invalid UTF-8 becomes U+FFFD); JSON encoding is the caller's.
 */
import { displayText } from "../bytes/mod.ts";
import type { Ztoc } from "./model.ts";
import { ztocSpans } from "./read_uncompressed.ts";

export interface ZtocInfoFile {
  filename: string;
  offset: number;
  size: number;
  type: string;
  start_span: number;
  end_span: number;
}

export interface ZtocInfo {
  version: string;
  build_tool: string;
  size: number;
  span_size: number;
  num_spans: number;
  num_files: number;
  num_multi_span_files: number;
  files: ZtocInfoFile[];
}

/** The info document for `z`, whose blob is `blobSize` bytes. Throws FormatError for a bad zinfo. */
export function ztocInfo(z: Ztoc, blobSize: number): ZtocInfo {
  const { table, spanSize } = ztocSpans(z);
  const entries = [...z.toc].sort((a, b) => a.uncompressedOffset - b.uncompressedOffset);
  let multiSpan = 0;
  const files = entries.map((e) => {
    const start = table.spanFor(e.uncompressedOffset);
    const end = table.spanFor(e.uncompressedOffset + e.uncompressedSize);
    if (start !== end) multiSpan++;
    return { filename: displayText(e.name), offset: e.uncompressedOffset, size: e.uncompressedSize, type: e.type, start_span: start, end_span: end };
  });
  return {
    version: z.version,
    build_tool: z.buildToolIdentifier,
    size: blobSize,
    span_size: spanSize,
    num_spans: z.maxSpanId + 1,
    num_files: z.toc.length,
    num_multi_span_files: multiSpan,
    files,
  };
}
