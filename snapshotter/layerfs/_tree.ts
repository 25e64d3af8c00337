/**
 * The inode tree of one layer, built once from its TOC entries (snapshotter
 * §8.1–§8.3, formats §3): what a tar extraction of the layer would leave,
 * then translated to overlayfs conventions.
 *
 *  - Names are cleaned (leading `/` and `./`, `.` components, trailing `/`
 *    dropped). A name with a `..` component is skipped with a log line, as
 *    GNU tar skips such members: nothing can name a path outside the layer.
 *    Symlinks are never followed; an entry whose parent path is not a
 *    directory (e.g. `link/x` where `link` is a symlink) is skipped likewise.
 *  - Symlinks show mode 0777 whatever the tar says (as on any Linux
 *    filesystem after extraction; upstream passes the tar mode through).
 *  - Missing parents are created as dir 0755, 0:0, mtime 0, nlink 2 (upstream).
 *  - A later entry for an existing path replaces it, as extraction does; a
 *    `dir` entry over a directory only overwrites its attributes (children and
 *    link count kept). Directory nlink = 2 + subdirectories.
 *  - `hardlink` entries attach their name to the target's node (nlink + 1);
 *    a target that is not an earlier non-directory is a FormatError (the
 *    layer cannot be mounted lazily; upstream fails the same way). So is a
 *    PAX sparse file (`GNU.sparse.*` records): its tar data is not the file,
 *    and serving it would show wrong bytes (our converter skips such layers;
 *    upstream's snapshotter rejects their zTOC, formats §2.5).
 *  - Whiteouts, after all entries: `.wh..wh..opq` marks its directory opaque
 *    and disappears; `.wh.NAME` becomes a char device 0:0 named NAME (mode
 *    S_IFCHR, 0:0, size 0) unless a real NAME exists in the same directory,
 *    in which case it just disappears. No name starting `.wh.` remains.
 *
 * Node ids are indexes into `nodes` (root = 1, FUSE_ROOT_ID); a node replaced
 * during the build keeps its id unused, so ids are never reused. Names are
 * kept as latin1 strings (one char per byte: lossless, byte-order sortable).
 * Not here: FUSE requests (layer_fs.ts), reading data (the `LayerReader`).
 */
import { binaryString as latin1, displayText, fromBinaryString as latin1Bytes } from "../../core-wasm/src/bytes/mod.ts";
import { FormatError } from "../../core-wasm/src/errors.ts";
import type { TocEntry, TocEntryType } from "../../core-wasm/src/ztoc/mod.ts";
import { makeRdev, S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG } from "../fuse/mod.ts";
import { parseModTime } from "./_mod_time.ts";

/** An xattr as served: name without the `SCHILY.xattr.` prefix. */
export interface NodeXattr {
  name: Uint8Array;
  value: Uint8Array;
}

export class LayerNode {
  /** For directories: the parent's id (root: itself). */
  parent = 0;
  mode: number;
  uid = 0;
  gid = 0;
  /** Regular files: data bytes; symlinks: target length; others 0. */
  size = 0;
  /** Offset of a regular file's data in the uncompressed layer. */
  dataOffset = 0;
  mtimeSec = 0;
  mtimeNsec = 0;
  nlink: number;
  rdev = 0;
  link: Uint8Array | null = null;
  xattrs: NodeXattr[] | null = null;
  /** Directories only: latin1 name → node id. */
  children: Map<string, number> | null = null;
  opaque = false;
  /** Regular files: the TOC entry the node's data and attributes come from (for the §8.6 header check). */
  entry: TocEntry | null = null;

  constructor(mode: number) {
    this.mode = mode;
    this.nlink = (mode & S_IFMT) === S_IFDIR ? 2 : 1;
    if ((mode & S_IFMT) === S_IFDIR) this.children = new Map();
  }

  get isDir(): boolean {
    return (this.mode & S_IFMT) === S_IFDIR;
  }
}

const TYPE_BITS: Record<TocEntryType, number> = {
  reg: S_IFREG, dir: S_IFDIR, symlink: S_IFLNK, hardlink: 0, char: S_IFCHR, block: S_IFBLK, fifo: S_IFIFO,
};
const XATTR_PREFIX = "SCHILY.xattr.";
const SPARSE_PREFIX = "GNU.sparse.";
const WH_PREFIX = ".wh.";
const OPAQUE_MARKER = ".wh..wh..opq";
const NAME_MAX = 255;
const PATH_MAX = 4096;

/** One char per byte (core bytes/'s `binaryString`), and back. */
export { latin1, latin1Bytes };

