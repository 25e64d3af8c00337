/**
 * Reading uncompressed bytes of a layer through its zTOC (formats §6): find
 * the spans covering the range, fetch their compressed bytes in one request,
 * check each span against its digest, then inflate from the first span's
 * checkpoint (gzip) or slice (uncompressed layers). Also the `ztoc get-file`
 * helper: a whole file by its raw TOC name, hardlinks followed.
 *
 * Not here: caching or per-span fetching (the snapshotter's spans/).
 */
import { displayText, equalBytes, sha256Digest } from "../bytes/mod.ts";
import { FormatError, NotFoundError } from "../errors.ts";
import { decodeTarZinfo, decodeZinfo, gzipSpanTable, inflateSpan, tarSpanTable, type GzipZinfo, type SpanTable } from "../gzip/mod.ts";
import type { TocEntry, Ztoc } from "./model.ts";

/** Fetches compressed bytes [start, end) of the layer blob. */
export type FetchCompressed = (start: number, end: number) => Promise<Uint8Array>;

interface Spans {
  table: SpanTable;
  spanSize: number;
  gzip: GzipZinfo | null;
}

const spansCache = new WeakMap<Ztoc, Spans>();

/** The span table of `z` (decoded once per Ztoc object). Throws FormatError for a bad zinfo. */
export function ztocSpans(z: Ztoc): Spans {
  let s = spansCache.get(z);
  if (s === undefined) {
    try {
      if (z.compressionAlgorithm === "gzip") {
        const gzip = decodeZinfo(z.zinfo);
        s = { table: gzipSpanTable(gzip, z.compressedArchiveSize, z.uncompressedArchiveSize), spanSize: gzip.spanSize, gzip };
      } else {
        const tar = decodeTarZinfo(z.zinfo);
        s = { table: tarSpanTable(tar.spanSize, tar.size, z.uncompressedArchiveSize), spanSize: tar.spanSize, gzip: null };
      }
    } catch (e) {
      if (e instanceof FormatError) throw e;
      throw new FormatError(`Cannot use zTOC: its zinfo is invalid: ${e instanceof Error ? e.message : String(e)}`, {}, { cause: e });
    }
    if (s.table.spanCount !== z.spanDigests.length) {
      throw new FormatError(`Cannot use zTOC: ${z.spanDigests.length} span digests for ${s.table.spanCount} spans`);
    }
    spansCache.set(z, s);
  }
  return s;
}

/**
 * Reads [offset, offset + length) of the uncompressed layer. `fetchCompressed`
 * is called once. Throws RangeError for a range outside the archive
 * (uncompressed_archive_size, or the blob for uncompressed layers),
 * FormatError when fetched bytes have the wrong length or fail their span
 * digest, or when the data does not inflate.
 */
export async function readUncompressed(z: Ztoc, fetchCompressed: FetchCompressed, offset: number, length: number): Promise<Uint8Array> {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new RangeError(`offset ${offset} and length ${length} must be non-negative integers`);
  }
  const limit = z.compressionAlgorithm === "gzip" ? z.uncompressedArchiveSize : z.compressedArchiveSize;
  if (offset + length > limit) throw new RangeError(`range [${offset}, ${offset + length}) is outside the ${limit}-byte archive`);
  if (length === 0) return new Uint8Array(0);
  const { table, gzip } = ztocSpans(z);
  const first = table.spanFor(offset);
  const last = table.spanFor(offset + length - 1);
  const start = table.compressedRange(first)[0];
  const end = table.compressedRange(last)[1];
  const data = await fetchCompressed(start, end);
  if (data.length !== end - start) throw new FormatError(`Cannot read layer: fetched ${data.length} bytes for compressed range [${start}, ${end})`);
  for (let i = first; i <= last; i++) {
    const [a, b] = table.compressedRange(i);
    const digest = sha256Digest(data.subarray(a - start, b - start));
    if (digest !== z.spanDigests[i]) {
      throw new FormatError(`Cannot read layer: span ${i} has digest ${digest}, expected ${z.spanDigests[i]}`, { compressedOffset: a });
    }
  }
  if (gzip === null) return data.slice(offset - start, offset - start + length);
  const cp = gzip.checkpoints[first];
  return inflateSpan(cp, data, offset - cp.out, length);
}

function cleanPath(name: Uint8Array): string {
  return displayText(name).replace(/^(\.\/|\/)+/, "").replace(/\/+$/, "");
}

/**
 * The entry named exactly `name` (raw bytes; the first match), with hardlinks
 * resolved to their target (by exact name, else by cleaned path). Throws
 * NotFoundError when there is none or a link leads nowhere or loops.
 */
export function findTocFile(z: Ztoc, name: Uint8Array): TocEntry {
  let entry = z.toc.find((e) => equalBytes(e.name, name));
  if (entry === undefined) {
    throw new NotFoundError(`Cannot find ${JSON.stringify(displayText(name))} in the zTOC: no entry has that name`, {
      hint: "Names match the tar exactly, including any leading \"./\" or \"/\"",
    });
  }
  for (let hops = 0; entry.type === "hardlink"; hops++) {
    const link: TocEntry = entry;
    const target = z.toc.find((e) => equalBytes(e.name, link.linkname)) ?? z.toc.find((e) => e !== link && cleanPath(e.name) === cleanPath(link.linkname));
    if (target === undefined || hops >= 64) {
      throw new NotFoundError(`Cannot read ${JSON.stringify(displayText(name))}: hardlink target ${JSON.stringify(displayText(link.linkname))} is not in the zTOC`);
    }
    entry = target;
  }
  return entry;
}

/** The content of the file named `name` (see `findTocFile`); empty for anything but a regular file. */
export async function readTocFile(z: Ztoc, fetchCompressed: FetchCompressed, name: Uint8Array): Promise<Uint8Array> {
  const e = findTocFile(z, name);
  if (e.type !== "reg") return new Uint8Array(0);
  return readUncompressed(z, fetchCompressed, e.uncompressedOffset, e.uncompressedSize);
}
