/**
 * Extracting one uncompressed layer tar (a local file) into a directory,
 * safely, with OCI whiteouts converted to overlayfs form exactly as layerfs
 * presents them (snapshotter §5 step 5, §8.3):
 *
 * * Names are raw bytes (non-UTF-8 names survive); leading `/` and `./` and
 *   empty or `.` components are dropped (absolute names are contained under
 *   the layer dir); a `..` component refuses the layer.
 * * Every parent is checked with lstat (or known from this run): a symlinked
 *   parent refuses the layer, so nothing is written outside the directory.
 *   Hardlink targets are cleaned and checked the same way and must already be
 *   in this layer.
 * * `.wh..wh..opq` → `trusted.overlay.opaque=y` on its directory; `.wh.X` →
 *   a 0:0 character device `X` (unless the layer also has a real `X`).
 * * Owners, devices, whiteout devices and xattrs (PAX `SCHILY.xattr.*`) are
 *   applied only as root (FIFOs always); modes, ns mtimes and owners go
 *   through `_meta_helper.ts` after the content, directories last and deepest
 *   first (so read-only directories can be filled and their mtimes stick).
 *
 * Not here: download, digest check and decompression (unpack_layer.ts).
 */
import { constants } from "node:fs";
import { link, lstat, mkdir, open, rm, symlink, unlink, type FileHandle } from "node:fs/promises";
import { FormatError } from "../../core-wasm/src/errors.ts";
import { TarWalker, type TarEntry } from "../../core-wasm/src/tar/mod.ts";
import { applyMeta, type MetaOp } from "./_meta_helper.ts";

const SLASH = 0x2f;
const WH = Buffer.from(".wh.");
const OPAQUE = Buffer.from(".wh..wh..opq");
const XATTR_PREFIX = Buffer.from("SCHILY.xattr.");
const COPY_CHUNK = 1 << 20;

export interface ExtractOptions {
  /** Apply owners, devices and xattrs (true only as root). */
  privileged: boolean;
  /** Layer digest, for messages. */
  source: string;
  log?: (line: string) => void;
}

export interface ExtractSummary {
  entries: number;
  files: number;
  whiteouts: number;
  opaqueDirs: number;
  /** What was left out (non-root devices, unknown types), one line each. */
  skipped: string[];
}

/** Lists the entries of the tar file `tarPath` (Go archive/tar semantics). */
export async function listTar(tarPath: string, source: string): Promise<TarEntry[]> {
  const entries: TarEntry[] = [];
  const walker = new TarWalker({ onEntry: (e) => entries.push(e), source });
  const fh = await open(tarPath, "r");
  try {
    const buf = new Uint8Array(COPY_CHUNK);
    let pos = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) break;
      walker.push(buf.subarray(0, bytesRead), pos);
      pos += bytesRead;
      if (walker.done) break;
    }
    walker.finish();
  } finally {
    await fh.close();
  }
  return entries;
}

/** `name` as cleaned path components; throws FormatError for `..`. */
export function cleanName(name: Uint8Array, source: string): Buffer[] {
  const parts: Buffer[] = [];
  let start = 0;
  const b = Buffer.from(name.buffer, name.byteOffset, name.byteLength);
  for (let i = 0; i <= b.length; i++) {
    if (i < b.length && b[i] !== SLASH) continue;
    const part = b.subarray(start, i);
    start = i + 1;
    if (part.length === 0 || (part.length === 1 && part[0] === 0x2e)) continue;
    if (part.length === 2 && part[0] === 0x2e && part[1] === 0x2e) {
      throw new FormatError(`Cannot unpack layer ${source}: entry ${JSON.stringify(b.toString("latin1"))} has a ".." component`, { source }, {
        hint: "The layer tries to write outside its directory; it is refused",
      });
    }
    parts.push(Buffer.from(part));
  }
  return parts;
}

const joinPath = (root: Buffer, parts: Buffer[]) => Buffer.concat([root, ...parts.flatMap((p) => [Buffer.from("/"), p])]);
const keyOf = (parts: Buffer[]) => parts.map((p) => p.toString("latin1")).join("/");
const show = (parts: Buffer[]) => JSON.stringify(keyOf(parts));

