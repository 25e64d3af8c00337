/**
 * PAX extended-header records with Go `archive/tar` semantics (formats §3.5):
 * `"<len> <key>=<value>\n"` records, binary-safe values, last occurrence of a
 * key wins, GNU sparse 0.0 `offset`/`numbytes` pairs folded into one
 * `GNU.sparse.map` record, and the merge of well-known keys into the header
 * (`mergePAX`). Keys are kept as bytes; a latin1 string of the key (one
 * char per byte) indexes them.
 */
import { binaryString, fromBinaryString } from "../bytes/mod.ts";
import { parseGoInt, parseGoNumber } from "./_numbers.ts";

export interface PaxRecord {
  key: Uint8Array;
  value: Uint8Array;
}


/** PAX records of one extended header, in first-seen order, last value wins. */
export class PaxRecords {
  readonly #index = new Map<string, number>();
  readonly list: PaxRecord[] = [];

  set(key: Uint8Array, value: Uint8Array): void {
    const k = binaryString(key);
    const i = this.#index.get(k);
    if (i === undefined) {
      this.#index.set(k, this.list.length);
      this.list.push({ key, value });
    } else {
      this.list[i] = { key, value };
    }
  }

  /** The value for an ASCII key, if present. */
  get(key: string): Uint8Array | undefined {
    const i = this.#index.get(key);
    return i === undefined ? undefined : this.list[i].value;
  }

  /** Like Go's map lookup: "" when absent. */
  text(key: string): string {
    const v = this.get(key);
    return v === undefined ? "" : binaryString(v);
  }
}

const SP = 0x20;
const NL = 0x0a;
const EQ = 0x3d;
const COMMA = 0x2c;

/** Keys whose values must not contain NUL (Go `validPAXRecord`). */
const NUL_FREE_VALUES = new Set(["path", "linkpath", "uname", "gname"]);

/** Go `parsePAX` over the extended header's data. Returns the records or a problem. */
export function parsePax(buf: Uint8Array): PaxRecords | string {
  const records = new PaxRecords();
  const sparseMap: Uint8Array[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const sp = buf.indexOf(SP, pos);
    if (sp < 0) return "PAX record without a length";
    const n = parseGoInt(buf, pos, sp);
    if (n === null || n < 5n || n > BigInt(buf.length - pos)) return "PAX record with a bad length";
    const recEnd = pos + Number(n); // one past the newline
    if (recEnd - 1 <= sp) return "PAX record with a bad length";
    if (buf[recEnd - 1] !== NL) return "PAX record not ending in a newline";
    const eq = buf.subarray(sp + 1, recEnd - 1).indexOf(EQ);
    if (eq < 0) return "PAX record without '='";
    const key = buf.subarray(sp + 1, sp + 1 + eq);
    const value = buf.subarray(sp + 2 + eq, recEnd - 1);
    const keyText = binaryString(key);
    if (key.length === 0) return "PAX record with an empty key";
    if (NUL_FREE_VALUES.has(keyText) ? value.includes(0) : key.includes(0)) return `PAX record ${JSON.stringify(keyText)} contains NUL`;
    pos = recEnd;
    if (keyText === "GNU.sparse.offset" || keyText === "GNU.sparse.numbytes") {
      const wanted = sparseMap.length % 2 === 0 ? "GNU.sparse.offset" : "GNU.sparse.numbytes";
      if (keyText !== wanted || value.includes(COMMA)) return "GNU sparse 0.0 records out of order";
      sparseMap.push(value);
    } else {
      records.set(key.slice(), value.slice());
    }
  }
  if (sparseMap.length > 0) records.set(fromBinaryString("GNU.sparse.map"), fromBinaryString(sparseMap.map(binaryString).join(",")));
  return records;
}

/** The header fields a PAX merge may change. */
export interface MergeTarget {
  name: Uint8Array;
  linkname: Uint8Array;
  uname: Uint8Array;
  gname: Uint8Array;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  mtimeNanos: number;
}

/**
 * Go `mergePAX`: non-empty values of the well-known keys override the header;
 * uid/gid/size must be decimal int64 and the three times valid PAX times.
 * Returns a problem string or null.
 */
export function mergePax(target: MergeTarget, records: PaxRecords): string | null {
  for (const { key, value } of records.list) {
    if (value.length === 0) continue; // keeps the header value
    const k = binaryString(key);
    switch (k) {
      case "path": target.name = value; break;
      case "linkpath": target.linkname = value; break;
      case "uname": target.uname = value; break;
      case "gname": target.gname = value; break;
      case "uid":
      case "gid":
      case "size": {
        const r = parseGoNumber(value);
        if (!r.ok) return r.tooLarge ? `PAX ${k} is beyond 2^53` : `invalid PAX ${k}`;
        if (k === "size") target.size = r.value;
        else if (k === "uid") target.uid = r.value;
        else target.gid = r.value;
        break;
      }
      case "mtime":
      case "atime":
      case "ctime": {
        const t = parsePaxTime(value);
        if (t === null) return `invalid PAX ${k}`;
        if (k === "mtime") [target.mtime, target.mtimeNanos] = t;
        break;
      }
    }
  }
  return null;
}

/**
 * Go `parsePAXTime`: `[-]secs[.frac]`, the fraction right-padded or truncated
 * to nanoseconds; a negative value subtracts the fraction. Returns
 * [seconds, nanoseconds in 0..1e9) or null; seconds beyond 2^53 are ±Infinity.
 */
export function parsePaxTime(v: Uint8Array): [number, number] | null {
  const dot = v.indexOf(0x2e);
  const secs = parseGoInt(v, 0, dot < 0 ? v.length : dot);
  if (secs === null) return null;
  let nanos = 0n;
  if (dot >= 0 && dot + 1 < v.length) {
    let digits = "";
    for (let i = dot + 1; i < v.length; i++) {
      if (v[i] < 0x30 || v[i] > 0x39) return null;
      if (digits.length < 9) digits += String.fromCharCode(v[i]);
    }
    nanos = BigInt(digits.padEnd(9, "0"));
    if (v[0] === 0x2d) nanos = -nanos;
  }
  // time.Unix normalisation: floor the total to whole seconds.
  const total = secs * 1_000_000_000n + nanos;
  let sec = total / 1_000_000_000n;
  let ns = total % 1_000_000_000n;
  if (ns < 0n) {
    ns += 1_000_000_000n;
    sec -= 1n;
  }
  const seconds = sec > BigInt(Number.MAX_SAFE_INTEGER) ? Infinity : sec < BigInt(Number.MIN_SAFE_INTEGER) ? -Infinity : Number(sec);
  return [seconds, Number(ns)];
}
