/**
 * A bounds-checked FlatBuffers table reader for untrusted zTOC blobs. Every
 * offset is checked against the buffer before use; a violation throws
 * `FbError` with the position, which the codec turns into a FormatError.
 * Strings come back as raw bytes (copied), never decoded.
 *
 * Layout reminders: the buffer starts with a uoffset to the root table; a
 * table starts with an soffset back to its vtable; a vtable is
 * [u16 vtable bytes, u16 table bytes, u16 field offset per slot (0 = absent)];
 * reference fields hold a uoffset relative to the field; vectors and strings
 * start with a u32 element count.
 */

export class FbError extends Error {}

export class FbReader {
  readonly bytes: Uint8Array;
  readonly #view: DataView;

  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  #need(pos: number, n: number, what: string): void {
    if (!Number.isInteger(pos) || pos < 0 || n < 0 || pos + n > this.bytes.length) {
      throw new FbError(`${what} at ${pos} (${n} bytes) is outside the ${this.bytes.length}-byte buffer`);
    }
  }

  u8(pos: number): number {
    this.#need(pos, 1, "byte");
    return this.bytes[pos];
  }
  i8(pos: number): number {
    this.#need(pos, 1, "int8");
    return this.#view.getInt8(pos);
  }
  u16(pos: number): number {
    this.#need(pos, 2, "uint16");
    return this.#view.getUint16(pos, true);
  }
  u32(pos: number): number {
    this.#need(pos, 4, "uint32");
    return this.#view.getUint32(pos, true);
  }
  i32(pos: number): number {
    this.#need(pos, 4, "int32");
    return this.#view.getInt32(pos, true);
  }
  i64(pos: number, what: string): number {
    this.#need(pos, 8, what);
    const v = this.#view.getBigInt64(pos, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) throw new FbError(`${what} ${v} is beyond 2^53`);
    return Number(v);
  }

  /** The root table. */
  root(): FbTable {
    return this.table(this.u32(0), "root table");
  }

  table(pos: number, what: string): FbTable {
    this.#need(pos, 4, what);
    const vtable = pos - this.i32(pos);
    this.#need(vtable, 4, `${what} vtable`);
    const vtableSize = this.u16(vtable);
    const tableSize = this.u16(vtable + 2);
    if (vtableSize < 4 || vtableSize % 2 !== 0) throw new FbError(`${what} vtable at ${vtable} has a bad size ${vtableSize}`);
    this.#need(vtable, vtableSize, `${what} vtable`);
    if (tableSize < 4) throw new FbError(`${what} at ${pos} has a bad size ${tableSize}`);
    this.#need(pos, tableSize, what);
    return new FbTable(this, pos, vtable, vtableSize, tableSize, what);
  }

  /** Target of the uoffset stored at `pos`. */
  deref(pos: number): number {
    return pos + this.u32(pos);
  }

  /** [start, count] of a vector at `pos` with `elemSize`-byte elements. */
  vector(pos: number, elemSize: number, what: string): [number, number] {
    const count = this.u32(pos);
    this.#need(pos + 4, count * elemSize, what);
    return [pos + 4, count];
  }

  /** A copy of the string (raw bytes) at `pos`; its NUL terminator must be in the buffer. */
  string(pos: number, what: string): Uint8Array {
    const [start, count] = this.vector(pos, 1, what);
    this.#need(start + count, 1, `${what} terminator`);
    return this.bytes.slice(start, start + count);
  }

  /** A copy of the byte vector at `pos`. */
  byteVector(pos: number, what: string): Uint8Array {
    const [start, count] = this.vector(pos, 1, what);
    return this.bytes.slice(start, start + count);
  }
}

export class FbTable {
  constructor(
    readonly r: FbReader,
    readonly pos: number,
    readonly vtable: number,
    readonly vtableSize: number,
    readonly tableSize: number,
    readonly what: string,
  ) {}

  /** Absolute position of field `slot` holding `size` bytes, or -1 when absent. */
  field(slot: number, size: number): number {
    const entry = 4 + 2 * slot;
    if (entry + 2 > this.vtableSize) return -1;
    const off = this.r.u16(this.vtable + entry);
    if (off === 0) return -1;
    if (off < 4 || off + size > this.tableSize) throw new FbError(`${this.what} field ${slot} at offset ${off} overruns the table`);
    return this.pos + off;
  }

  i64(slot: number, name: string): number {
    const p = this.field(slot, 8);
    return p < 0 ? 0 : this.r.i64(p, `${this.what}.${name}`);
  }
  i32(slot: number): number {
    const p = this.field(slot, 4);
    return p < 0 ? 0 : this.r.i32(p);
  }
  u32(slot: number): number {
    const p = this.field(slot, 4);
    return p < 0 ? 0 : this.r.u32(p);
  }
  i8(slot: number, dflt: number): number {
    const p = this.field(slot, 1);
    return p < 0 ? dflt : this.r.i8(p);
  }
  /** Raw string bytes; empty when absent. */
  string(slot: number, name: string): Uint8Array {
    const p = this.field(slot, 4);
    return p < 0 ? new Uint8Array(0) : this.r.string(this.r.deref(p), `${this.what}.${name}`);
  }
  table(slot: number, name: string): FbTable | null {
    const p = this.field(slot, 4);
    return p < 0 ? null : this.r.table(this.r.deref(p), `${this.what}.${name}`);
  }
  /** Tables of a vector of tables; empty when absent. */
  tables(slot: number, name: string, maxCount: number): FbTable[] {
    const p = this.field(slot, 4);
    if (p < 0) return [];
    const [start, count] = this.r.vector(this.r.deref(p), 4, `${this.what}.${name}`);
    if (count > maxCount) throw new FbError(`${this.what}.${name} has ${count} elements, more than ${maxCount}`);
    const out: FbTable[] = new Array(count);
    for (let i = 0; i < count; i++) out[i] = this.r.table(this.r.deref(start + 4 * i), `${this.what}.${name}[${i}]`);
    return out;
  }
  /** Raw strings of a vector of strings; empty when absent. */
  strings(slot: number, name: string): Uint8Array[] {
    const p = this.field(slot, 4);
    if (p < 0) return [];
    const [start, count] = this.r.vector(this.r.deref(p), 4, `${this.what}.${name}`);
    const out: Uint8Array[] = new Array(count);
    for (let i = 0; i < count; i++) out[i] = this.r.string(this.r.deref(start + 4 * i), `${this.what}.${name}[${i}]`);
    return out;
  }
  /** A copy of a byte vector; empty when absent. */
  bytes(slot: number, name: string): Uint8Array {
    const p = this.field(slot, 4);
    return p < 0 ? new Uint8Array(0) : this.r.byteVector(this.r.deref(p), `${this.what}.${name}`);
  }
}
