/**
 * `LayerFs`: one layer's read-only filesystem for the FUSE server
 * (snapshotter §8, fuse.md §7–§8; shape of go-fuse `zipfs`: the tree is built
 * from the index at construction, data is read lazily, the page cache is
 * kept because layer content never changes).
 *
 *  - lookup/getattr: attributes from the TOC (§8.2); ino = node id + 3 (1 and
 *    2 stay reserved for the state directory of §8.7); whiteouts are char
 *    devices 0:0; names starting `.wh.` are never found.
 *  - readdir/readdirplus: `.`, `..`, then names in byte order; the cookie of
 *    an entry is its index + 1; the listing is computed once per directory.
 *  - getxattr/listxattr: opaque markers first (§8.3, §8.5), then the entry's
 *    `SCHILY.xattr.*` records; absent → null (the server answers ENODATA and
 *    ERANGE / size probes itself).
 *  - open: regular files only, with keep-cache; read → `LayerReader.read` of
 *    `[dataOffset + offset, …)` clamped to the file size; never for 0 bytes.
 *    Reader errors propagate (the server answers EIO and logs one line).
 *  - §8.6 header check (unless `verifyHeaders: false`): the first read of a
 *    file also reads its tar header region, concurrently with the data, and
 *    both wait for `checkTarHeader` (_header_check.ts). A mismatch is EIO for
 *    every read of that file from then on (logged once, in the state file);
 *    a failed header read is not remembered, the next read tries again.
 *
 *  - §8.7 state directory: lookup of `.soci-snapshotter` in the root (never
 *    listed; it shadows a layer entry of that name) finds a dir `dr-x------` (ino 1) holding `<digest>.json`
 *    (`-r--------`, ino 2, direct I/O) with digest, size, fetchedSize,
 *    fetchedPercent (from the `fetchStats` option) and the last read error.
 *
 * Nodes are never dropped (FORGET is ignored: the tree is static) and node
 * ids are never reused. Not here: id-mapping, mounting (fuse/mount.ts).
 */
import type { TocEntry } from "../../core-wasm/src/ztoc/mod.ts";
import {
  EINVAL, EIO, ENOENT, ENOTDIR, FuseError, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, type FastSource,
  type FuseAttr, type FuseDirEntry, type FuseEntry, type FuseStatfs, type OpendirResult, type OpenResult,
  type ReadOnlyFileSystem, type RequestContext,
} from "../fuse/mod.ts";
import { checkTarHeader, headerOffsets } from "./_header_check.ts";
import { displayText } from "../../core-wasm/src/bytes/mod.ts";
import { latin1, latin1Bytes, LayerNode, LayerTree } from "./_tree.ts";

/** Uncompressed layer bytes; SpanManager (snapshotter/spans) has exactly this method. */
export interface LayerReader {
  read(uncompressedOffset: number, length: number, signal?: AbortSignal): Promise<Uint8Array>;
}

/** Which opaque-directory xattr names to show (§8.3): overlay's `trusted.` ones, `user.` ones (userxattr mounts), or both. */
export type OpaqueXattrMode = "trusted" | "user" | "both";

export interface LayerFsOptions {
  layerDigest: string;
  /** Called per file read with the bytes returned, for stats. */
  onRead?: (bytes: number) => void;
  /** Skipped entries and other oddities, one line each (default: dropped). */
  log?: (line: string) => void;
  /** Default "trusted" (overlay mounts without `userxattr`). */
  opaqueXattr?: OpaqueXattrMode;
  /** Layer size and bytes fetched so far, for the §8.7 state file (default zeros). */
  fetchStats?: () => { size: number; fetchedSize: number };
  /**
   * STATFS answer (snapshotter §8.6: the disk holding the snapshotter root).
   * Default: the layer's own numbers (blocks of its files, its entry count).
   */
  statfs?: () => FuseStatfs;
  /** snapshotter §8.6 first-read tar header check (true; config `disable_verification` turns it off). */
  verifyHeaders?: boolean;
}

/**
 * Cache lifetimes for `FuseServerOptions` (seconds): a layer never changes,
 * so names, attributes and misses may be cached for long. (The daemon's
 * `fuse.*_timeout` config, default 1 s upstream, overrides these.)
 */
export const LAYER_CACHE_TIMEOUTS = { entryTimeout: 3600, attrTimeout: 3600, negativeTimeout: 3600 } as const;

