/**
 * `MemFs`: a tiny in-memory `ReadOnlyFileSystem` for FUSE tests (STYLE §8
 * fakes): directories, regular files, symlinks, hard links (shared node,
 * nlink), device nodes and xattrs, with modes, owners and nanosecond mtimes.
 * `buildFixtureTree()` is the tree both the unit and the e2e tests use.
 *
 * Node id = ino; root is 1; ids are never reused. Listings start with `.` and
 * `..`, then names in byte order; the cookie of an entry is its index + 1.
 * Lookup counts are kept (READDIRPLUS entries other than `.`/`..` count) so
 * tests can see FORGET traffic, but nodes are never dropped.
 *
 * Test hooks: `failOn` makes an operation throw; `readDelayMs` (per node id)
 * slows reads (and opens those files direct-IO) and ends early with the
 * request's abort signal (INTERRUPT);
 * `beforeRead` runs async work (e.g. thread-pool I/O) inside every read.
 * Not a model of a writable filesystem.
 */
import { createHash } from "node:crypto";
import type { FuseAttr, FuseDirEntry, FuseEntry, FuseStatfs, OpendirResult, OpenResult, ReadOnlyFileSystem, RequestContext } from "../../snapshotter/fuse/file_system.ts";
import { EINVAL, EISDIR, ENOENT, ENOTDIR, FuseError, S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG } from "../../snapshotter/fuse/protocol.ts";
import { makeRdev } from "../../snapshotter/fuse/structs.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

export interface MemNode {
  attr: FuseAttr;
  parent: number;
  children?: Map<string, number>;
  data?: Uint8Array;
  target?: Uint8Array;
  xattrs: Map<string, Uint8Array>;
}

export interface NodeOptions {
  mode?: number;
  uid?: number;
  gid?: number;
  /** Seconds since the epoch, fractional part kept to the nanosecond. */
  mtime?: number;
}

export class MemFs implements ReadOnlyFileSystem {
  readonly nodes = new Map<number, MemNode>();
  readonly lookupCounts = new Map<number, number>();
  readonly calls = new Map<string, number>();
  failOn: ((op: string, nodeid: number) => boolean) | null = null;
  readDelayMs = new Map<number, number>();
  beforeRead: (() => Promise<unknown>) | null = null;
  interruptedReads = 0;
  destroyed = false;
  #nextId = 2;

  constructor() {
    this.nodes.set(1, { attr: this.#attr(1, S_IFDIR | 0o755, 4096, {}), parent: 1, children: new Map(), xattrs: new Map() });
    this.nodes.get(1)!.attr.nlink = 2;
  }

  #attr(ino: number, mode: number, size: number, o: NodeOptions): FuseAttr {
    const t = o.mtime ?? 1_700_000_000;
    const sec = Math.floor(t);
    const nsec = Math.round((t - sec) * 1e9);
    return {
      ino, size, mode, nlink: 1, uid: o.uid ?? 0, gid: o.gid ?? 0,
      atimeSec: sec, atimeNsec: nsec, mtimeSec: sec, mtimeNsec: nsec, ctimeSec: sec, ctimeNsec: nsec,
    };
  }

  #node(nodeid: number): MemNode {
    const n = this.nodes.get(nodeid);
    if (!n) throw new FuseError(ENOENT);
    return n;
  }

  /** Node id of `path` ("" or "/" = root); throws FuseError(ENOENT). */
  resolve(path: string): number {
    let id = 1;
    for (const part of path.split("/").filter((p) => p !== "")) {
      const c = this.#node(id).children?.get(part);
      if (c === undefined) throw new FuseError(ENOENT);
      id = c;
    }
    return id;
  }

  #add(path: string, mode: number, size: number, o: NodeOptions, extra: Partial<MemNode> = {}): number {
    const parts = path.split("/").filter((p) => p !== "");
    const name = parts.pop()!;
    const parent = this.resolve(parts.join("/"));
    const id = this.#nextId++;
    const node: MemNode = { attr: this.#attr(id, mode, size, o), parent, xattrs: new Map(), ...extra };
    this.#node(parent).children!.set(name, id);
    this.nodes.set(id, node);
    return id;
  }

  mkdir(path: string, o: NodeOptions = {}): number {
    const id = this.#add(path, S_IFDIR | (o.mode ?? 0o755), 4096, o, { children: new Map() });
    this.nodes.get(id)!.attr.nlink = 2;
    this.#node(this.nodes.get(id)!.parent).attr.nlink++;
    return id;
  }