/** Cleaned path components of a tar name, or the reason it cannot name anything in the layer. */
export function cleanName(name: Uint8Array): string[] | { refused: string } {
  if (name.length > PATH_MAX) return { refused: `the name is ${name.length} bytes long (more than ${PATH_MAX})` };
  if (name.includes(0)) return { refused: "the name contains a NUL byte" };
  const parts: string[] = [];
  for (const p of latin1(name).split("/")) {
    if (p === "" || p === ".") continue;
    if (p === "..") return { refused: "the name has a \"..\" component" };
    if (p.length > NAME_MAX) return { refused: `a name component is ${p.length} bytes long (more than ${NAME_MAX})` };
    parts.push(p);
  }
  return parts;
}

export interface TreeStats {
  /** Distinct nodes reachable from the root, root included. */
  fileCount: number;
  /** Sum of the sizes of distinct regular files. */
  totalSize: number;
}

export class LayerTree {
  /** Index = node id; 0 unused. */
  readonly nodes: (LayerNode | undefined)[] = [undefined];
  readonly #digest: string;
  readonly #log: (line: string) => void;
  readonly opaqueDirs: number[] = [];

  constructor(layerDigest: string, log: (line: string) => void) {
    this.#digest = layerDigest;
    this.#log = log;
    const root = this.#add(new LayerNode(S_IFDIR | 0o755));
    root.parent = 1;
  }

  get root(): LayerNode {
    return this.nodes[1]!;
  }

  node(id: number): LayerNode | undefined {
    return this.nodes[id];
  }

  /** Adds a node outside the tree (e.g. the state directory); returns its id. */
  append(n: LayerNode): number {
    this.nodes.push(n);
    return this.nodes.length - 1;
  }