const INO_OFFSET = 3;
const BLOCK = 4096;
const enc = new TextEncoder();
const STATE_DIR_NAME = ".soci-snapshotter"; // §8.7; ASCII, so its latin1 key is itself
const DOT = enc.encode(".");
const DOTDOT = enc.encode("..");
const OPAQUE_VALUE = enc.encode("y");
const OPAQUE_NAMES: Record<OpaqueXattrMode, Uint8Array[]> = {
  trusted: [enc.encode("trusted.overlay.opaque")],
  user: [enc.encode("user.overlay.opaque")],
  both: [enc.encode("trusted.overlay.opaque"), enc.encode("user.overlay.opaque")],
};

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

interface DirRecord {
  name: Uint8Array;
  id: number;
}

export class LayerFs implements ReadOnlyFileSystem {
  /** Distinct inodes in the tree (root and whiteouts included). */
  readonly fileCount: number;
  /** Bytes of all distinct regular files. */
  readonly totalSize: number;
  readonly layerDigest: string;
  readonly #tree: LayerTree;
  readonly #reader: LayerReader;
  readonly #onRead: ((bytes: number) => void) | undefined;
  readonly #opaqueNames: Uint8Array[];
  readonly #listings = new Map<number, DirRecord[]>();
  readonly #stateDirId: number;
  readonly #stateFileId: number;
  readonly #fetchStats: () => { size: number; fetchedSize: number };
  readonly #statfs: (() => FuseStatfs) | undefined;
  #lastError: string | null = null;
  readonly #log: (line: string) => void;
  /** §8.6: header offsets by entry (null: check off), files checked, checks under way, files refused. */
  readonly #headerOffsets: Map<TocEntry, number> | null;
  readonly #checked = new Set<number>();
  readonly #checking = new Map<number, Promise<void>>();
  readonly #refused = new Map<number, string>();

  /**
   * Builds the tree from `toc` (in TOC order). Throws `FormatError` naming the
   * entry for a TOC that cannot describe a layer (a hardlink to a missing
   * entry or a directory, an unknown type, a negative or unsafe offset/size);
   * entries that name nothing inside the layer (`..`, under a non-directory)
   * are skipped with a `log` line, as tar extraction skips them.
   */
  constructor(toc: readonly TocEntry[], reader: LayerReader, opts: LayerFsOptions) {
    this.layerDigest = opts.layerDigest;
    this.#reader = reader;
    this.#onRead = opts.onRead;
    this.#log = opts.log ?? (() => {});
    this.#headerOffsets = opts.verifyHeaders === false ? null : headerOffsets(toc);
    this.#opaqueNames = OPAQUE_NAMES[opts.opaqueXattr ?? "trusted"];
    this.#tree = new LayerTree(opts.layerDigest, opts.log ?? (() => {}));
    this.#tree.build(toc);
    const s = this.#tree.stats();
    this.fileCount = s.fileCount;
    this.totalSize = s.totalSize;
    // §8.7: two nodes outside the tree, reachable only by name from the root.
    this.#fetchStats = opts.fetchStats ?? (() => ({ size: 0, fetchedSize: 0 }));
    this.#statfs = opts.statfs;
    const stateDir = new LayerNode(S_IFDIR | 0o500);
    stateDir.parent = 1;
    this.#stateDirId = this.#tree.append(stateDir);
    this.#stateFileId = this.#tree.append(new LayerNode(S_IFREG | 0o400));
    stateDir.children!.set(latin1(enc.encode(`${opts.layerDigest}.json`)), this.#stateFileId);
  }

  /** The §8.7 state file's content: one JSON object and a newline. */
  stateJson(): Uint8Array {
    const { size, fetchedSize } = this.#fetchStats();
    const doc: Record<string, unknown> = { digest: this.layerDigest, size, fetchedSize, fetchedPercent: size > 0 ? (fetchedSize / size) * 100 : 0 };
    if (this.#lastError !== null) doc.error = this.#lastError;
    return enc.encode(JSON.stringify(doc) + "\n");
  }

  #node(nodeid: number): LayerNode {
    const n = this.#tree.node(nodeid);
    if (n === undefined) throw new FuseError(ENOENT);
    return n;
  }

  #attr(id: number, n: LayerNode): FuseAttr {
    const state = id === this.#stateDirId ? 1 : id === this.#stateFileId ? 2 : 0;
    const size = state === 2 ? this.stateJson().length : n.size;
    return {
      ino: state || id + INO_OFFSET, size, blocks: Math.ceil(size / BLOCK) * 8,
      atimeSec: n.mtimeSec, atimeNsec: n.mtimeNsec, mtimeSec: n.mtimeSec, mtimeNsec: n.mtimeNsec,
      ctimeSec: n.mtimeSec, ctimeNsec: n.mtimeNsec,
      mode: n.mode, nlink: Math.max(1, n.nlink), uid: n.uid, gid: n.gid, rdev: n.rdev, blksize: BLOCK,
    };
  }

