/**
 * TarWalker: a push-based raw tar reader that lists entries exactly as Go
 * `archive/tar`'s `Reader.Next` would, with the byte positions upstream's
 * zTOC builder records (formats §3.1–§3.7).
 *
 * Technique: the uncompressed stream arrives in chunks of any size. The
 * walker is a small state machine over 512-byte blocks: it copies only header
 * blocks that straddle two chunks, the bodies of PAX ('x', 'g') and GNU
 * long-name ('L', 'K') pseudo-entries (bounded by `maxSpecialSize`, 1 MiB like
 * Go) and PAX 1.0 sparse maps; file data is skipped by counting, never
 * buffered. Pseudo-entries are merged into the next real header; every other
 * header is reported — including typeflags a TOC cannot represent ('g', 'S',
 * '7', vendor types), so the caller decides what to do with them.
 *
 * Go semantics kept on purpose (each matters for SAME-BYTES TOCs): PAX `path`
 * is overridden by a GNU long name and both by `GNU.sparse.name`; empty PAX
 * values keep the header value but stay in the records; header-only types
 * (links, devices, dirs, fifos) have no data area whatever their size says;
 * typeflag NUL becomes '5' for names ending in '/' (after merging) and '0'
 * otherwise; a zero block ends the archive only when followed by another
 * (one zero block then EOF, or EOF at a block boundary or inside padding, ends
 * it cleanly); the data offset of a PAX 1.0 sparse file is after its map.
 *
 * Not here: mapping typeflags to TOC types and refusing unsupported ones
 * (ztoc/), decompression (gzip/), reading file contents.
 */
import { FormatError } from "../errors.ts";
import { keepOutOfFtl } from "../runtime/mod.ts";
import { BLOCK_SIZE, decodeHeader, Format, isZeroBlock, type RawHeader } from "./_header.ts";
import { blockPadding, cString, parseGoNumber, parseNumeric } from "./_numbers.ts";
import { mergePax, parsePax, type PaxRecord, type PaxRecords } from "./_pax.ts";
import { oldGnuEntries, paxSparseFormat, paxSparseMap0x, paxSparseSize, SparseMap1x0, validSparseEntries, type SparseEntry } from "./_sparse.ts";

/** One listed tar entry: raw header fields after PAX/GNU merging, and its byte positions. */
export interface TarEntry {
  /** Final typeflag byte (NUL already turned into '0' or '5'). */
  typeflag: number;
  name: Uint8Array;
  linkname: Uint8Array;
  /** Logical size: header or PAX `size`, or the expanded size of a sparse file; not zeroed for header-only types. */
  size: number;
  /** The raw mode field, including any file-type bits the writer stored. */
  mode: number;
  uid: number;
  gid: number;
  uname: Uint8Array;
  gname: Uint8Array;
  /** Seconds since the epoch (±Infinity beyond 2^53) and nanoseconds 0..1e9. */
  mtime: number;
  mtimeNanos: number;
  devmajor: number;
  devminor: number;
  /** Every record of the entry's own PAX header ('x'), last value per key; empty without one. */
  paxRecords: PaxRecord[];
  /** Offset of the first header block belonging to the entry (PAX/GNU pseudo-entries included). */
  headerOffset: number;
  /** Offset of the first data byte (after a PAX 1.0 sparse map); for header-only types the next header. */
  dataOffset: number;
  /** Bytes of the data area after `dataOffset`, before padding (0 for header-only types). */
  physicalSize: number;
  /** The sparse map for GNU sparse files, else null. */
  sparse: SparseEntry[] | null;
}

export interface TarWalkerOptions {
  /** Called for each entry in archive order; the entry is owned by the callee. */
  onEntry(entry: TarEntry): void;
  /** For error messages (layer digest or path). */
  source?: string;
  /** Cap on PAX/GNU long-name bodies and sparse maps; default 1 MiB (Go's limit). */
  maxSpecialSize?: number;
}

export interface TarSummary {
  /** Bytes consumed when the archive ended: past the second zero block, else all input (formats §3.7). */
  archiveSize: number;
  /** True when two zero blocks ended the archive. */
  hasEndMarker: boolean;
  /** Input bytes after the end marker (ignored). */
  trailingBytes: number;
}

