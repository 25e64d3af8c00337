/**
 * buildZtoc: one streaming pass over a layer blob to its zTOC (formats §2–§5).
 *
 *   blob chunks ─┬─ SHA-256 of the blob (checked against the descriptor)
 *                ├─ span digests (_span_digests.ts)
 *                └─ gzip: GzipIndexer ── uncompressed data ─→ TarWalker ─→ TOC
 *                                     └─ checkpoints ─→ zinfo, span ends
 *                   uncompressed: the chunks go to the TarWalker directly;
 *                   fixed spans and a TarZinfo (formats §5)
 *
 * Then the TOC, sizes, digests and zinfo are encoded (codec.ts). Nothing is
 * written anywhere: the caller stores `bytes` under `digest`.
 *
 * Policy where upstream fails or emits a zTOC its own snapshotter rejects
 * (each is a FormatError the convert step turns into "skip this layer, pull
 * it in full" with the message as the reason; see also gzip/mod.ts):
 *  - typeflags outside the seven TOC types, e.g. a PAX global header or an
 *    old GNU sparse file (toc_entry.ts) — upstream fails the whole image;
 *  - a TOC breaking the header-offset rule of formats §2.5 (PAX sparse files,
 *    header-only entries such as directories with a size; the message names
 *    the entry whose size overshoots) — upstream builds it but cannot mount
 *    it; with `upstreamCompat` we build it too and add a warning;
 *  - span size 0 for an uncompressed layer is an InvalidArgumentError
 *    (upstream divides by it).
 * Zero padding after the last gzip member and an archive without an end
 * marker are accepted with a warning.
 *
 * `hasher` (gzip only): the SHA-256 passes — the blob digest and the span
 * digests — are done by someone else over the same bytes (workers/: a helper
 * thread reading the blob file), so this thread only inflates and walks the
 * tar; it then keeps no chunk after its push.
 */
import { displayText, Sha256, sha256Digest } from "../bytes/mod.ts";
import { FormatError, InvalidArgumentError } from "../errors.ts";
import { encodeTarZinfo, encodeZinfo, GzipIndexer, type Checkpoint, type InflateSink } from "../gzip/mod.ts";
import { TarWalker, type TarSummary } from "../tar/mod.ts";
import { FixedSpanDigester, GzipSpanDigester } from "./_span_digests.ts";
import { encodeZtoc } from "./codec.ts";
import { ZTOC_VERSION, type CompressionAlgorithm, type TocEntry, type Ztoc } from "./model.ts";
import { findHeaderOffsetViolation, tocEntryFromTar } from "./toc_entry.ts";

export interface BuildZtocOptions {
  compression: CompressionAlgorithm;
  /** Uncompressed bytes per span (≥ 0 for gzip, > 0 for uncompressed layers). */
  spanSize: number;
  /** Written into the zTOC, e.g. "AWS SOCI CLI v0.2". */
  buildToolIdentifier: string;
  /** Layer digest or path, for messages. */
  source?: string;
  /** The descriptor's digest/size: the blob must match them. */
  expectedDigest?: string;
  expectedSize?: number;
  /** Reproduce upstream bytes even where upstream's snapshotter would reject them. */
  upstreamCompat?: boolean;
  /** Called after each chunk with the compressed bytes read so far. */
  onProgress?(compressedBytes: number): void;
  /** Gzip layers: the blob and span digests are computed by this hasher instead (module header). */
  hasher?: BlobHasher;
}

/** SHA-256 passes over the blob done elsewhere (e.g. on another thread reading the same file). */
export interface BlobHasher {
  /** The compressed range [start, end) is span number `index`; its digest is due from `finish`. */
  span(index: number, start: number, end: number): void;
  /** Resolves with the digest and size of the whole blob and the span digests in span order. */
  finish(): Promise<{ blobDigest: string; blobSize: number; spanDigests: string[] }>;
}

