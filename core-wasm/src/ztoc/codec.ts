/**
 * zTOC FlatBuffers codec (formats §2). `encodeZtoc` adds objects and fields in
 * upstream's exact order (formats §2.4) so npm `flatbuffers` produces the
 * bytes upstream's Go builder does (SAME-BYTES): root strings first, TOC
 * entries from last to first (each: its six strings, its PAX records sorted by
 * key bytes, the xattr vector — always, even empty — then the table in slot
 * order), the TOC, the checkpoints bytes, the span digest strings, the
 * compression info (`max_span_id` 0 and algorithm Gzip elided as defaults),
 * and the root with `toc` added before the two sizes.
 *
 * `decodeZtoc` reads with bounds checks (_fb_reader.ts); strings stay bytes.
 *
 * Not here: building a TOC from a layer (build_ztoc.ts), zinfo contents (gzip/).
 */
import { Builder, ByteBuffer } from "flatbuffers";
import { compareBytes, isDigest, utf8 } from "../bytes/mod.ts";
import { FormatError } from "../errors.ts";
import { keepMethodsOutOfFtl, keepOutOfFtl } from "../runtime/mod.ts";
import { FbError, FbReader, type FbTable } from "./_fb_reader.ts";
import { TOC_ENTRY_TYPES, type CompressionAlgorithm, type TocEntry, type TocEntryType, type Xattr, type Ztoc } from "./model.ts";

const ALGORITHM_CODE: Record<CompressionAlgorithm, number> = { gzip: 1, uncompressed: 2 };
const TYPE_BYTES = new Map<TocEntryType, Uint8Array>(TOC_ENTRY_TYPES.map((t) => [t, utf8(t)]));

function int64(v: number, what: string): bigint {
  if (!Number.isSafeInteger(v)) throw new RangeError(`${what} ${v} is not a safe integer`);
  return BigInt(v);
}

function sortedXattrs(xattrs: Xattr[]): Xattr[] {
  for (let i = 1; i < xattrs.length; i++) if (compareBytes(xattrs[i - 1].key, xattrs[i].key) > 0) return [...xattrs].sort((a, b) => compareBytes(a.key, b.key));
  return xattrs;
}

function addEntry(b: Builder, e: TocEntry): number {
  const type = TYPE_BYTES.get(e.type);
  if (type === undefined) throw new RangeError(`unknown TOC entry type ${JSON.stringify(e.type)}`);
  const name = b.createString(e.name);
  const t = b.createString(type);
  const linkname = b.createString(e.linkname);
  const uname = b.createString(e.uname);
  const gname = b.createString(e.gname);
  const modTime = b.createString(e.modTime);
  const xattrs = sortedXattrs(e.xattrs).map((x) => {
    const key = b.createString(x.key);
    const value = b.createString(x.value);
    b.startObject(2);
    b.addFieldOffset(0, key, 0);
    b.addFieldOffset(1, value, 0);
    return b.endObject();
  });
  b.startVector(4, xattrs.length, 4);
  for (let i = xattrs.length - 1; i >= 0; i--) b.addOffset(xattrs[i]);
  const xattrVector = b.endVector();
  b.startObject(14);
  b.addFieldOffset(0, name, 0);
  b.addFieldOffset(1, t, 0);
  b.addFieldInt64(2, int64(e.uncompressedOffset, "uncompressed offset"), 0n);
  b.addFieldInt64(3, int64(e.uncompressedSize, "uncompressed size"), 0n);
  b.addFieldOffset(4, linkname, 0);
  b.addFieldInt64(5, int64(e.mode, "mode"), 0n);
  b.addFieldInt32(6, e.uid >>> 0, 0);
  b.addFieldInt32(7, e.gid >>> 0, 0);
  b.addFieldOffset(8, uname, 0);
  b.addFieldOffset(9, gname, 0);
  b.addFieldOffset(10, modTime, 0);
  b.addFieldInt64(11, int64(e.devmajor, "devmajor"), 0n);
  b.addFieldInt64(12, int64(e.devminor, "devminor"), 0n);
  b.addFieldOffset(13, xattrVector, 0);
  return b.endObject();
}

// Hot for a few hundred ms per conversion; FTL compiles would not pay back (runtime/jit_hints.ts).
keepMethodsOutOfFtl(Builder.prototype, ByteBuffer.prototype);
keepOutOfFtl(sortedXattrs, addEntry, int64);

/**
 * The zTOC blob for `z`, byte-identical to upstream's for the same values.
 * Throws RangeError for values the schema cannot hold (unsafe integers,
 * unknown type or algorithm, `maxSpanId` outside int32). The result is a
 * fresh, tightly sized array.
 */