  addFile(path: string, data: Uint8Array | string, o: NodeOptions = {}): number {
    const bytes = typeof data === "string" ? enc.encode(data) : data;
    return this.#add(path, S_IFREG | (o.mode ?? 0o644), bytes.length, o, { data: bytes });
  }

  symlink(path: string, target: string, o: NodeOptions = {}): number {
    const t = enc.encode(target);
    return this.#add(path, S_IFLNK | 0o777, t.length, o, { target: t });
  }

  /** Device node or FIFO: `type` "chr", "blk" or "fifo". */
  mknod(path: string, type: "chr" | "blk" | "fifo", major: number, minor: number, o: NodeOptions = {}): number {
    const fmt = type === "chr" ? S_IFCHR : type === "blk" ? S_IFBLK : S_IFIFO;
    const id = this.#add(path, fmt | (o.mode ?? 0o644), 0, o);
    this.nodes.get(id)!.attr.rdev = makeRdev(major, minor);
    return id;
  }

  /** A second name for the node at `existing`; its nlink goes up. */
  link(path: string, existing: string): number {
    const id = this.resolve(existing);
    const parts = path.split("/").filter((p) => p !== "");
    const name = parts.pop()!;
    this.#node(this.resolve(parts.join("/"))).children!.set(name, id);
    this.#node(id).attr.nlink++;
    return id;
  }

  setXattr(path: string, name: string, value: string | Uint8Array): void {
    this.#node(this.resolve(path)).xattrs.set(name, typeof value === "string" ? enc.encode(value) : value);
  }

