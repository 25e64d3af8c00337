/**
 * TarZinfo (formats §5): the flatbuffer stored in place of checkpoints for
 * uncompressed layers — table zinfo.TarZinfo { version: int32 (slot 0),
 * span_size: int64 (1), size: int64 (2) }, built by adding version, span_size,
 * size in that order and finishing without an identifier (48 bytes when all
 * are non-zero, SAME-BYTES with upstream).
 */
import { Builder, ByteBuffer } from "flatbuffers";
import { FormatError } from "../errors.ts";

export const TAR_ZINFO_VERSION = 2;

/** Encodes a TarZinfo. Throws RangeError for negative or unsafe sizes. */
export function encodeTarZinfo(spanSize: number, size: number): Uint8Array {
  for (const v of [spanSize, size]) if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`TarZinfo value ${v} must be a non-negative integer`);
  const b = new Builder(64);
  b.startObject(3);
  b.addFieldInt32(0, TAR_ZINFO_VERSION, 0);
  b.addFieldInt64(1, BigInt(spanSize), 0n);
  b.addFieldInt64(2, BigInt(size), 0n);
  b.finish(b.endObject());
  return b.asUint8Array().slice();
}

/** Decodes a TarZinfo. Throws FormatError on a malformed buffer or out-of-range values. */
export function decodeTarZinfo(blob: Uint8Array): { version: number; spanSize: number; size: number } {
  const fail = (what: string) => new FormatError(`Cannot decode TarZinfo: ${what}`, {}, { hint: "The zTOC is corrupt; rebuild it" });
  try {
    if (blob.length < 8) throw fail(`buffer of ${blob.length} bytes is too short`);
    const bb = new ByteBuffer(blob);
    const table = bb.readUint32(0);
    const vtable = table - bb.readInt32(table);
    if (table + 4 > blob.length || vtable < 0 || vtable + 4 > blob.length) throw fail("root table out of bounds");
    const vtSize = bb.readUint16(vtable);
    const field = (slot: number): number => {
      const vo = 4 + 2 * slot;
      if (vo + 2 > vtSize || vtable + vo + 2 > blob.length) return 0;
      const off = bb.readUint16(vtable + vo);
      return off === 0 ? 0 : table + off;
    };
    const read64 = (p: number): number => {
      if (p === 0) return 0;
      if (p + 8 > blob.length) throw fail("field out of bounds");
      const v = bb.readInt64(p);
      if (v < 0n || v > BigInt(Number.MAX_SAFE_INTEGER)) throw fail(`value ${v} out of range`);
      return Number(v);
    };
    const vp = field(0);
    if (vp !== 0 && vp + 4 > blob.length) throw fail("field out of bounds");
    return { version: vp === 0 ? 0 : bb.readInt32(vp), spanSize: read64(field(1)), size: read64(field(2)) };
  } catch (e) {
    if (e instanceof FormatError) throw e;
    throw fail(e instanceof Error ? e.message : String(e));
  }
}
