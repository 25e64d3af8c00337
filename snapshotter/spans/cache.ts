/**
 * Span caches (snapshotter §9.3, §12): where verified, **uncompressed** span
 * bytes live once fetched, so a hit costs neither a request nor an inflate.
 *
 * `DiskSpanCache` is a directory of one file per key, shared by every layer
 * of a daemon (keys carry the layer digest) under one byte budget. Each file
 * is written to `wip/` and renamed into place, so a reader never sees half a
 * file; a small header (magic + payload length) makes a truncated or foreign
 * file a miss (it is deleted). The payload itself is not checksummed: the
 * bytes were verified against the span digest before `put`, and re-hashing
 * every hit would cost as much as the copy it saves — a bit flip on disk is
 * not detected. Eviction is least-recently-used by an in-memory index (file
 * mtime order after a restart). Unlike upstream the cache survives restarts.
 *
 * Range reads (`readInto`): a FUSE read wants 4 KiB–1 MiB of a 4 MiB span, so
 * a hit reads only that range with a positional read straight into the
 * caller's buffer — loading the whole span (and the garbage it leaves) per
 * read cost the daemon more in GC than fetching and inflating did
 * (bench/run profile). The read is synchronous: the file was written moments
 * ago and sits in the page cache, and a sync pread costs less than a trip
 * through the libuv pool; the cache directory is never a FUSE mount of ours
 * (fuse.md §9.2).
 *
 * `MemorySpanCache` is the same contract in RAM, for tests and
 * `filesystem_cache_type = "memory"`.
 *
 * Not here: which spans to fetch or verify (span_manager.ts).
 */
import { randomBytes } from "node:crypto";
import { closeSync, mkdirSync, openSync, readdirSync, readSync, rmSync, statSync } from "node:fs";
import { open, readFile, rename, unlink } from "node:fs/promises";
import { join } from "node:path";

export interface SpanCache {
  /** The bytes stored under `key`, or null (missing, evicted, damaged). Never throws for a miss. */
  get(key: string): Promise<Uint8Array | null>;
  /** Stores `bytes` under `key` (may silently decline, e.g. larger than the budget). Throws on I/O failure. */
  put(key: string, bytes: Uint8Array): Promise<void>;
  /** Whether `key` is (as far as the cache knows, without I/O) stored. Optional. */
  has?(key: string): boolean;
  /**
   * Copies payload bytes [offset, offset + dst.length) of `key` into `dst`;
   * true when all were there, false for a miss (missing, evicted, damaged or
   * shorter entry — dst's contents are then undefined). Never throws for a
   * miss. Optional: without it callers use get().
   */
  readInto?(key: string, offset: number, dst: Uint8Array): boolean;
}

const MAGIC = 0x4e505353; // "SSPN" little-endian: soci span
const HEADER = 16; // magic u32, reserved u32, payload length u64

function fileName(key: string): string {
  return key.replace(/[^A-Za-z0-9._-]/g, "_");
}

/** A directory-backed, size-bounded span cache (see the module header). */
export class DiskSpanCache implements SpanCache {
  readonly dir: string;
  readonly maxBytes: number;
  /** key → file size (header included), in least-recently-used-first order. */
  readonly #index = new Map<string, number>();
  #total = 0;

  /**
   * Opens (creating it if needed) `dir`; leftovers in `dir/wip` are removed and
   * the existing files indexed. Throws RangeError for a bad `maxBytes`, and the
   * fs error if the directory cannot be created or read.
   */
  constructor(opts: { dir: string; maxBytes: number }) {
    if (!(Number.isSafeInteger(opts.maxBytes) && opts.maxBytes >= 0)) throw new RangeError(`maxBytes ${opts.maxBytes} must be a non-negative integer`);
    this.dir = opts.dir;
    this.maxBytes = opts.maxBytes;
    rmSync(join(this.dir, "wip"), { recursive: true, force: true });
    mkdirSync(join(this.dir, "wip"), { recursive: true });
    const found: Array<{ name: string; size: number; mtime: number }> = [];
    for (const name of readdirSync(this.dir)) {
      if (name === "wip") continue;
      try {
        const st = statSync(join(this.dir, name));
        if (st.isFile()) found.push({ name, size: st.size, mtime: st.mtimeMs });
      } catch {
        // Removed between readdir and stat: nothing to index.
      }
    }
    found.sort((a, b) => a.mtime - b.mtime);
    for (const f of found) {
      this.#index.set(f.name, f.size);
      this.#total += f.size;
    }
    this.#evict(0);
  }

  /** Bytes held on disk by indexed entries (headers included). */
  get totalBytes(): number {
    return this.#total;
  }

  has(key: string): boolean {
    return this.#index.has(fileName(key));
  }

