/**
 * Precomputed replies for a filesystem whose tree never changes (a layer,
 * snapshotter §8), so the device reader threads can answer LOOKUP, GETATTR
 * and the stateless requests below themselves instead of handing each to the
 * main thread:
 * a round trip there costs ≈ 60 µs of thread hops and wake-ups against ≈ 2 µs
 * of handling (NOTES, session 4). The bodies are encoded here by the server's
 * own encoders with the server's timeouts, so a reader's reply is byte for
 * byte the one the server would send; a reader answers only names and nodes
 * it finds in the tables (plus the negative reply for an unknown name in a
 * known directory) and forwards everything else.
 *
 * Layout (plain data, structured-cloned to each reader): `attrs` holds one
 * 104-byte fuse_attr_out per node at `attrAt` (−1: not answered here);
 * `entries` one 128-byte fuse_entry_out per (directory, name) at the offset
 * `lookups` maps `"<dir id>/<name as latin1>"` to (its attr copied from the
 * child's fuse_attr_out, a child without one is not tabled); `dirs[id]` = 1 for a directory
 * whose misses may be answered with `negative`, the entry_out of a miss
 * (nodeid 0, entry_valid = the negative timeout; null when the server answers
 * misses ENOENT: then they are forwarded); `forward` the `"<dir>/<name>"`
 * keys always left to the server (names it resolves specially).
 *
 * Also the replies that need no state: OPEN of a node (`openAt` into `opens`,
 * the fuse_open_out the filesystem's `open` gives for a read-only open; write
 * opens are forwarded for the server's EROFS), OPENDIR of a known directory
 * (`opendir`), READLINK of a symlink (`links`), and the empty success replies
 * of FLUSH, RELEASE and RELEASEDIR for nodes the filesystem keeps no
 * per-open state for (`quiet`), and GETXATTR of a node that has no extended
 * attribute at all (`xattrMiss[id]` = 1: the error reply `xattrErrno`, the
 * server's ENODATA — or ENOSYS for every node when the server has xattrs
 * disabled). Overlayfs asks each lower file for its `trusted.overlay.*`
 * attributes on every lookup: ≈ 1,900 GETXATTRs for one `python3
 * /app/main.py` of the debian-python fixture, nearly all misses (NOTES,
 * session 5). Only results the filesystem returns synchronously are tabled;
 * anything it throws for is forwarded.
 *
 * Not here: the reader loop (device.ts), which names to list (the filesystem).
 */
import type { FuseAttr, OpendirResult, OpenResult, ReadOnlyFileSystem, RequestContext } from "./file_system.ts";
import { ENODATA, ENOSYS, O_RDONLY, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG } from "./protocol.ts";
import { ATTR_OUT_SIZE, ATTR_SIZE, ENTRY_OUT_SIZE, OPEN_OUT_SIZE, opendirFlagsOf, openFlagsOf, writeAttrOut, writeEntryOut, writeOpenOut, type Validity } from "./structs.ts";

export interface FastReplies {
  lookups: Map<string, number>;
  entries: Uint8Array;
  attrAt: Int32Array;
  attrs: Uint8Array;
  dirs: Uint8Array;
  negative: Uint8Array | null;
  forward: Set<string>;
  openAt: Int32Array;
  opens: Uint8Array;
  opendir: Uint8Array | null;
  links: Map<number, Uint8Array>;
  quiet: Uint8Array;
  xattrMiss: Uint8Array;
  xattrErrno: number;
}

/** The server settings the replies depend on (a FuseServer is one). */
export interface FastTimeouts {
  entryValid: Validity;
  attrValid: Validity;
  negativeValid: Validity;
  options?: { disableXattrs?: boolean };
}

/** What a static filesystem lists for the tables. */
export interface FastSource {
  /** Every child of every directory reachable by LOOKUP: the node LOOKUP returns (its attr is the node's). */
  entries(): Iterable<{ parent: number; name: string; nodeid: number }>;
  /** Every node GETATTR may be answered for from the table (directories among them get negative lookups). */
  nodes(): Iterable<{ nodeid: number; attr: FuseAttr }>;
  /** (directory, name) pairs the server must always answer. */
  reserved(): Iterable<{ parent: number; name: string }>;
  /** True when the filesystem's getxattr finds only names its listxattr lists (then an empty list means every GETXATTR misses). */
  readonly xattrsListed?: boolean;
}

const isPromise = (x: unknown): boolean => typeof (x as { then?: unknown } | null)?.then === "function";

