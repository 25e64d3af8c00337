/**
 * Test helpers: a fake `FuseTransport` (requests queued in, replies captured)
 * and encoders for the kernel's side of the protocol, built field by field so
 * tests read like the layouts in structs.ts. Test-only.
 */
import { ByteReader } from "../../core-wasm/src/bytes/mod.ts";
import type { FuseTransport } from "./server.ts";
import { IN_HEADER_SIZE, OUT_HEADER_SIZE } from "./structs.ts";

export class FakeTransport implements FuseTransport {
  readonly replies: Uint8Array[] = [];
  #queue: Uint8Array[] = [];
  #waiter: ((b: Uint8Array | null) => void) | null = null;
  #ended = false;
  /** Make write() throw an error with this code (e.g. "ENOENT"). */
  failWrites: string | null = null;

  push(req: Uint8Array): void {
    if (this.#waiter) {
      const w = this.#waiter;
      this.#waiter = null;
      w(req);
    } else this.#queue.push(req);
  }

  end(): void {
    this.#ended = true;
    if (this.#waiter) this.#waiter(null);
    this.#waiter = null;
  }

  next(): Promise<Uint8Array | null> {
    const b = this.#queue.shift();
    if (b) return Promise.resolve(b);
    if (this.#ended) return Promise.resolve(null);
    return new Promise((r) => (this.#waiter = r));
  }

  write(reply: Uint8Array): void {
    if (this.failWrites) throw Object.assign(new Error(`fake write failure ${this.failWrites}`), { code: this.failWrites });
    this.replies.push(reply.slice());
  }
}

let nextUnique = 100n;

/**
 * A request: fuse_in_header (len, opcode, unique, nodeid, uid 0, gid 0, pid 42,
 * total_extlen 0) followed by `body`.
 */
export function request(opcode: number, nodeid: number, body: Uint8Array = new Uint8Array(0), unique = (nextUnique += 2n)): Uint8Array {
  const b = new Uint8Array(IN_HEADER_SIZE + body.length);
  const v = new DataView(b.buffer);
  v.setUint32(0, b.length, true); // len
  v.setUint32(4, opcode, true); // opcode
  v.setBigUint64(8, unique, true); // unique
  v.setBigUint64(16, BigInt(nodeid), true); // nodeid
  v.setUint32(24, 0, true); // uid
  v.setUint32(28, 0, true); // gid
  v.setUint32(32, 42, true); // pid
  b.set(body, IN_HEADER_SIZE);
  return b;
}

/** Little-endian body builder: `le(["u32", 7], ["u64", 1], ["bytes", name])`. */
export function le(...fields: ([("u16" | "u32" | "u64"), number | bigint] | ["bytes", Uint8Array])[]): Uint8Array {
  let n = 0;
  for (const [t, val] of fields) n += t === "u16" ? 2 : t === "u32" ? 4 : t === "u64" ? 8 : (val as Uint8Array).length;
  const b = new Uint8Array(n);
  const v = new DataView(b.buffer);
  let o = 0;
  for (const [t, val] of fields) {
    if (t === "u16") (v.setUint16(o, Number(val), true), (o += 2));
    else if (t === "u32") (v.setUint32(o, Number(val), true), (o += 4));
    else if (t === "u64") (v.setBigUint64(o, BigInt(val as number), true), (o += 8));
    else (b.set(val as Uint8Array, o), (o += (val as Uint8Array).length));
  }
  return b;
}

/** NUL-terminated name bytes. */
export function cname(s: string): Uint8Array {
  return new TextEncoder().encode(s + "\0");
}

export interface DecodedReply {
  len: number;
  error: number;
  unique: bigint;
  body: ByteReader;
}

export function decodeReply(b: Uint8Array): DecodedReply {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return { len: v.getUint32(0, true), error: v.getInt32(4, true), unique: v.getBigUint64(8, true), body: new ByteReader(b.subarray(OUT_HEADER_SIZE)) };
}