const MAX_SPECIAL_SIZE = 1 << 20;
const TYPE = { reg: 0x30, dir: 0x35, pax: 0x78, global: 0x67, longName: 0x4c, longLink: 0x4b, oldSparse: 0x53 } as const;
const EMPTY: Uint8Array = new Uint8Array(0);

/** Go `isHeaderOnlyType`: hardlink, symlink, char, block, dir, fifo. */
export function isHeaderOnlyType(typeflag: number): boolean {
  return typeflag >= 0x31 && typeflag <= 0x36;
}

const enum State {
  Header,
  Data,
  Pad,
  Special,
  SparseMap,
  GnuExt,
  Done,
}

export class TarWalker {
  readonly #onEntry: (e: TarEntry) => void;
  readonly #source?: string;
  readonly #maxSpecial: number;
  #state = State.Header;
  #pos = 0;
  #received = 0;
  #broken = false;
  #block = new Uint8Array(BLOCK_SIZE);
  #fill = 0;
  #remaining = 0;
  #pad = 0;
  #sawZero = false;
  #hasEnd = false;
  // Per-entry state (one Go `Next` call).
  #entryStart = -1;
  #pax: PaxRecords | null = null;
  #longName: Uint8Array = EMPTY;
  #longLink: Uint8Array = EMPTY;
  #special: { typeflag: number; buf: Uint8Array; fill: number; name: Uint8Array; size: number } | null = null;
  #pending: { entry: TarEntry; map1x0: SparseMap1x0 | null } | null = null;

