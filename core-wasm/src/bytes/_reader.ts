/**
 * A position over a `Uint8Array` with little-endian reads. Reading past the end
 * throws `RangeError` with the offset, so codecs can turn it into a FormatError.
 */
export class ByteReader {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  pos: number;

  constructor(bytes: Uint8Array, pos = 0) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = pos;
  }

  get remaining(): number {
    return this.bytes.length - this.pos;
  }

  #need(n: number): number {
    if (n < 0 || this.pos + n > this.bytes.length) {
      throw new RangeError(`read of ${n} bytes at offset ${this.pos} overruns ${this.bytes.length}-byte buffer`);
    }
    const p = this.pos;
    this.pos += n;
    return p;
  }

  u8(): number {
    return this.bytes[this.#need(1)];
  }
  u16(): number {
    return this.view.getUint16(this.#need(2), true);
  }
  u32(): number {
    return this.view.getUint32(this.#need(4), true);
  }
  i32(): number {
    return this.view.getInt32(this.#need(4), true);
  }
  /** int64 as a JS number; throws RangeError beyond 2^53. */
  i64(): number {
    const v = this.view.getBigInt64(this.#need(8), true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw new RangeError(`int64 ${v} at offset ${this.pos - 8} is outside the safe integer range`);
    }
    return Number(v);
  }
  take(n: number): Uint8Array {
    const p = this.#need(n);
    return this.bytes.subarray(p, p + n);
  }
}