/** `fs` (optional): its open/opendir/readlink fill the stateless tables; without it only LOOKUP/GETATTR are tabled. */
export function buildFastReplies(src: FastSource, t: FastTimeouts, fs?: ReadOnlyFileSystem): FastReplies {
  const nodes = [...src.nodes()];
  const maxId = nodes.reduce((m, n) => Math.max(m, n.nodeid), 0);
  const attrAt = new Int32Array(maxId + 1).fill(-1);
  const attrs = new Uint8Array(nodes.length * ATTR_OUT_SIZE);
  const dirs = new Uint8Array(maxId + 1);
  const av = new DataView(attrs.buffer);
  nodes.forEach((n, i) => {
    writeAttrOut(av, i * ATTR_OUT_SIZE, t.attrValid, n.attr);
    attrAt[n.nodeid] = i * ATTR_OUT_SIZE;
    if ((n.attr.mode & S_IFMT) === S_IFDIR) dirs[n.nodeid] = 1;
  });
  // An entry is its header (nodeid, timeouts) and the child's fuse_attr (the tail of both structs), copied from `attrs`.
  const list = [...src.entries()].filter((e) => e.nodeid < attrAt.length && attrAt[e.nodeid]! >= 0);
  const entries = new Uint8Array(list.length * ENTRY_OUT_SIZE);
  const ev = new DataView(entries.buffer);
  const lookups = new Map<string, number>();
  list.forEach((e, i) => {
    const at = i * ENTRY_OUT_SIZE;
    writeEntryOut(ev, at, e.nodeid, 0, t.entryValid, t.attrValid, null);
    const a = attrAt[e.nodeid]! + ATTR_OUT_SIZE - ATTR_SIZE;
    entries.set(attrs.subarray(a, a + ATTR_SIZE), at + ENTRY_OUT_SIZE - ATTR_SIZE);
    lookups.set(`${e.parent}/${e.name}`, at);
  });
  const forward = new Set<string>();
  for (const r of src.reserved()) forward.add(`${r.parent}/${r.name}`);
  const openAt = new Int32Array(maxId + 1).fill(-1);
  const opens = new Uint8Array(nodes.length * OPEN_OUT_SIZE);
  const ov = new DataView(opens.buffer);
  const links = new Map<number, Uint8Array>();
  const quiet = new Uint8Array(maxId + 1);
  const xattrMiss = new Uint8Array(maxId + 1);
  const xattrErrno = t.options?.disableXattrs ? ENOSYS : ENODATA;
  let opendir: Uint8Array | null = null;
  if (fs !== undefined) {
    const ctx: RequestContext = { unique: 0n, nodeid: 0, uid: 0, gid: 0, pid: 0, signal: new AbortController().signal };
    const attempt = <T>(f: () => unknown): T | undefined => {
      try {
        const r = f();
        return isPromise(r) ? undefined : (r as T);
      } catch {
        return undefined;
      }
    };
    // The server calls these when a filesystem defines them; with none defined the replies carry nothing from it.
    const stateless = fs.release === undefined && fs.releasedir === undefined;
    nodes.forEach((n, i) => {
      const type = n.attr.mode & S_IFMT;
      if (type === S_IFREG && fs.open !== undefined) {
        const r = attempt<OpenResult>(() => fs.open!(n.nodeid, O_RDONLY, ctx));
        if (r !== undefined) {
          writeOpenOut(ov, i * OPEN_OUT_SIZE, r.fh, openFlagsOf(r));
          openAt[n.nodeid] = i * OPEN_OUT_SIZE;
        }
      } else if (type === S_IFLNK) {
        const target = attempt<Uint8Array>(() => fs.readlink(n.nodeid, ctx));
        if (target !== undefined) links.set(n.nodeid, target.slice());
      }
      if (stateless) quiet[n.nodeid] = 1;
      // As opcodes.ts GETXATTR: disabled → ENOSYS; no getxattr → ENODATA; else a node listing nothing misses every name.
      if (xattrErrno === ENOSYS || fs.getxattr === undefined) xattrMiss[n.nodeid] = 1;
      else if (src.xattrsListed === true && fs.listxattr !== undefined && attempt<Uint8Array[]>(() => fs.listxattr!(n.nodeid, ctx))?.length === 0) xattrMiss[n.nodeid] = 1;
    });
    const root = nodes.find((n) => (n.attr.mode & S_IFMT) === S_IFDIR);
    const od = root && fs.opendir ? attempt<OpendirResult>(() => fs.opendir!(root.nodeid, O_RDONLY, ctx)) : undefined;
    // One answer for every directory: only when the filesystem gives every one the same.
    if (od !== undefined && nodes.every((n) => (n.attr.mode & S_IFMT) !== S_IFDIR || sameOpendir(attempt<OpendirResult>(() => fs.opendir!(n.nodeid, O_RDONLY, ctx)), od))) {
      opendir = new Uint8Array(OPEN_OUT_SIZE);
      writeOpenOut(new DataView(opendir.buffer), 0, od.fh, opendirFlagsOf(od));
    }
  }
  let negative: Uint8Array | null = null;
  if (t.negativeValid.sec !== 0 || t.negativeValid.nsec !== 0) {
    negative = new Uint8Array(ENTRY_OUT_SIZE);
    writeEntryOut(new DataView(negative.buffer), 0, 0, 0, t.negativeValid, { sec: 0, nsec: 0 }, null);
  }
  return { lookups, entries, attrAt, attrs, dirs, negative, forward, openAt, opens, opendir, links, quiet, xattrMiss, xattrErrno };
}

function sameOpendir(a: OpendirResult | undefined, b: OpendirResult): boolean {
  return a !== undefined && a.fh === b.fh && (a.cacheDir ?? false) === (b.cacheDir ?? false);
}