  /** Node id of a slash-separated path from the root ("" = root), or null. For tests and tools. */
  resolvePath(path: string | Uint8Array): number | null {
    const s = typeof path === "string" ? latin1(enc.encode(path)) : latin1(path);
    let id = 1;
    for (const p of s.split("/")) {
      if (p === "") continue;
      const c = id === 1 && p === STATE_DIR_NAME ? this.#stateDirId : this.#tree.node(id)?.children?.get(p);
      if (c === undefined) return null;
      id = c;
    }
    return id;
  }

  /**
   * The tree as fast_replies.ts tables take it (the readers then answer LOOKUP
   * and GETATTR themselves): every child of every directory and every node,
   * with the attributes `lookup`/`getattr` give; the §8.7 state directory and
   * file are left to the server (the file's size changes).
   */
  fastSource(): FastSource {
    const tree = this.#tree;
    const state = (id: number) => id === this.#stateDirId || id === this.#stateFileId;
    const attr = (id: number) => this.#attr(id, tree.node(id)!);
    return {
      *entries() {
        for (let id = 1; id < tree.nodes.length; id++) {
          const n = tree.nodes[id];
          if (n === undefined || n.children === null || state(id)) continue;
          for (const [name, child] of n.children) yield { parent: id, name, nodeid: child };
        }
      },
      *nodes() {
        for (let id = 1; id < tree.nodes.length; id++) if (tree.nodes[id] !== undefined && !state(id)) yield { nodeid: id, attr: attr(id) };
      },
      *reserved() {
        yield { parent: 1, name: STATE_DIR_NAME };
      },
      xattrsListed: true, // getxattr and listxattr read the same opaque names and TOC xattrs
    };
  }

