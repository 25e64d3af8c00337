/**
 * Byte helpers used everywhere: hex, SHA-256 digests, concatenation, byte-wise
 * comparison and a bounds-checked little-endian cursor (STYLE §9.12).
 *
 * Digests follow formats §0: `sha256:` + 64 lowercase hex of the exact bytes.
 * Hashing goes through `node:crypto`, which Node, Bun and Deno all provide.
 */
import { createHash, type Hash } from "node:crypto";

export { ByteReader } from "./_reader.ts";

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

export function toHex(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += HEX[bytes[i]];
  return s;
}

export function fromHex(hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || /[^0-9a-fA-F]/.test(hex)) throw new RangeError(`invalid hex string of length ${hex.length}`);
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** `sha256:<hex>` of `bytes`. */
export function sha256Digest(bytes: Uint8Array): string {
  return "sha256:" + createHash("sha256").update(bytes).digest("hex");
}

/** Incremental SHA-256 that yields a `sha256:<hex>` digest string. */
export class Sha256 {
  #h: Hash = createHash("sha256");
  #size = 0;
  update(bytes: Uint8Array): this {
    this.#h.update(bytes);
    this.#size += bytes.length;
    return this;
  }
  /** Bytes hashed so far. */
  get size(): number {
    return this.#size;
  }
  digest(): string {
    return "sha256:" + this.#h.digest("hex");
  }
}

export const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

export function isDigest(s: string): boolean {
  return DIGEST_RE.test(s);
}

export function concatBytes(chunks: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const c of chunks) n += c.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

/** Byte-wise comparison, like Go's `bytes.Compare` / string `<`. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: false });

/** One char per byte: a lossless, byte-order-sortable string for arbitrary bytes (map keys, raw names). */
export function binaryString(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i += 4096) s += String.fromCharCode(...b.subarray(i, i + 4096));
  return s;
}

/** The bytes of a `binaryString` (each char's code, 0–255). */
export function fromBinaryString(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
  return b;
}

export function utf8(s: string): Uint8Array {
  return encoder.encode(s);
}

/** For display only: invalid UTF-8 becomes U+FFFD (formats §2.4: keep raw bytes otherwise). */
export function displayText(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}