  constructor(opts: TarWalkerOptions) {
    this.#onEntry = opts.onEntry;
    this.#source = opts.source;
    this.#maxSpecial = opts.maxSpecialSize ?? MAX_SPECIAL_SIZE;
    if (!TarWalker.#hinted) {
      // Private methods are only reachable through an instance (runtime/jit_hints.ts).
      TarWalker.#hinted = true;
      keepOutOfFtl(this.#onBlock, this.#onHeader, this.#startEntry, this.#finishEntry, this.#emit, this.#endSkip);
    }
  }

  static #hinted = false;

  /** True once the end-of-archive marker was seen; later input is ignored. */
  get done(): boolean {
    return this.#state === State.Done;
  }

  /**
   * Feeds the next uncompressed bytes, which must start at `uncompressedOffset`
   * (the total pushed so far). `chunk` is not kept after the call. Entries go to
   * `onEntry` before this returns. Throws FormatError (with uncompressedOffset)
   * on a malformed archive, whatever `onEntry` throws, and TypeError when used
   * after an error or `finish()`.
   */
  push(chunk: Uint8Array, uncompressedOffset: number): void {
    if (this.#broken) throw new TypeError("TarWalker used after an error or finish()");
    if (uncompressedOffset !== this.#received) throw new RangeError(`tar chunk at ${uncompressedOffset}, expected ${this.#received}`);
    this.#broken = true; // cleared only if the whole chunk is processed
    this.#received += chunk.length;
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      const avail = n - i;
      switch (this.#state) {
        case State.Done:
          this.#broken = false;
          return;
        case State.Data:
        case State.Pad: {
          const k = Math.min(this.#remaining, avail);
          i += k;
          this.#pos += k;
          this.#remaining -= k;
          if (this.#remaining === 0) this.#endSkip();
          break;
        }
        case State.Special: {
          const s = this.#special!;
          const k = Math.min(s.size - s.fill, avail);
          s.buf.set(chunk.subarray(i, i + k), s.fill);
          s.fill += k;
          i += k;
          this.#pos += k;
          if (s.fill === s.size) this.#endSpecial();
          break;
        }
        default: {
          // Block states: parse in place when the whole block is in this chunk.
          if (this.#fill === 0 && avail >= BLOCK_SIZE) {
            i += BLOCK_SIZE;
            this.#pos += BLOCK_SIZE;
            this.#onBlock(chunk, i - BLOCK_SIZE);
          } else {
            const k = Math.min(BLOCK_SIZE - this.#fill, avail);
            this.#block.set(chunk.subarray(i, i + k), this.#fill);
            this.#fill += k;
            i += k;
            this.#pos += k;
            if (this.#fill === BLOCK_SIZE) {
              this.#fill = 0;
              this.#onBlock(this.#block, 0);
            }
          }
        }
      }
    }
    this.#broken = false;
  }

  /**
   * Ends the input. Returns where the archive ended. Throws FormatError when
   * the input stops inside a header, file data, a pseudo-entry body or a
   * sparse map (Go's unexpected EOF); stopping at a block boundary or inside
   * padding is a clean end.
   */
  finish(): TarSummary {
    if (this.#broken) throw new TypeError("TarWalker used after an error or finish()");
    this.#broken = true;
    const s = this.#state;
    const cleanEnd = s === State.Done || s === State.Pad || (s === State.Header && this.#fill === 0);
    if (!cleanEnd) this.#fail("unexpected end of archive", this.#pos);
    return { archiveSize: this.#pos, hasEndMarker: this.#hasEnd, trailingBytes: this.#received - this.#pos };
  }

  #fail(what: string, at: number): never {
    throw new FormatError(`Cannot read tar archive: ${what}`, { source: this.#source, uncompressedOffset: at });
  }

  #onBlock(b: Uint8Array, off: number): void {
    if (this.#state === State.Header) this.#onHeader(b, off);
    else if (this.#state === State.SparseMap) this.#onSparseMapBlock(b, off);
    else this.#onGnuExtBlock(b, off);
  }

  #onHeader(b: Uint8Array, off: number): void {
    const at = this.#pos - BLOCK_SIZE;
    if (isZeroBlock(b, off)) {
      if (this.#sawZero) {
        this.#state = State.Done;
        this.#hasEnd = true;
      }
      this.#sawZero = true;
      return;
    }
    if (this.#sawZero) this.#fail("a zero block followed by a non-zero block", at);
    const h = decodeHeader(b, off);
    if (typeof h === "string") this.#fail(h, at);
    if (this.#entryStart < 0) this.#entryStart = at;
    if (!isHeaderOnlyType(h.typeflag) && h.size < 0) this.#fail("negative size", at);
    const t = h.typeflag;
    if (t === TYPE.pax || t === TYPE.global || t === TYPE.longName || t === TYPE.longLink) {
      if (h.size > this.#maxSpecial) this.#fail(`${String.fromCharCode(t)} header body of ${h.size} bytes exceeds ${this.#maxSpecial}`, at);
      this.#special = { typeflag: t, buf: new Uint8Array(h.size), fill: 0, name: h.name, size: h.size };
      this.#pad = blockPadding(h.size);
      this.#state = State.Special;
      if (h.size === 0) this.#endSpecial();
      return;
    }
    this.#startEntry(h, b, off, at);
  }

  #endSpecial(): void {
    const s = this.#special!;
    this.#special = null;
    const at = this.#pos - s.size;
    if (s.typeflag === TYPE.longName || s.typeflag === TYPE.longLink) {
      const name = cString(s.buf, 0, s.size);
      if (s.typeflag === TYPE.longName) this.#longName = name;
      else this.#longLink = name;
    } else {
      const records = parsePax(s.buf);
      if (typeof records === "string") this.#fail(records, at);
      this.#pax = records;
      if (s.typeflag === TYPE.global) {
        // Go returns the global header as an entry; merge errors are ignored there.
        const e = blankEntry(TYPE.global, s.name, this.#entryStart, this.#pos);
        mergePax(e, records);
        e.size = 0;
        e.paxRecords = records.list;
        this.#emit(e);
      }
    }
    this.#remaining = this.#pad;
    this.#state = State.Pad;
    if (this.#remaining === 0) this.#endSkip();
  }

  #startEntry(h: RawHeader, b: Uint8Array, off: number, at: number): void {
    const e: TarEntry = {
      typeflag: h.typeflag, name: h.name, linkname: h.linkname, size: h.size, mode: h.mode, uid: h.uid, gid: h.gid,
      uname: h.uname, gname: h.gname, mtime: h.mtime, mtimeNanos: 0, devmajor: h.devmajor, devminor: h.devminor,
      paxRecords: [], headerOffset: this.#entryStart, dataOffset: 0, physicalSize: 0, sparse: null,
    };
    const pax = this.#pax;
    if (pax !== null) {
      const problem = mergePax(e, pax);
      if (problem !== null) this.#fail(problem, at);
      e.paxRecords = pax.list;
    }
    if (this.#longName.length > 0) e.name = this.#longName;
    if (this.#longLink.length > 0) e.linkname = this.#longLink;
    if (e.typeflag === 0) e.typeflag = e.name.length > 0 && e.name[e.name.length - 1] === 0x2f ? TYPE.dir : TYPE.reg;
    const physical = isHeaderOnlyType(e.typeflag) ? 0 : e.size;
    if (physical < 0) this.#fail("negative size", at);
    e.physicalSize = physical;
    this.#remaining = physical;
    this.#pad = blockPadding(physical);

    if (e.typeflag === TYPE.oldSparse) {
      if (h.format !== Format.Gnu) this.#fail("old GNU sparse header not in GNU format", at);
      const real = parseNumeric(b, off + 483, off + 495);
      if (!real.ok) this.#fail("invalid GNU sparse real size", at);
      e.size = real.value;
      e.sparse = [];
      if (!oldGnuEntries(b, off + 386, 4, e.sparse)) this.#fail("invalid GNU sparse map", at);
      if (b[off + 482] > 0) {
        this.#pending = { entry: e, map1x0: null };
        this.#state = State.GnuExt;
        return;
      }
    } else if (pax !== null) {
      const kind = paxSparseFormat(pax);
      if (kind !== null) {
        const sparseName = pax.get("GNU.sparse.name");
        if (sparseName !== undefined && sparseName.length > 0) e.name = sparseName;
        const size = paxSparseSize(pax);
        if (size !== undefined) {
          const r = parseGoNumber(size);
          if (!r.ok) this.#fail("invalid GNU sparse size", at);
          e.size = r.value;
        }
        if (kind === "1.0") {
          this.#pending = { entry: e, map1x0: new SparseMap1x0() };
          this.#state = State.SparseMap;
          return;
        }
        e.sparse = paxSparseMap0x(pax);
        if (e.sparse === null) this.#fail("invalid GNU sparse map", at);
      }
    }
    this.#finishEntry(e, at);
  }

  #onSparseMapBlock(b: Uint8Array, off: number): void {
    const at = this.#pos - BLOCK_SIZE;
    const p = this.#pending!;
    const map = p.map1x0!;
    // The map is read from the file's data area: it must fit inside it.
    if (this.#remaining < BLOCK_SIZE) this.#fail("GNU sparse map runs past the file data", at);
    this.#remaining -= BLOCK_SIZE;
    if (map.bytes >= this.#maxSpecial) this.#fail(`GNU sparse map exceeds ${this.#maxSpecial} bytes`, at);
    const problem = map.add(b.subarray(off, off + BLOCK_SIZE));
    if (problem !== null) this.#fail(problem, at);
    if (!map.complete) return;
    p.entry.sparse = map.parse();
    if (p.entry.sparse === null) this.#fail("invalid GNU sparse map", at);
    this.#pending = null;
    this.#finishEntry(p.entry, at);
  }

  #onGnuExtBlock(b: Uint8Array, off: number): void {
    const at = this.#pos - BLOCK_SIZE;
    const p = this.#pending!;
    if (p.entry.sparse!.length > this.#maxSpecial / 24) this.#fail("GNU sparse map too long", at);
    if (!oldGnuEntries(b, off, 21, p.entry.sparse!)) this.#fail("invalid GNU sparse map", at);
    if (b[off + 504] > 0) return; // another extension block follows
    this.#pending = null;
    this.#finishEntry(p.entry, at);
  }

  #finishEntry(e: TarEntry, at: number): void {
    if (e.sparse !== null && (isHeaderOnlyType(e.typeflag) || !validSparseEntries(e.sparse, e.size))) {
      this.#fail("invalid GNU sparse map", at);
    }
    e.dataOffset = this.#pos;
    this.#state = State.Data;
    this.#emit(e);
    if (this.#remaining === 0) this.#endSkip();
  }

  #emit(e: TarEntry): void {
    this.#entryStart = -1;
    this.#pax = null;
    this.#longName = EMPTY;
    this.#longLink = EMPTY;
    this.#onEntry(e);
  }

  #endSkip(): void {
    if (this.#state === State.Data && this.#pad > 0) {
      this.#state = State.Pad;
      this.#remaining = this.#pad;
      return;
    }
    this.#state = State.Header;
  }
}

function blankEntry(typeflag: number, name: Uint8Array, headerOffset: number, dataOffset: number): TarEntry {
  return {
    typeflag, name, linkname: EMPTY, size: 0, mode: 0, uid: 0, gid: 0, uname: EMPTY, gname: EMPTY, mtime: 0, mtimeNanos: 0,
    devmajor: 0, devminor: 0, paxRecords: [], headerOffset, dataOffset, physicalSize: 0, sparse: null,
  };
}