  lookup(parent: number, name: Uint8Array, _ctx?: RequestContext): FuseEntry | null {
    const p = this.#node(parent);
    if (p.children === null) throw new FuseError(ENOTDIR);
    const key = latin1(name);
    const id = parent === 1 && key === STATE_DIR_NAME ? this.#stateDirId : p.children.get(key);
    if (id === undefined) return null;
    return { nodeid: id, attr: this.#attr(id, this.#tree.node(id)!) };
  }

  getattr(nodeid: number, _ctx?: RequestContext): FuseAttr {
    return this.#attr(nodeid, this.#node(nodeid));
  }

  readlink(nodeid: number, _ctx?: RequestContext): Uint8Array {
    const n = this.#node(nodeid);
    if ((n.mode & S_IFMT) !== S_IFLNK || n.link === null) throw new FuseError(EINVAL);
    return n.link;
  }

  open(nodeid: number, _flags: number, _ctx?: RequestContext): OpenResult {
    if ((this.#node(nodeid).mode & S_IFMT) !== S_IFREG) throw new FuseError(EIO);
    if (nodeid === this.#stateFileId) return { fh: 0, directIo: true }; // changes: never cached
    return { fh: 0, keepCache: true };
  }

  async read(nodeid: number, _fh: number, offset: number, size: number, ctx?: RequestContext): Promise<Uint8Array> {
    const n = this.#node(nodeid);
    if ((n.mode & S_IFMT) !== S_IFREG) throw new FuseError(EIO);
    if (nodeid === this.#stateFileId) return this.stateJson().subarray(offset, offset + size);
    if (offset >= n.size || size <= 0) return new Uint8Array(0);
    if (this.#refused.has(nodeid)) throw new FuseError(EIO); // §8.6 mismatch, logged once
    const length = Math.min(size, n.size - offset);
    let data: Uint8Array;
    try {
      if (this.#headerOffsets !== null && !this.#checked.has(nodeid)) {
        [, data] = await Promise.all([this.#checkHeader(nodeid, n), this.#reader.read(n.dataOffset + offset, length, ctx?.signal)]);
      } else {
        data = await this.#reader.read(n.dataOffset + offset, length, ctx?.signal);
      }
    } catch (e) {
      if (e instanceof FuseError) throw e;
      // Recorded for the state file (§8.6), then passed on: the server answers EIO and logs it.
      this.#lastError = e instanceof Error ? e.message : String(e);
      throw e;
    }
    if (data.length !== length) {
      // A short reply inside the file would mean EOF to the kernel (fuse.md §11.9): fail instead.
      this.#lastError = `Cannot read ${length} bytes at offset ${offset} of a file in layer ${this.layerDigest}: the layer reader returned ${data.length}`;
      throw new Error(this.#lastError);
    }
    this.#onRead?.(length);
    return data;
  }

  /** §8.6 for one file, shared by its concurrent first reads; throws FuseError(EIO) on a mismatch. */
  #checkHeader(nodeid: number, n: LayerNode): Promise<void> {
    let p = this.#checking.get(nodeid);
    if (p !== undefined) return p;
    const entry = n.entry!;
    const start = this.#headerOffsets!.get(entry)!;
    p = (async () => {
      try {
        const want = n.dataOffset - start;
        // No signal: one interrupted read must not fail the check its siblings wait for.
        const region = want >= 512 ? await this.#reader.read(start, want) : new Uint8Array(0);
        const wrong = want < 512 ? `its data starts ${want} bytes after where its tar header must start, no room for a header`
          : region.length === want ? checkTarHeader(region, entry) : `only ${region.length} of its ${want} header bytes could be read`;
        if (wrong !== null) {
          const msg = `Refusing to serve ${JSON.stringify(displayText(entry.name))} of layer ${this.layerDigest}: ${wrong} (tar header at uncompressed offset ${start}, snapshotter §8.6); the zTOC does not match the layer`;
          this.#refused.set(nodeid, msg);
          this.#lastError = msg;
          this.#log(msg);
          throw new FuseError(EIO);
        }
        this.#checked.add(nodeid);
      } finally {
        this.#checking.delete(nodeid);
      }
    })();
    this.#checking.set(nodeid, p);
    return p;
  }

  opendir(nodeid: number, _flags: number, _ctx?: RequestContext): OpendirResult {
    if (this.#node(nodeid).children === null) throw new FuseError(ENOTDIR);
    return { fh: 0, cacheDir: true };
  }

  #listing(nodeid: number, n: LayerNode): DirRecord[] {
    let l = this.#listings.get(nodeid);
    if (l === undefined) {
      const names = [...n.children!.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      l = [{ name: DOT, id: nodeid }, { name: DOTDOT, id: n.parent }];
      for (const k of names) {
        if (nodeid === 1 && k === STATE_DIR_NAME) continue; // shadowed by the state directory (§8.7)
        l.push({ name: latin1Bytes(k), id: n.children!.get(k)! });
      }
      this.#listings.set(nodeid, l);
    }
    return l;
  }

  readdir(nodeid: number, _fh: number, offset: number, _plus: boolean, _ctx?: RequestContext): Iterable<FuseDirEntry> {
    const n = this.#node(nodeid);
    if (n.children === null) throw new FuseError(ENOTDIR);
    const listing = this.#listing(nodeid, n);
    const tree = this.#tree;
    const attr = (id: number) => this.#attr(id, tree.node(id)!);
    return (function* () {
      for (let i = offset; i < listing.length; i++) {
        const r = listing[i];
        yield { name: r.name, nextOffset: i + 1, entry: { nodeid: r.id, attr: attr(r.id) } };
      }
    })();
  }

  statfs(_nodeid?: number, _ctx?: RequestContext): FuseStatfs {
    if (this.#statfs) return this.#statfs();
    return {
      blocks: Math.ceil(this.totalSize / BLOCK), bfree: 0, bavail: 0, files: this.fileCount, ffree: 0,
      bsize: BLOCK, namelen: 255, frsize: BLOCK,
    };
  }

  getxattr(nodeid: number, name: Uint8Array, _ctx?: RequestContext): Uint8Array | null {
    const n = this.#node(nodeid);
    if (n.opaque && this.#opaqueNames.some((o) => equalBytes(o, name))) return OPAQUE_VALUE;
    if (n.xattrs === null) return null;
    for (const x of n.xattrs) if (equalBytes(x.name, name)) return x.value;
    return null;
  }

  listxattr(nodeid: number, _ctx?: RequestContext): Uint8Array[] {
    const n = this.#node(nodeid);
    const out = n.opaque ? [...this.#opaqueNames] : [];
    for (const x of n.xattrs ?? []) if (!out.some((o) => equalBytes(o, x.name))) out.push(x.name);
    return out;
  }
}