export interface BuiltZtoc {
  ztoc: Ztoc;
  /** The encoded zTOC blob. */
  bytes: Uint8Array;
  /** `sha256:` digest and size of `bytes`. */
  digest: string;
  size: number;
  /** Digest and size of the layer blob read. */
  blobDigest: string;
  blobSize: number;
  /** Things accepted but worth telling the user. */
  warnings: string[];
}

/** Walks the tar stream into TOC entries. */
function tocCollector(source: string | undefined): { walker: TarWalker; toc: TocEntry[] } {
  const toc: TocEntry[] = [];
  const walker = new TarWalker({ source, onEntry: (e) => toc.push(tocEntryFromTar(e, source)) });
  return { walker, toc };
}

function checkOptions(opts: BuildZtocOptions): void {
  if (opts.compression !== "gzip" && opts.compression !== "uncompressed") {
    throw new InvalidArgumentError(`Cannot build zTOC: unknown compression ${JSON.stringify(opts.compression)}`);
  }
  if (!Number.isSafeInteger(opts.spanSize) || opts.spanSize < 0) {
    throw new InvalidArgumentError(`Cannot build zTOC: span size ${opts.spanSize} is not a non-negative integer`);
  }
  if (opts.compression === "uncompressed" && opts.spanSize === 0) {
    throw new InvalidArgumentError("Cannot build zTOC for an uncompressed layer: span size is 0", {
      hint: "Pass a positive --span-size (upstream crashes on 0 for uncompressed layers)",
    });
  }
}

/** The part of a build that depends on the compression. */
interface Pipeline {
  push(chunk: Uint8Array, offset: number): void;
  finish(blobSize: number): { zinfo: Uint8Array; spanDigests: string[]; tar: TarSummary; warnings: string[] };
}

