/**
 * A small tar writer: USTAR headers, with a PAX extended header ('x') in front
 * when a value does not fit (name over 100 bytes that cannot be split at a '/'
 * into a 155-byte prefix, link target over 100 bytes, size or ids beyond the
 * octal fields, sub-second mtime) or when the caller passes PAX records.
 * Regular files, directories, symlinks, hardlinks, char/block devices and
 * fifos. Used for oci-archive output and to build test archives.
 *
 * `TarWriter` streams: it hands each piece (headers, data, padding, the end
 * marker) to a sink, so a large blob passes through without being copied into
 * one buffer. `writeTar` is the one-shot form.
 *
 * Not here: reading (tar_walker.ts), GNU long names or sparse files.
 */
import { concatBytes, utf8 } from "../bytes/mod.ts";

export type TarWriteType = "file" | "dir" | "symlink" | "hardlink" | "char" | "block" | "fifo";

export interface TarWriteEntry {
  /** Path as written (bytes are kept verbatim). */
  name: string | Uint8Array;
  type: TarWriteType;
  /** File data (type "file"); for streaming pass `size` and call `writeData` instead. */
  data?: Uint8Array;
  /** Data size when streaming; defaults to `data.length` (0 for other types). */
  size?: number;
  linkname?: string | Uint8Array;
  /** Permission bits (and any extra bits to store verbatim); default 0o644, dirs 0o755. */
  mode?: number;
  uid?: number;
  gid?: number;
  uname?: string;
  gname?: string;
  /** Seconds since the epoch (fractions go to a PAX `mtime`); default 0. */
  mtime?: number;
  devmajor?: number;
  devminor?: number;
  /** Extra PAX records (e.g. `SCHILY.xattr.*`), written in this order. */
  pax?: Array<[key: string, value: string | Uint8Array]>;
}

const TYPEFLAG: Record<TarWriteType, number> = { file: 0x30, hardlink: 0x31, symlink: 0x32, char: 0x33, block: 0x34, dir: 0x35, fifo: 0x36 };
const OCTAL_MAX_7 = 0o7777777;
const OCTAL_MAX_11 = 0o77777777777;

function bytesOf(v: string | Uint8Array): Uint8Array {
  return typeof v === "string" ? utf8(v) : v;
}

/** One PAX record: `"<len> <key>=<value>\n"`, where len counts itself. */
export function encodePaxRecord(key: string, value: string | Uint8Array): Uint8Array {
  const k = utf8(key);
  const v = bytesOf(value);
  const base = k.length + v.length + 3;
  let len = base + String(base).length;
  if (String(len).length !== String(base).length) len = base + String(len).length;
  return concatBytes([utf8(`${len} `), k, utf8("="), v, utf8("\n")]);
}

function putOctal(block: Uint8Array, off: number, width: number, value: number): void {
  const s = Math.trunc(value).toString(8).padStart(width - 1, "0");
  for (let i = 0; i < width - 1; i++) block[off + i] = s.charCodeAt(i);
  block[off + width - 1] = 0;
}

function putBytes(block: Uint8Array, off: number, width: number, b: Uint8Array): void {
  block.set(b.subarray(0, width), off);
}

/** Splits a long name into a USTAR prefix (≤155) and name (≤100) at a '/', or null. */
function splitUstar(name: Uint8Array): [Uint8Array, Uint8Array] | null {
  if (name.length <= 100) return [new Uint8Array(0), name];
  for (let i = Math.min(name.length - 1, 155); i > 0; i--) {
    if (name[i] === 0x2f && name.length - i - 1 <= 100 && name.length - i - 1 > 0) return [name.subarray(0, i), name.subarray(i + 1)];
  }
  return null;
}

function headerBlock(typeflag: number, name: Uint8Array, prefix: Uint8Array, f: Required<Omit<TarWriteEntry, "data" | "pax" | "name" | "type" | "linkname">> & { linkname: Uint8Array }): Uint8Array {
  const b = new Uint8Array(512);
  putBytes(b, 0, 100, name);
  putOctal(b, 100, 8, f.mode & OCTAL_MAX_7);
  putOctal(b, 108, 8, f.uid <= OCTAL_MAX_7 && f.uid >= 0 ? f.uid : 0);
  putOctal(b, 116, 8, f.gid <= OCTAL_MAX_7 && f.gid >= 0 ? f.gid : 0);
  putOctal(b, 124, 12, f.size <= OCTAL_MAX_11 ? f.size : 0);
  putOctal(b, 136, 12, f.mtime >= 0 && f.mtime <= OCTAL_MAX_11 ? Math.floor(f.mtime) : 0);
  b[156] = typeflag;
  putBytes(b, 157, 100, f.linkname);
  putBytes(b, 257, 8, utf8("ustar\x0000"));
  putBytes(b, 265, 32, utf8(f.uname));
  putBytes(b, 297, 32, utf8(f.gname));
  putOctal(b, 329, 8, f.devmajor);
  putOctal(b, 337, 8, f.devminor);
  putBytes(b, 345, 155, prefix);
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += b[i];
  putOctal(b, 148, 7, sum);
  b[155] = 0x20;
  return b;
}

