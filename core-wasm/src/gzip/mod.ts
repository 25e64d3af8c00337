/**
 * gzip layers: member framing, checkpoints, zinfo, spans (formats §4–§6).
 *
 * A *checkpoint* is a place where decompression can restart without the bytes
 * before it: the compressed position (`in`, plus `bits` when a deflate block
 * starts inside a byte), the uncompressed position `out` and the 32 KiB of
 * output before it (DEFLATE distances reach back at most that far). They can
 * only sit at deflate block starts — inside a block the Huffman tables depend
 * on the block header — and each costs 32 KiB in the zTOC, so upstream places
 * one per `span` bytes of output (the zran technique of zlib's
 * examples/zran.c). `GzipIndexer` makes them in one streaming pass on the
 * WebAssembly kernel (via wasm/), `encodeZinfo`/`decodeZinfo` store them, the
 * span tables map offsets to spans, and `inflateSpan` restarts from one.
 *
 * Policy choices (documented in gzip_indexer.ts): duplicate out=0 checkpoints
 * are dropped and trailing zero padding tolerated unless `upstreamCompat`.
 *
 * Not here: tar parsing (tar/), zTOC flatbuffers (ztoc/), fetching (registry/).
 */
export { ZINFO_WINDOW_SIZE, type Checkpoint, type GzipIndexerOptions, type GzipSummary, type GzipZinfo, type InflateSink } from "./types.ts";
export { GzipIndexer } from "./gzip_indexer.ts";
export { encodeZinfo, decodeZinfo } from "./zinfo.ts";
export { encodeTarZinfo, decodeTarZinfo, TAR_ZINFO_VERSION } from "./tar_zinfo.ts";
export { gzipSpanTable, tarSpanTable, type SpanTable } from "./span_table.ts";
export { inflateSpan } from "./inflate_span.ts";
export { gunzip, type GunzipOptions } from "./gunzip.ts";