export function encodeZtoc(z: Ztoc): Uint8Array {
  const algorithm = ALGORITHM_CODE[z.compressionAlgorithm];
  if (algorithm === undefined) throw new RangeError(`unknown compression algorithm ${JSON.stringify(z.compressionAlgorithm)}`);
  if (!Number.isInteger(z.maxSpanId) || z.maxSpanId < -(2 ** 31) || z.maxSpanId >= 2 ** 31) throw new RangeError(`max span id ${z.maxSpanId} is not an int32`);
  const b = new Builder(Math.max(1024, z.zinfo.length + 256 * z.toc.length + 96 * z.spanDigests.length + 256));
  const version = b.createString(utf8(z.version));
  const tool = b.createString(utf8(z.buildToolIdentifier));
  const entries: number[] = new Array(z.toc.length);
  for (let i = z.toc.length - 1; i >= 0; i--) entries[i] = addEntry(b, z.toc[i]);
  b.startVector(4, entries.length, 4);
  for (let i = entries.length - 1; i >= 0; i--) b.addOffset(entries[i]);
  const metadata = b.endVector();
  b.startObject(1);
  b.addFieldOffset(0, metadata, 0);
  const toc = b.endObject();
  const checkpoints = b.createByteVector(z.zinfo);
  const digests = z.spanDigests.map((d) => b.createString(utf8(d)));
  b.startVector(4, digests.length, 4);
  for (let i = digests.length - 1; i >= 0; i--) b.addOffset(digests[i]);
  const digestVector = b.endVector();
  b.startObject(4);
  b.addFieldInt32(1, z.maxSpanId, 0);
  b.addFieldOffset(2, digestVector, 0);
  b.addFieldOffset(3, checkpoints, 0);
  b.addFieldInt8(0, algorithm, 1);
  const compressionInfo = b.endObject();
  b.startObject(6);
  b.addFieldOffset(0, version, 0);
  b.addFieldOffset(1, tool, 0);
  b.addFieldOffset(4, toc, 0);
  b.addFieldInt64(2, int64(z.compressedArchiveSize, "compressed archive size"), 0n);
  b.addFieldInt64(3, int64(z.uncompressedArchiveSize, "uncompressed archive size"), 0n);
  b.addFieldOffset(5, compressionInfo, 0);
  b.finish(b.endObject());
  return b.asUint8Array().slice();
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
const TYPE_BY_TEXT = new Map<string, TocEntryType>(TOC_ENTRY_TYPES.map((t) => [t, t]));

function text(bytes: Uint8Array, what: string): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw new FbError(`${what} is not valid UTF-8`);
  }
}

function decodeEntry(t: FbTable, i: number, maxCount: number): TocEntry {
  const typeText = text(t.string(1, "type"), `entry ${i} type`);
  const type = TYPE_BY_TEXT.get(typeText);
  if (type === undefined) throw new FbError(`entry ${i} has an unknown type ${JSON.stringify(typeText)}`);
  const e: TocEntry = {
    name: t.string(0, "name"),
    type,
    uncompressedOffset: t.i64(2, "uncompressed_offset"),
    uncompressedSize: t.i64(3, "uncompressed_size"),
    linkname: t.string(4, "linkname"),
    mode: t.i64(5, "mode"),
    uid: t.u32(6),
    gid: t.u32(7),
    uname: t.string(8, "uname"),
    gname: t.string(9, "gname"),
    modTime: t.string(10, "mod_time"),
    devmajor: t.i64(11, "devmajor"),
    devminor: t.i64(12, "devminor"),
    xattrs: t.tables(13, "xattrs", maxCount).map((x) => ({ key: x.string(0, "key"), value: x.string(1, "value") })),
  };
  if (e.uncompressedOffset < 0) throw new FbError(`entry ${i} has a negative uncompressed offset`);
  return e;
}

/**
 * Decodes a zTOC blob. Throws FormatError (naming `source` when given) for a
 * blob that is not a well-formed zTOC: offsets outside the buffer, bad vtables,
 * sizes beyond 2^53 or negative, an unknown entry type or compression
 * algorithm, a span digest that is not `sha256:<hex>`, or non-UTF-8 version
 * strings. Every returned array is a copy.
 */
export function decodeZtoc(bytes: Uint8Array, source?: string): Ztoc {
  try {
    const r = new FbReader(bytes);
    const root = r.root();
    const maxCount = Math.floor(bytes.length / 4); // every element needs at least a 4-byte offset
    const tocTable = root.table(4, "toc");
    const info = root.table(5, "compression_info");
    if (tocTable === null) throw new FbError("the toc table is missing");
    if (info === null) throw new FbError("the compression_info table is missing");
    const code = info.i8(0, 1);
    const compressionAlgorithm: CompressionAlgorithm | undefined = code === 1 ? "gzip" : code === 2 ? "uncompressed" : undefined;
    if (compressionAlgorithm === undefined) throw new FbError(`unexpected compression algorithm ${code}`);
    const z: Ztoc = {
      version: text(root.string(0, "version"), "version"),
      buildToolIdentifier: text(root.string(1, "build_tool_identifier"), "build_tool_identifier"),
      compressedArchiveSize: root.i64(2, "compressed_archive_size"),
      uncompressedArchiveSize: root.i64(3, "uncompressed_archive_size"),
      toc: tocTable.tables(0, "metadata", maxCount).map((t, i) => decodeEntry(t, i, maxCount)),
      compressionAlgorithm,
      maxSpanId: info.i32(1),
      spanDigests: info.strings(2, "span_digests").map((d, i) => {
        const s = text(d, `span digest ${i}`);
        if (!isDigest(s)) throw new FbError(`span digest ${i} ${JSON.stringify(s.slice(0, 80))} is not a sha256 digest`);
        return s;
      }),
      zinfo: info.bytes(3, "checkpoints"),
    };
    if (z.compressedArchiveSize < 0 || z.uncompressedArchiveSize < 0) throw new FbError("an archive size is negative");
    return z;
  } catch (e) {
    if (e instanceof FbError) throw new FormatError(`Cannot decode zTOC: ${e.message}`, { source }, { cause: e });
    throw e;
  }
}
