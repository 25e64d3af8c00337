/**
 * The gzip zinfo blob (formats §4.1–4.2): int32 N, int64 span size, then N
 * records of int64 in, int64 out, uint8 bits, 32768-byte window (v2). v1
 * blobs omit record 0, which is implied as {in 10, out 0, bits 0, zero
 * window}; the length tells them apart. We write v2 unless asked to
 * re-serialise a v1 blob.
 */
import { FormatError } from "../errors.ts";
import { ZINFO_WINDOW_SIZE, type Checkpoint, type GzipZinfo } from "./types.ts";

const HEADER_SIZE = 12;
const RECORD_SIZE = 8 + 8 + 1 + ZINFO_WINDOW_SIZE; // 32785

/**
 * Encodes checkpoints as a zinfo blob: v2 (formats §4.1), or v1 when
 * `version` is 1 (checkpoint 0 omitted; used to reproduce v1 bytes).
 * Throws RangeError on bad values (window size, bits, negative offsets).
 */
export function encodeZinfo(z: { spanSize: number; checkpoints: Checkpoint[]; version?: 1 | 2 }): Uint8Array {
  const cps = z.checkpoints;
  const skip = z.version === 1 ? 1 : 0;
  if (skip === 1 && cps.length === 0) throw new RangeError("a v1 zinfo needs checkpoint 0");
  const out = new Uint8Array(HEADER_SIZE + RECORD_SIZE * (cps.length - skip));
  const dv = new DataView(out.buffer);
  dv.setInt32(0, cps.length, true);
  dv.setBigInt64(4, BigInt(z.spanSize), true);
  for (let k = skip; k < cps.length; k++) {
    const cp = cps[k];
    if (cp.window.length !== ZINFO_WINDOW_SIZE) throw new RangeError(`checkpoint ${k} window is ${cp.window.length} bytes, not ${ZINFO_WINDOW_SIZE}`);
    if (!(cp.bits >= 0 && cp.bits <= 7)) throw new RangeError(`checkpoint ${k} bits ${cp.bits} outside 0..7`);
    if (!(Number.isSafeInteger(cp.in) && cp.in >= 0 && Number.isSafeInteger(cp.out) && cp.out >= 0)) {
      throw new RangeError(`checkpoint ${k} offsets in=${cp.in} out=${cp.out} must be non-negative integers`);
    }
    const p = HEADER_SIZE + RECORD_SIZE * (k - skip);
    dv.setBigInt64(p, BigInt(cp.in), true);
    dv.setBigInt64(p + 8, BigInt(cp.out), true);
    out[p + 16] = cp.bits;
    out.set(cp.window, p + 17);
  }
  return out;
}

/**
 * Decodes a v1 or v2 zinfo blob. Windows are copies (owned). Throws
 * FormatError for a blob of neither known length, a negative count or span,
 * offsets beyond 2^53, or bits outside 0..7.
 */
export function decodeZinfo(blob: Uint8Array): GzipZinfo {
  const fail = (what: string) => new FormatError(`Cannot decode zinfo: ${what}`, {}, { hint: "The zTOC is corrupt; rebuild it" });
  if (blob.length < HEADER_SIZE) throw fail(`blob of ${blob.length} bytes is shorter than its 12-byte header`);
  const dv = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  const n = dv.getInt32(0, true);
  const span = dv.getBigInt64(4, true);
  if (n < 0) throw fail(`negative checkpoint count ${n}`);
  if (span < 0n || span > BigInt(Number.MAX_SAFE_INTEGER)) throw fail(`span size ${span} out of range`);
  let version: 1 | 2;
  if (blob.length === HEADER_SIZE + RECORD_SIZE * n) version = 2;
  else if (n >= 1 && blob.length === HEADER_SIZE + RECORD_SIZE * (n - 1)) version = 1;
  else throw fail(`blob of ${blob.length} bytes is neither a v2 nor a v1 zinfo of ${n} checkpoints`);
  const checkpoints: Checkpoint[] = [];
  if (version === 1) checkpoints.push({ in: 10, out: 0, bits: 0, window: new Uint8Array(ZINFO_WINDOW_SIZE) });
  for (let p = HEADER_SIZE; p < blob.length; p += RECORD_SIZE) {
    const cin = dv.getBigInt64(p, true);
    const cout = dv.getBigInt64(p + 8, true);
    const bits = blob[p + 16];
    const k = checkpoints.length;
    if (cin < 0n || cout < 0n || cin > BigInt(Number.MAX_SAFE_INTEGER) || cout > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw fail(`checkpoint ${k} offsets in=${cin} out=${cout} out of range`);
    }
    if (bits > 7) throw fail(`checkpoint ${k} bits ${bits} outside 0..7`);
    checkpoints.push({ in: Number(cin), out: Number(cout), bits, window: blob.slice(p + 17, p + 17 + ZINFO_WINDOW_SIZE) });
  }
  return { version, spanSize: Number(span), checkpoints };
}