interface Attrs {
  path: Buffer;
  depth: number;
  isDir: boolean;
  isSymlink: boolean;
  mode: number;
  uid: number;
  gid: number;
  ns: string;
  xattrs: Array<{ key: Uint8Array; value: Uint8Array }>;
}

function mtimeNs(e: TarEntry): string {
  if (!Number.isFinite(e.mtime)) return "0";
  return (BigInt(Math.trunc(e.mtime)) * 1_000_000_000n + BigInt(e.mtimeNanos)).toString();
}

function xattrsOf(e: TarEntry): Array<{ key: Uint8Array; value: Uint8Array }> {
  const out: Array<{ key: Uint8Array; value: Uint8Array }> = [];
  for (const r of e.paxRecords) {
    const k = Buffer.from(r.key.buffer, r.key.byteOffset, r.key.byteLength);
    if (k.length > XATTR_PREFIX.length && k.subarray(0, XATTR_PREFIX.length).equals(XATTR_PREFIX)) out.push({ key: k.subarray(XATTR_PREFIX.length), value: r.value });
  }
  return out;
}

/**
 * Extracts the tar at `tarPath` (entries from `listTar`) into the existing,
 * empty directory `root`. Throws FormatError for hostile names (see header)
 * and SociError when metadata cannot be applied; the caller removes `root`
 * on failure.
 */