  async get(key: string): Promise<Uint8Array | null> {
    const name = fileName(key);
    const size = this.#index.get(name);
    if (size === undefined) return null;
    let buf: Buffer;
    try {
      buf = await readFile(join(this.dir, name));
    } catch {
      this.#forget(name); // vanished or unreadable: a miss
      return null;
    }
    const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    if (buf.length < HEADER || dv.getUint32(0, true) !== MAGIC || Number(dv.getBigUint64(8, true)) !== buf.length - HEADER) {
      this.#forget(name);
      await unlink(join(this.dir, name)).catch(() => undefined); // damaged: drop it so it is refetched
      return null;
    }
    this.#index.delete(name); // move to most-recently-used
    this.#index.set(name, size);
    return new Uint8Array(buf.buffer, buf.byteOffset + HEADER, buf.length - HEADER);
  }

  readInto(key: string, offset: number, dst: Uint8Array): boolean {
    const name = fileName(key);
    const size = this.#index.get(name);
    if (size === undefined || !(offset >= 0 && offset + dst.length <= size - HEADER)) return false;
    let fd: number;
    try {
      fd = openSync(join(this.dir, name), "r");
    } catch {
      this.#forget(name); // vanished: a miss
      return false;
    }
    let ok = false;
    try {
      const head = new Uint8Array(HEADER);
      const dv = new DataView(head.buffer);
      // The header names the payload length the index expects: a truncated or foreign file is a miss.
      if (readSync(fd, head, 0, HEADER, 0) === HEADER && dv.getUint32(0, true) === MAGIC && Number(dv.getBigUint64(8, true)) === size - HEADER) {
        let done = 0;
        while (done < dst.length) {
          const n = readSync(fd, dst, done, dst.length - done, HEADER + offset + done);
          if (n === 0) break;
          done += n;
        }
        ok = done === dst.length;
      }
    } catch {
      ok = false; // unreadable: a miss, the caller refetches
    } finally {
      closeSync(fd);
    }
    if (!ok) {
      this.#forget(name);
      rmSync(join(this.dir, name), { force: true });
      return false;
    }
    this.#index.delete(name); // move to most-recently-used
    this.#index.set(name, size);
    return true;
  }

  async put(key: string, bytes: Uint8Array): Promise<void> {
    const name = fileName(key);
    const size = HEADER + bytes.length;
    if (size > this.maxBytes) return; // can never fit: declining keeps the budget
    const header = new Uint8Array(HEADER);
    const dv = new DataView(header.buffer);
    dv.setUint32(0, MAGIC, true);
    dv.setBigUint64(8, BigInt(bytes.length), true);
    const tmp = join(this.dir, "wip", `${name}.${process.pid}.${randomBytes(4).toString("hex")}`);
    try {
      const fh = await open(tmp, "w", 0o600);
      try {
        await fh.writev([header, bytes]);
      } finally {
        await fh.close();
      }
      this.#evict(size - (this.#index.get(name) ?? 0));
      await rename(tmp, join(this.dir, name));
    } catch (e) {
      await unlink(tmp).catch(() => undefined);
      throw e;
    }
    this.#forget(name);
    this.#index.set(name, size);
    this.#total += size;
    this.#evict(0);
  }

  #forget(name: string): void {
    const old = this.#index.get(name);
    if (old === undefined) return;
    this.#total -= old;
    this.#index.delete(name);
  }

  /** Removes least-recently-used files until `incoming` more bytes fit. */
  #evict(incoming: number): void {
    for (const [name] of this.#index) {
      if (this.#total + incoming <= this.maxBytes) return;
      this.#forget(name);
      rmSync(join(this.dir, name), { force: true });
    }
  }
}

/** An in-memory, size-bounded LRU span cache. */
export class MemorySpanCache implements SpanCache {
  readonly maxBytes: number;
  readonly #map = new Map<string, Uint8Array>();
  #total = 0;

  constructor(maxBytes: number) {
    if (!(Number.isSafeInteger(maxBytes) && maxBytes >= 0)) throw new RangeError(`maxBytes ${maxBytes} must be a non-negative integer`);
    this.maxBytes = maxBytes;
  }

  get totalBytes(): number {
    return this.#total;
  }

  has(key: string): boolean {
    return this.#map.has(key);
  }

  get(key: string): Promise<Uint8Array | null> {
    const v = this.#map.get(key);
    if (v === undefined) return Promise.resolve(null);
    this.#map.delete(key);
    this.#map.set(key, v);
    return Promise.resolve(v);
  }

  readInto(key: string, offset: number, dst: Uint8Array): boolean {
    const v = this.#map.get(key);
    if (v === undefined || !(offset >= 0 && offset + dst.length <= v.length)) return false;
    this.#map.delete(key);
    this.#map.set(key, v);
    dst.set(v.subarray(offset, offset + dst.length));
    return true;
  }

  put(key: string, bytes: Uint8Array): Promise<void> {
    if (bytes.length > this.maxBytes) return Promise.resolve();
    const old = this.#map.get(key);
    if (old !== undefined) {
      this.#total -= old.length;
      this.#map.delete(key);
    }
    for (const [k, v] of this.#map) {
      if (this.#total + bytes.length <= this.maxBytes) break;
      this.#map.delete(k);
      this.#total -= v.length;
    }
    this.#map.set(key, bytes.slice());
    this.#total += bytes.length;
    return Promise.resolve();
  }
}