  #count(op: string, nodeid: number): void {
    this.calls.set(op, (this.calls.get(op) ?? 0) + 1);
    if (this.failOn?.(op, nodeid)) throw new Error(`injected failure in ${op}`);
  }

  #entry(id: number): FuseEntry {
    return { nodeid: id, attr: this.#node(id).attr };
  }

  lookup(parent: number, name: Uint8Array, _ctx: RequestContext): FuseEntry | null {
    this.#count("lookup", parent);
    const p = this.#node(parent);
    if (!p.children) throw new FuseError(ENOTDIR);
    const id = p.children.get(dec.decode(name));
    if (id === undefined) return null;
    this.lookupCounts.set(id, (this.lookupCounts.get(id) ?? 0) + 1);
    return this.#entry(id);
  }

  forget(nodeid: number, nlookup: number): void {
    this.calls.set("forget", (this.calls.get("forget") ?? 0) + 1);
    this.lookupCounts.set(nodeid, (this.lookupCounts.get(nodeid) ?? 0) - nlookup);
  }

  getattr(nodeid: number): FuseAttr {
    this.#count("getattr", nodeid);
    return this.#node(nodeid).attr;
  }

  readlink(nodeid: number): Uint8Array {
    this.#count("readlink", nodeid);
    const n = this.#node(nodeid);
    if (!n.target) throw new FuseError(EINVAL);
    return n.target;
  }

  open(nodeid: number): OpenResult {
    this.#count("open", nodeid);
    const n = this.#node(nodeid);
    if (n.children) throw new FuseError(EISDIR);
    // Slow files are direct-IO: each read(2) is one synchronous READ the kernel can INTERRUPT.
    if (this.readDelayMs.has(nodeid)) return { fh: nodeid, directIo: true };
    return { fh: nodeid, keepCache: true };
  }

  async read(nodeid: number, _fh: number, offset: number, size: number, ctx: RequestContext): Promise<Uint8Array> {
    this.#count("read", nodeid);
    const data = this.#node(nodeid).data ?? new Uint8Array(0);
    if (this.beforeRead) await this.beforeRead();
    const delay = this.readDelayMs.get(nodeid) ?? 0;
    if (delay > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        ctx.signal.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
      });
      if (ctx.signal.aborted) {
        this.interruptedReads++;
        throw new Error("read interrupted");
      }
    }
    if (offset >= data.length) return data.subarray(0, 0);
    return data.subarray(offset, Math.min(data.length, offset + size));
  }

  release(): void {
    this.calls.set("release", (this.calls.get("release") ?? 0) + 1);
  }

  opendir(nodeid: number): OpendirResult {
    this.#count("opendir", nodeid);
    if (!this.#node(nodeid).children) throw new FuseError(ENOTDIR);
    return { fh: nodeid, cacheDir: true };
  }

  *#listing(nodeid: number, offset: number, plus: boolean): Generator<FuseDirEntry> {
    const n = this.#node(nodeid);
    const names = [...n.children!.keys()].sort((a, b) => (Buffer.compare(Buffer.from(a), Buffer.from(b))));
    const all: [string, number][] = [[".", nodeid], ["..", n.parent], ...names.map((k): [string, number] => [k, n.children!.get(k)!])];
    for (let i = offset; i < all.length; i++) {
      const [name, id] = all[i];
      if (plus && name !== "." && name !== "..") this.lookupCounts.set(id, (this.lookupCounts.get(id) ?? 0) + 1);
      yield { name: enc.encode(name), nextOffset: i + 1, entry: this.#entry(id) };
    }
  }

  readdir(nodeid: number, _fh: number, offset: number, plus: boolean): Iterable<FuseDirEntry> {
    this.#count(plus ? "readdirplus" : "readdir", nodeid);
    if (!this.#node(nodeid).children) throw new FuseError(ENOTDIR);
    return this.#listing(nodeid, offset, plus);
  }

  releasedir(): void {
    this.calls.set("releasedir", (this.calls.get("releasedir") ?? 0) + 1);
  }

  statfs(): FuseStatfs {
    this.#count("statfs", 1);
    let bytes = 0;
    for (const n of this.nodes.values()) bytes += n.data?.length ?? 0;
    const blocks = Math.ceil(bytes / 4096);
    return { blocks, bfree: 0, bavail: 0, files: this.nodes.size, ffree: 0, bsize: 4096, namelen: 255, frsize: 4096 };
  }

  getxattr(nodeid: number, name: Uint8Array): Uint8Array | null {
    this.#count("getxattr", nodeid);
    return this.#node(nodeid).xattrs.get(dec.decode(name)) ?? null;
  }

  listxattr(nodeid: number): Uint8Array[] {
    this.#count("listxattr", nodeid);
    return [...this.#node(nodeid).xattrs.keys()].map((k) => enc.encode(k));
  }

  destroy(): void {
    this.destroyed = true;
  }

  /** File type of a node, for assertions. */
  typeOf(nodeid: number): number {
    return this.#node(nodeid).attr.mode & S_IFMT;
  }
}

/** Deterministic pseudo-random bytes (xorshift32), so a test can rebuild them. */
export function patternBytes(size: number, seed = 0x9e3779b9): Uint8Array {
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  let x = seed >>> 0;
  let i = 0;
  for (; i + 4 <= size; i += 4) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    v.setUint32(i, x, true);
  }
  for (; i < size; i++) out[i] = i & 0xff;
  return out;
}

export const BIG_SIZE = 5 * 1024 * 1024 + 12345;
export const HELLO = "hello, fuse\n";
export const HELLO_MTIME = 1_700_000_000.123456789;

/**
 * The shared fixture tree:
 *   /hello.txt     "hello, fuse\n", 0644, 1000:1000, xattrs user.greeting=hi, user.empty=""
 *   /big.bin       BIG_SIZE pattern bytes (sha256 in `bigSha256`)
 *   /link -> hello.txt
 *   /hard1, /dir/hard2   one node, nlink 2
 *   /dir           0750, 1000:1000;  /dir/nested/  (so /dir has nlink 3)
 *   /null          char device 1:3, 0666
 *   /plain.txt     no xattrs;  /suid  04755
 */
export function buildFixtureTree(): { fs: MemFs; bigSha256: string } {
  const fs = new MemFs();
  fs.addFile("hello.txt", HELLO, { uid: 1000, gid: 1000, mtime: HELLO_MTIME });
  fs.setXattr("hello.txt", "user.greeting", "hi");
  fs.setXattr("hello.txt", "user.empty", "");
  const big = patternBytes(BIG_SIZE);
  fs.addFile("big.bin", big);
  fs.symlink("link", "hello.txt");
  fs.addFile("hard1", "linked content\n");
  fs.mkdir("dir", { mode: 0o750, uid: 1000, gid: 1000 });
  fs.mkdir("dir/nested");
  fs.link("dir/hard2", "hard1");
  fs.mknod("null", "chr", 1, 3, { mode: 0o666 });
  fs.addFile("plain.txt", "no xattrs here\n");
  fs.addFile("suid", "#!/bin/sh\n", { mode: 0o4755 });
  return { fs, bigSha256: createHash("sha256").update(big).digest("hex") };
}