export async function extractTar(tarPath: string, entries: TarEntry[], rootDir: string, opts: ExtractOptions): Promise<ExtractSummary> {
  const root = Buffer.from(rootDir);
  const { source } = opts;
  const dirs = new Set<string>([""]); // known real directories (keys), root included
  const attrs = new Map<string, Attrs>();
  const real = new Set<string>(); // names the layer creates (not whiteouts)
  const whiteouts: Array<{ parts: Buffer[]; e: TarEntry }> = [];
  const opaque = new Set<string>();
  const summary: ExtractSummary = { entries: entries.length, files: 0, whiteouts: 0, opaqueDirs: 0, skipped: [] };
  const devices = new Map<string, MetaOp>(); // mknod is deferred to the helper: pending nodes by key
  const tar = await open(tarPath, "r");

  /** Makes sure every parent of `parts` is a real directory inside root (creating missing ones). */
  const ensureParents = async (parts: Buffer[]) => {
    for (let i = 1; i < parts.length; i++) {
      const key = keyOf(parts.slice(0, i));
      if (dirs.has(key)) continue;
      const p = joinPath(root, parts.slice(0, i));
      const st = await lstat(p).catch(() => null);
      if (st === null) {
        await mkdir(p, { mode: 0o755 });
        real.add(key); // an implicit parent is part of the layer: a whiteout of the same name must not remove it
      }
      else if (st.isSymbolicLink()) {
        throw new FormatError(`Cannot unpack layer ${source}: the parent ${show(parts.slice(0, i))} of ${show(parts)} is a symlink`, { source }, {
          hint: "The layer could write outside its directory through it; it is refused",
        });
      } else if (!st.isDirectory()) {
        throw new FormatError(`Cannot unpack layer ${source}: the parent ${show(parts.slice(0, i))} of ${show(parts)} is not a directory`, { source });
      }
      dirs.add(key);
    }
  };
  /** Removes whatever is at `p` unless it is a directory and `keepDir`. Returns true when a directory stays. */
  const clear = async (p: Buffer, key: string, keepDir: boolean): Promise<boolean> => {
    const pending = devices.delete(key); // a later entry replaces a node not yet made
    const st = await lstat(p).catch(() => null);
    if (pending) attrs.delete(key);
    if (st === null) return false;
    if (st.isDirectory()) {
      if (keepDir) return true;
      await rm(p, { recursive: true, force: true });
      const under = (k: string) => k === key || k.startsWith(key + "/");
      for (const d of [...dirs]) if (under(d)) dirs.delete(d);
      for (const k of [...attrs.keys()]) if (under(k)) attrs.delete(k);
      for (const k of [...opaque]) if (under(k)) opaque.delete(k);
      for (const k of [...devices.keys()]) if (under(k)) devices.delete(k);
      return false;
    }
    await unlink(p);
    return false;
  };

  try {
    for (const e of entries) {
      const parts = cleanName(e.name, source);
      const base = parts.length > 0 ? parts[parts.length - 1] : Buffer.alloc(0);
      if (base.length >= WH.length && base.subarray(0, WH.length).equals(WH)) {
        await ensureParents(parts);
        if (base.equals(OPAQUE)) {
          const dirParts = parts.slice(0, -1);
          const dirPath = joinPath(root, dirParts);
          if (dirParts.length > 0 && !(await clear(dirPath, keyOf(dirParts), true))) await mkdir(dirPath, { mode: 0o755 });
          dirs.add(keyOf(dirParts));
          opaque.add(keyOf(dirParts));
        } else {
          whiteouts.push({ parts: [...parts.slice(0, -1), base.subarray(WH.length)], e });
        }
        continue;
      }
      const key = keyOf(parts);
      const path = joinPath(root, parts);
      await ensureParents(parts);
      const a: Attrs = {
        path, depth: parts.length, isDir: false, isSymlink: false, mode: e.mode & 0o7777, uid: e.uid >>> 0, gid: e.gid >>> 0, ns: mtimeNs(e), xattrs: xattrsOf(e),
      };
      switch (e.typeflag) {
        case 0x35: // dir
          if (parts.length > 0 && !(await clear(path, key, true))) await mkdir(path, { mode: 0o700 });
          dirs.add(key);
          a.isDir = true;
          break;
        case 0x30: case 0x37: case 0x53: // regular, contiguous, old GNU sparse
          await clear(path, key, false);
          await writeFile(tar, e, path);
          summary.files++;
          break;
        case 0x32: // symlink
          await clear(path, key, false);
          await symlink(Buffer.from(e.linkname), path);
          a.isSymlink = true;
          break;
        case 0x31: { // hardlink: the name joins the target's inode; its own header attributes are not applied
          const target = cleanName(e.linkname, source);
          await ensureParents(target);
          const tpath = joinPath(root, target);
          const st = await lstat(tpath).catch(() => null);
          if (st === null || st.isDirectory()) {
            throw new FormatError(`Cannot unpack layer ${source}: hardlink ${show(parts)} names ${show(target)}, which is ${st === null ? "not in the layer" : "a directory"}`, { source });
          }
          if (keyOf(target) !== key) {
            await clear(path, key, false);
            await link(tpath, path);
          }
          real.add(key);
          attrs.delete(key);
          continue;
        }
        case 0x33: case 0x34: case 0x36: { // char, block, fifo
          await clear(path, key, false);
          if (!opts.privileged && e.typeflag !== 0x36) {
            summary.skipped.push(`device ${show(parts)} (needs root)`);
            continue;
          }
          const type = e.typeflag === 0x33 ? constants.S_IFCHR : e.typeflag === 0x34 ? constants.S_IFBLK : constants.S_IFIFO;
          devices.set(key, { op: "mknod", path, mode: type | 0o600, major: e.devmajor, minor: e.devminor });
          break;
        }
        default:
          summary.skipped.push(`entry ${show(parts)} of tar type ${JSON.stringify(String.fromCharCode(e.typeflag))}`);
          continue;
      }
      real.add(key);
      attrs.set(key, a);
    }
    for (const w of whiteouts) {
      const key = keyOf(w.parts);
      if (real.has(key)) continue; // the layer has the real entry too: it wins (§8.3)
      const path = joinPath(root, w.parts);
      await clear(path, key, false);
      summary.whiteouts++;
      if (!opts.privileged) {
        summary.skipped.push(`whiteout ${show(w.parts)} (needs root)`);
        continue;
      }
      devices.set(key, { op: "mknod", path, mode: constants.S_IFCHR, major: 0, minor: 0 });
      attrs.set(key, { path, depth: w.parts.length, isDir: false, isSymlink: false, mode: 0, uid: 0, gid: 0, ns: mtimeNs(w.e), xattrs: [] });
    }
  } finally {
    await tar.close();
  }
  summary.opaqueDirs = opaque.size;
  await applyAll(root, attrs, [...devices.values()], opaque, opts, summary);
  return summary;
}