/** The header block(s) for `e`: an optional PAX header with its body, then the USTAR header. */
export function encodeTarHeader(e: TarWriteEntry): Uint8Array {
  const name = bytesOf(e.name);
  const linkname = bytesOf(e.linkname ?? "");
  const size = e.type === "file" ? e.size ?? e.data?.length ?? 0 : 0;
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`tar entry size ${size} must be a non-negative integer`);
  const f = {
    mode: e.mode ?? (e.type === "dir" ? 0o755 : 0o644), uid: e.uid ?? 0, gid: e.gid ?? 0, size, mtime: e.mtime ?? 0,
    uname: e.uname ?? "", gname: e.gname ?? "", devmajor: e.devmajor ?? 0, devminor: e.devminor ?? 0, linkname,
  };
  const records: Uint8Array[] = [];
  let split = splitUstar(name);
  if (split === null) {
    records.push(encodePaxRecord("path", name));
    split = [new Uint8Array(0), name.subarray(0, 100)];
  }
  if (linkname.length > 100) records.push(encodePaxRecord("linkpath", linkname));
  if (size > OCTAL_MAX_11) records.push(encodePaxRecord("size", String(size)));
  if (f.uid > OCTAL_MAX_7 || f.uid < 0) records.push(encodePaxRecord("uid", String(f.uid)));
  if (f.gid > OCTAL_MAX_7 || f.gid < 0) records.push(encodePaxRecord("gid", String(f.gid)));
  if (!Number.isInteger(f.mtime) || f.mtime < 0 || f.mtime > OCTAL_MAX_11) records.push(encodePaxRecord("mtime", paxTime(f.mtime)));
  for (const [k, v] of e.pax ?? []) records.push(encodePaxRecord(k, v));
  const main = headerBlock(TYPEFLAG[e.type], split[1], split[0], f);
  if (records.length === 0) return main;
  const body = concatBytes(records);
  const paxName = concatBytes([utf8("PaxHeaders/"), name.subarray(Math.max(0, name.length - 89))]);
  const pax = headerBlock(0x78, paxName.subarray(0, 100), new Uint8Array(0), { ...f, size: body.length, linkname: new Uint8Array(0), mode: 0o644 });
  return concatBytes([pax, body, new Uint8Array(tarPadding(body.length)), main]);
}

function paxTime(t: number): string {
  if (Number.isInteger(t)) return String(t);
  return t.toFixed(9).replace(/0+$/, "");
}

/** Zero bytes that pad `size` data bytes to a 512-byte boundary. */
export function tarPadding(size: number): number {
  return (512 - (size % 512)) % 512;
}

/** Streaming writer: each piece goes to `sink` in archive order. */
export class TarWriter {
  readonly #sink: (chunk: Uint8Array) => void;
  #left = 0;
  #size = 0;
  #closed = false;

  constructor(sink: (chunk: Uint8Array) => void) {
    this.#sink = sink;
  }

  /** Writes an entry; with `data` it is complete, else call `writeData` for `size` bytes. */
  add(e: TarWriteEntry): void {
    if (this.#closed || this.#left > 0) throw new TypeError("TarWriter: previous entry incomplete or writer closed");
    this.#sink(encodeTarHeader(e));
    this.#size = e.type === "file" ? e.size ?? e.data?.length ?? 0 : 0;
    this.#left = this.#size;
    if (e.data !== undefined && e.type === "file") this.writeData(e.data);
    else if (this.#left === 0) this.#endEntry();
  }

  /** Data of the current entry; the total must equal its size. */
  writeData(chunk: Uint8Array): void {
    if (chunk.length > this.#left) throw new RangeError(`tar entry data overruns its size by ${chunk.length - this.#left} bytes`);
    if (chunk.length > 0) this.#sink(chunk);
    this.#left -= chunk.length;
    if (this.#left === 0) this.#endEntry();
  }

  #endEntry(): void {
    const pad = tarPadding(this.#size);
    if (pad > 0) this.#sink(new Uint8Array(pad));
    this.#size = 0;
  }

  /** Writes the two zero blocks that end the archive. */
  close(): void {
    if (this.#left > 0) throw new TypeError("TarWriter: last entry incomplete");
    if (!this.#closed) this.#sink(new Uint8Array(1024));
    this.#closed = true;
  }
}

/** A whole archive from `entries`, ending with two zero blocks. */
export function writeTar(entries: TarWriteEntry[]): Uint8Array {
  const parts: Uint8Array[] = [];
  const w = new TarWriter((c) => parts.push(c));
  for (const e of entries) w.add(e);
  w.close();
  return concatBytes(parts);
}