/** Span bookkeeping for an external hasher: only the span ranges, no bytes kept. */
class HasherSpans {
  readonly #hasher: BlobHasher;
  #start = -1;
  #count = 0;
  constructor(hasher: BlobHasher) {
    this.#hasher = hasher;
  }
  push(_chunk: Uint8Array, _offset: number): void {}
  checkpoint(cp: Checkpoint): void {
    if (this.#start >= 0) this.#hasher.span(this.#count++, this.#start, cp.in);
    this.#start = cp.bits !== 0 ? cp.in - 1 : cp.in;
  }
  /** Closes the last span; the digests come from the hasher. */
  finish(blobSize: number): string[] {
    if (this.#start >= 0) this.#hasher.span(this.#count++, this.#start, blobSize);
    this.#start = -1;
    return new Array<string>(this.#count).fill("");
  }
}

function gzipPipeline(opts: BuildZtocOptions, walker: TarWalker): Pipeline {
  const indexer = new GzipIndexer({ spanSize: opts.spanSize, source: opts.source, upstreamCompat: opts.upstreamCompat });
  const spans = opts.hasher !== undefined ? new HasherSpans(opts.hasher) : new GzipSpanDigester();
  const sink: InflateSink = {
    data: (chunk, offset) => {
      if (!walker.done) walker.push(chunk, offset);
    },
    checkpoint: (cp) => spans.checkpoint(cp),
  };
  return {
    push(chunk, offset) {
      spans.push(chunk, offset);
      indexer.push(chunk, sink);
    },
    finish(blobSize) {
      const summary = indexer.finish(sink);
      const tar = walker.finish();
      const spanDigests = spans.finish(blobSize);
      if (spanDigests.length !== summary.checkpoints.length) throw new Error(`${spanDigests.length} span digests for ${summary.checkpoints.length} checkpoints`);
      const warnings: string[] = [];
      if (summary.trailingZeroBytes > 0) warnings.push(`ignored ${summary.trailingZeroBytes} zero bytes after the last gzip member`);
      return { zinfo: encodeZinfo({ spanSize: opts.spanSize, checkpoints: summary.checkpoints }), spanDigests, tar, warnings };
    },
  };
}

function tarPipeline(opts: BuildZtocOptions, walker: TarWalker): Pipeline {
  const spans = new FixedSpanDigester(opts.spanSize);
  return {
    push(chunk, offset) {
      spans.push(chunk);
      if (!walker.done) walker.push(chunk, offset);
    },
    finish(blobSize) {
      return { zinfo: encodeTarZinfo(opts.spanSize, blobSize), spanDigests: spans.finish(), tar: walker.finish(), warnings: [] };
    },
  };
}

/**
 * Reads `blob` once and returns its zTOC. Chunks are kept by reference until
 * their span closes: the iterator must yield buffers it will not modify later. Errors: InvalidArgumentError for
 * bad options; FormatError for a blob that does not match `expectedDigest` /
 * `expectedSize` (reported in preference to the parse error it usually
 * causes), corrupt gzip, a malformed or unsupported tar (see the module
 * policy), or a TOC upstream's snapshotter would reject; whatever the blob
 * iterator throws.
 */
export async function buildZtoc(blob: AsyncIterable<Uint8Array>, opts: BuildZtocOptions): Promise<BuiltZtoc> {
  checkOptions(opts);
  const source = opts.source;
  const { walker, toc } = tocCollector(source);
  const pipeline = opts.compression === "gzip" ? gzipPipeline(opts, walker) : tarPipeline(opts, walker);
  const hasher = opts.compression === "gzip" ? opts.hasher : undefined;
  const blobHash = new Sha256();
  const iterator = blob[Symbol.asyncIterator]();
  let offset = 0;
  let exhausted = false;
  let result: ReturnType<Pipeline["finish"]>;
  try {
    for (;;) {
      const next = await iterator.next();
      if (next.done) break;
      const chunk = next.value;
      if (hasher === undefined) blobHash.update(chunk);
      checkSize(opts, offset + chunk.length, false);
      pipeline.push(chunk, offset);
      offset += chunk.length;
      opts.onProgress?.(offset);
    }
    exhausted = true;
    checkSize(opts, offset, true);
    result = pipeline.finish(offset);
  } catch (e) {
    if (hasher !== undefined) {
      // The hasher reads the blob on its own: its digest tells a corrupt blob from a bad layer.
      if (e instanceof FormatError && !sizeErrors.has(e) && opts.expectedDigest !== undefined) {
        const h = await hasher.finish().catch(() => null);
        if (h !== null && h.blobDigest !== opts.expectedDigest) throw digestMismatch(opts, h.blobDigest, e);
      } else void hasher.finish().catch(() => {});
      throw e;
    }
    // A corrupt download shows up as a parse error; name the real cause when we can.
    if (e instanceof FormatError && !sizeErrors.has(e) && !exhausted && opts.expectedDigest !== undefined) {
      exhausted = true;
      await explainByDigest(iterator, blobHash, opts, e);
    } else if (e instanceof FormatError && !sizeErrors.has(e) && exhausted && opts.expectedDigest !== undefined) {
      const actual = blobHash.digest();
      if (actual !== opts.expectedDigest) throw digestMismatch(opts, actual, e);
    }
    throw e;
  } finally {
    if (!exhausted) await iterator.return?.();
  }
  let blobDigest: string;
  if (hasher !== undefined) {
    const h = await hasher.finish();
    if (h.blobSize !== offset) throw new Error(`the blob hasher read ${h.blobSize} bytes, the builder ${offset}`);
    if (h.spanDigests.length !== result.spanDigests.length) throw new Error(`${h.spanDigests.length} span digests from the hasher for ${result.spanDigests.length} spans`);
    blobDigest = h.blobDigest;
    result.spanDigests = h.spanDigests;
  } else blobDigest = blobHash.digest();
  if (opts.expectedDigest !== undefined && blobDigest !== opts.expectedDigest) throw digestMismatch(opts, blobDigest);

  const warnings = result.warnings;
  if (!result.tar.hasEndMarker) warnings.push("the tar archive has no end-of-archive marker");
  const violation = findHeaderOffsetViolation(toc);
  if (violation !== null) {
    const e = toc[violation.index];
    const p = toc[violation.previous];
    const what = `entry ${JSON.stringify(displayText(e.name))} has data at ${e.uncompressedOffset} but its header would start at ${violation.headerOffset}: ` +
      `the previous entry ${JSON.stringify(displayText(p.name))} (${p.type}) claims ${p.uncompressedSize} bytes of data from ${p.uncompressedOffset} ` +
      `(formats §2.5; a PAX sparse file's logical size, or a directory, link or device with a non-zero size)`;
    if (opts.upstreamCompat !== true) {
      throw new FormatError(`Cannot build a usable zTOC: ${what}`, { source, uncompressedOffset: e.uncompressedOffset }, {
        hint: "Upstream's snapshotter rejects such a zTOC; the layer is skipped and will be pulled in full",
      });
    }
    warnings.push(`upstream's snapshotter will reject this zTOC: ${what}`);
  }
  const ztoc: Ztoc = {
    version: ZTOC_VERSION,
    buildToolIdentifier: opts.buildToolIdentifier,
    compressedArchiveSize: offset,
    uncompressedArchiveSize: result.tar.archiveSize,
    toc,
    compressionAlgorithm: opts.compression,
    maxSpanId: result.spanDigests.length - 1,
    spanDigests: result.spanDigests,
    zinfo: result.zinfo,
  };
  const bytes = encodeZtoc(ztoc);
  return { ztoc, bytes, digest: sha256Digest(bytes), size: bytes.length, blobDigest, blobSize: offset, warnings };
}

const BLOB_MISMATCH_HINT = "The blob does not match its descriptor; fetch the layer again";

/**
 * True for the error `buildZtoc` throws when the blob does not match
 * `expectedDigest`/`expectedSize` (also after the error crossed a worker
 * boundary: it is recognised by its hint). Any other FormatError from a build
 * with `expectedDigest` set is about the content of a matching blob.
 */
export function isBlobMismatch(e: unknown): boolean {
  return e instanceof FormatError && e.hint === BLOB_MISMATCH_HINT;
}

const sizeErrors = new WeakSet<FormatError>();

function checkSize(opts: BuildZtocOptions, size: number, atEnd: boolean): void {
  const want = opts.expectedSize;
  if (want === undefined || (atEnd ? size === want : size <= want)) return;
  const e = new FormatError(`Cannot build zTOC: the layer blob is ${atEnd ? "" : "more than "}${size} bytes, expected ${want}`, { source: opts.source }, {
    hint: BLOB_MISMATCH_HINT,
  });
  sizeErrors.add(e);
  throw e;
}

function digestMismatch(opts: BuildZtocOptions, actual: string, cause?: unknown): FormatError {
  return new FormatError(`Cannot build zTOC: the layer blob has digest ${actual}, expected ${opts.expectedDigest}`, { source: opts.source }, {
    hint: BLOB_MISMATCH_HINT,
    cause,
  });
}

/** Hashes the rest of the blob; throws a digest mismatch (caused by `parseError`) if it does not match. */
async function explainByDigest(iterator: AsyncIterator<Uint8Array>, hash: Sha256, opts: BuildZtocOptions, parseError: FormatError): Promise<void> {
  if (opts.expectedSize !== undefined && hash.size > opts.expectedSize) throw digestMismatch(opts, "(not computed: the blob is too long)", parseError);
  for (;;) {
    const next = await iterator.next();
    if (next.done) break;
    hash.update(next.value);
    if (opts.expectedSize !== undefined && hash.size > opts.expectedSize) break;
  }
  const actual = hash.digest();
  if (actual !== opts.expectedDigest) throw digestMismatch(opts, actual, parseError);
}