/** mknod, then owners/modes/xattrs/times of non-directories, then directories deepest first. */
async function applyAll(root: Buffer, attrs: Map<string, Attrs>, devices: MetaOp[], opaque: Set<string>, opts: ExtractOptions, summary: ExtractSummary): Promise<void> {
  const ops: MetaOp[] = [...devices];
  const all = [...attrs.values()];
  const files = all.filter((a) => !a.isDir);
  const dirs = all.filter((a) => a.isDir);
  for (const key of opaque) if (!attrs.has(key)) dirs.push({ path: joinPath(root, key === "" ? [] : key.split("/").map((s) => Buffer.from(s, "latin1"))), depth: key === "" ? 0 : key.split("/").length, isDir: true, isSymlink: false, mode: -1, uid: 0, gid: 0, ns: "", xattrs: [] });
  dirs.sort((x, y) => y.depth - x.depth);
  const add = (a: Attrs, isOpaque: boolean) => {
    if (opts.privileged && a.mode >= 0) ops.push({ op: "chown", path: a.path, uid: a.uid, gid: a.gid });
    if (!a.isSymlink && a.mode >= 0) ops.push({ op: "chmod", path: a.path, mode: a.mode });
    if (opts.privileged) for (const x of a.xattrs) ops.push({ op: "setxattr", path: a.path, key: x.key, value: x.value });
    if (isOpaque && opts.privileged) ops.push({ op: "setxattr", path: a.path, key: Buffer.from("trusted.overlay.opaque"), value: Buffer.from("y") });
    if (a.ns !== "") ops.push({ op: "utime", path: a.path, ns: a.ns });
  };
  for (const a of files) add(a, false);
  for (const a of dirs) add(a, opaque.has(keyOfPath(root, a.path)));
  if (!opts.privileged && opaque.size > 0) summary.skipped.push(`${opaque.size} opaque directories (trusted.overlay.opaque needs root)`);
  const failures = await applyMeta(ops);
  for (const f of failures) {
    const o = ops[f.index];
    const what = `${f.op} ${JSON.stringify(Buffer.from(o.path.subarray(root.length)).toString("latin1"))}: ${f.message}`;
    // xattrs the filesystem refuses (ENOTSUP, EPERM on security.*) are skipped visibly; everything else fails the layer.
    if (f.op === "setxattr" && o.op === "setxattr" && Buffer.from(o.key).toString("latin1") !== "trusted.overlay.opaque") {
      summary.skipped.push(what);
      opts.log?.(`layer ${opts.source}: skipped ${what}`);
      continue;
    }
    throw new FormatError(`Cannot unpack layer ${opts.source}: ${what}`, { source: opts.source });
  }
}

function keyOfPath(root: Buffer, path: Buffer): string {
  return path.subarray(root.length + 1).toString("latin1");
}

/** Copies the entry's data from the tar (honouring a sparse map) into a new file at `path`. */
async function writeFile(tar: FileHandle, e: TarEntry, path: Buffer): Promise<void> {
  const out = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  try {
    const buf = Buffer.allocUnsafe(Math.min(COPY_CHUNK, Math.max(e.physicalSize, 1)));
    const copy = async (from: number, to: number, length: number) => {
      while (length > 0) {
        const n = Math.min(buf.length, length);
        const { bytesRead } = await tar.read(buf, 0, n, from);
        if (bytesRead !== n) throw new FormatError(`Cannot unpack file data: the tar ends inside it`, { uncompressedOffset: from });
        await out.write(buf, 0, n, to);
        from += n;
        to += n;
        length -= n;
      }
    };
    if (e.sparse === null) await copy(e.dataOffset, 0, e.size);
    else {
      let from = e.dataOffset;
      for (const s of e.sparse) {
        await copy(from, s.offset, s.length);
        from += s.length;
      }
      await out.truncate(e.size);
    }
  } finally {
    await out.close();
  }
}