  #add(n: LayerNode): LayerNode {
    this.nodes.push(n);
    return n;
  }

  #skip(e: TocEntry, why: string): void {
    this.#log(`layerfs: skipped TOC entry ${JSON.stringify(displayText(e.name))} of layer ${this.#digest}: ${why}`);
  }

  #fail(e: TocEntry, why: string): never {
    throw new FormatError(`Cannot build the file tree of layer ${JSON.stringify(this.#digest)}: TOC entry ${JSON.stringify(displayText(e.name))} ${why}`,
      { source: this.#digest, uncompressedOffset: e.uncompressedOffset },
      { hint: "The zTOC does not describe a consistent layer; the layer must be pulled in full" });
  }

  /** Adds every TOC entry in order, then translates whiteouts. */
  build(toc: readonly TocEntry[]): void {
    for (const e of toc) this.#addEntry(e);
    this.#translateWhiteouts();
  }

  #addEntry(e: TocEntry): void {
    const typeBits = TYPE_BITS[e.type];
    if (typeBits === undefined) this.#fail(e, `has unknown type ${JSON.stringify(e.type)}`);
    for (const [what, v] of [["offset", e.uncompressedOffset], ["size", e.uncompressedSize]] as const) {
      if (!Number.isSafeInteger(v) || v < 0) this.#fail(e, `has ${what} ${v}, not a non-negative integer`);
    }
    if (e.type === "reg" && e.xattrs.some((x) => latin1(x.key.subarray(0, SPARSE_PREFIX.length)) === SPARSE_PREFIX)) {
      this.#fail(e, "is a PAX sparse file: its bytes in the tar are a sparse map and data regions, not the file");
    }
    const parts = cleanName(e.name);
    if (!Array.isArray(parts)) return this.#skip(e, parts.refused);
    if (parts.length === 0) {
      // "./" or "/": the root's own attributes. Anything else cannot replace the root.
      if (e.type !== "dir") return this.#skip(e, `a ${e.type} entry cannot replace the root directory`);
      return this.#setAttrs(this.root, e, S_IFDIR);
    }
    const parentId = this.#dirOf(parts.slice(0, -1), e);
    if (parentId === null) return;
    const parent = this.nodes[parentId]!;
    const name = parts[parts.length - 1];
    const existingId = parent.children!.get(name);
    if (e.type === "hardlink") {
      const target = this.#linkTarget(e);
      if (existingId === target) return;
      if (existingId !== undefined) this.#unlink(parent, name, existingId);
      parent.children!.set(name, target);
      this.nodes[target]!.nlink++;
      return;
    }
    if (e.type === "dir" && existingId !== undefined && this.nodes[existingId]!.isDir) {
      return this.#setAttrs(this.nodes[existingId]!, e, S_IFDIR);
    }
    if (existingId !== undefined) this.#unlink(parent, name, existingId);
    const n = this.#add(new LayerNode(typeBits));
    this.#setAttrs(n, e, typeBits);
    this.#link(parent, parentId, name, this.nodes.length - 1);
  }

  /** Id of the directory at `parts`, creating missing ones; null (logged) when a component is not a directory. */
  #dirOf(parts: string[], e: TocEntry): number | null {
    let id = 1;
    for (const p of parts) {
      const cur = this.nodes[id]!;
      const c = cur.children!.get(p);
      if (c === undefined) {
        this.#add(new LayerNode(S_IFDIR | 0o755));
        this.#link(cur, id, p, this.nodes.length - 1);
        id = this.nodes.length - 1;
      } else if (this.nodes[c]!.isDir) {
        id = c;
      } else {
        this.#skip(e, `its parent "${displayText(latin1Bytes(parts.join("/")))}" is not a directory (never followed)`);
        return null;
      }
    }
    return id;
  }

  #linkTarget(e: TocEntry): number {
    const parts = cleanName(e.linkname);
    let id: number | undefined = 1;
    if (Array.isArray(parts) && parts.length > 0) {
      for (const p of parts) {
        const cur: LayerNode = this.nodes[id]!;
        id = cur.children?.get(p);
        if (id === undefined) break;
      }
    } else {
      id = undefined;
    }
    if (id === undefined) this.#fail(e, `is a hardlink to ${JSON.stringify(displayText(e.linkname))}, which is not an earlier entry of the layer`);
    if (this.nodes[id]!.isDir) this.#fail(e, `is a hardlink to the directory ${JSON.stringify(displayText(e.linkname))}`);
    return id;
  }

  #link(parent: LayerNode, parentId: number, name: string, childId: number): void {
    parent.children!.set(name, childId);
    const c = this.nodes[childId]!;
    if (c.isDir) {
      c.parent = parentId;
      parent.nlink++;
    }
  }

  #unlink(parent: LayerNode, name: string, childId: number): void {
    parent.children!.delete(name);
    const c = this.nodes[childId]!;
    if (c.isDir) parent.nlink--;
    else c.nlink--;
  }

  #setAttrs(n: LayerNode, e: TocEntry, typeBits: number): void {
    // Linux symlinks are always 0777 (as tar -x leaves them); other types keep setuid/setgid/sticky.
    n.mode = typeBits === S_IFLNK ? S_IFLNK | 0o777 : typeBits | (e.mode & 0o7777);
    n.uid = e.uid >>> 0;
    n.gid = e.gid >>> 0;
    const t = parseModTime(e.modTime);
    if (t === null && e.modTime.length > 0) this.#log(`layerfs: TOC entry ${JSON.stringify(displayText(e.name))} of layer ${this.#digest} has an unreadable mod_time ${JSON.stringify(displayText(e.modTime))}; using the epoch`);
    n.mtimeSec = t?.sec ?? 0;
    n.mtimeNsec = t?.nsec ?? 0;
    n.size = typeBits === S_IFREG ? e.uncompressedSize : typeBits === S_IFLNK ? e.linkname.length : 0;
    n.dataOffset = typeBits === S_IFREG ? e.uncompressedOffset : 0;
    n.entry = typeBits === S_IFREG ? e : null;
    n.link = typeBits === S_IFLNK ? e.linkname : null;
    n.rdev = typeBits === S_IFCHR || typeBits === S_IFBLK ? makeRdev(e.devmajor, e.devminor) : 0;
    let xattrs: NodeXattr[] | null = null;
    for (const x of e.xattrs) {
      if (x.key.length <= XATTR_PREFIX.length || latin1(x.key.subarray(0, XATTR_PREFIX.length)) !== XATTR_PREFIX) continue;
      (xattrs ??= []).push({ name: x.key.subarray(XATTR_PREFIX.length), value: x.value });
    }
    n.xattrs = xattrs;
  }

  /** snapshotter §8.3, over every reachable directory. */
  #translateWhiteouts(): void {
    const stack = [1];
    while (stack.length > 0) {
      const id = stack.pop()!;
      const dir = this.nodes[id]!;
      for (const [name, childId] of [...dir.children!]) {
        if (!name.startsWith(WH_PREFIX)) {
          if (this.nodes[childId]!.isDir) stack.push(childId);
          continue;
        }
        const wh = this.nodes[childId]!;
        this.#unlink(dir, name, childId);
        if (name === OPAQUE_MARKER) {
          dir.opaque = true;
          this.opaqueDirs.push(id);
          continue;
        }
        const hidden = name.slice(WH_PREFIX.length);
        if (hidden === "" || hidden.startsWith(WH_PREFIX) || dir.children!.has(hidden)) continue;
        const n = this.#add(new LayerNode(S_IFCHR));
        n.mtimeSec = wh.mtimeSec;
        n.mtimeNsec = wh.mtimeNsec;
        dir.children!.set(hidden, this.nodes.length - 1);
      }
    }
  }

  /** Counts distinct reachable nodes and regular-file bytes. */
  stats(): TreeStats {
    const seen = new Uint8Array(this.nodes.length);
    let fileCount = 0;
    let totalSize = 0;
    const stack = [1];
    seen[1] = 1;
    while (stack.length > 0) {
      const n = this.nodes[stack.pop()!]!;
      fileCount++;
      if ((n.mode & S_IFMT) === S_IFREG) totalSize += n.size;
      if (n.children === null) continue;
      for (const c of n.children.values()) {
        if (seen[c]) continue;
        seen[c] = 1;
        stack.push(c);
      }
    }
    return { fileCount, totalSize };
  }
}
