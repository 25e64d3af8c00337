/**
 * The FUSE opcode table (fuse.md §7; STYLE §9.10, after go-fuse
 * `fuse/opcode.go`): one row per opcode — kernel name, whether it is
 * answered, and a handler that decodes the body and builds the whole reply.
 * Opcodes without a row answer ENOSYS (in `server.ts`); write opcodes answer
 * EROFS; GETXATTR/LISTXATTR answer ENODATA/empty, never ENOSYS (sticky,
 * fuse.md §7.1). Handlers throw `FuseError` for an errno reply and let
 * decoding `RangeError`s through (→ EINVAL). The loop, INIT and INTERRUPT
 * state live in `server.ts`.
 */
import type { ByteReader } from "../../core-wasm/src/bytes/mod.ts";
import type { FuseDirEntry, RequestContext } from "./file_system.ts";
import * as P from "./protocol.ts";
import { FuseError, opcodeName } from "./protocol.ts";
import type { FuseServer } from "./server.ts";
import * as S from "./structs.ts";

/** What a handler sees: the header, the body cursor, the caller. */
export interface Request {
  h: S.InHeader;
  body: ByteReader;
  ctx: RequestContext;
}

/**
 * A reply in two pieces written with one writev: `head` is the 16-byte out
 * header, `body` the payload as the handler got it (READ: the file bytes, not
 * copied into a reply buffer — one less allocation and copy per read).
 */
export interface ReplyParts {
  head: Uint8Array;
  body: Uint8Array;
}

/**
 * A table row. `run` returns the whole reply buffer with 16 bytes reserved for
 * the out header (see `alloc`), ReplyParts, or `null` for an empty success body.
 */
export interface Row {
  name: string;
  noReply?: boolean;
  run(s: FuseServer, req: Request): Promise<Uint8Array | ReplyParts | null> | Uint8Array | ReplyParts | null;
}

export function alloc(bodySize: number): { bytes: Uint8Array; view: DataView } {
  const bytes = new Uint8Array(S.OUT_HEADER_SIZE + bodySize);
  return { bytes, view: new DataView(bytes.buffer) };
}

function erofs(): never {
  throw new FuseError(P.EROFS);
}

/** Applies the size-probe / ERANGE / value rule of GETXATTR and LISTXATTR. */
function xattrReply(value: Uint8Array, size: number): Uint8Array {
  if (size === 0) {
    const { bytes, view } = alloc(S.GETXATTR_OUT_SIZE);
    view.setUint32(S.OUT_HEADER_SIZE, value.length, true); // fuse_getxattr_out.size; padding 0
    return bytes;
  }
  if (size < value.length) throw new FuseError(P.ERANGE);
  const { bytes } = alloc(value.length);
  bytes.set(value, S.OUT_HEADER_SIZE);
  return bytes;
}

export const TABLE: Record<number, Row> = {
  [P.FUSE_INIT]: { name: "INIT", run: (s, q) => s.init(S.decodeInitIn(q.body)) },
  [P.FUSE_DESTROY]: { name: "DESTROY", run: (s) => (s.destroy(), null) },
  [P.FUSE_LOOKUP]: { name: "LOOKUP", run: (s, q) => lookup(s, q, S.decodeName(q.body)) },
  [P.FUSE_FORGET]: {
    name: "FORGET", noReply: true,
    run: (s, q) => (s.fs.forget?.(q.h.nodeid, S.decodeForgetIn(q.body).nlookup), null),
  },
  [P.FUSE_BATCH_FORGET]: {
    name: "BATCH_FORGET", noReply: true,
    run: (s, q) => {
      for (const f of S.decodeBatchForgetIn(q.body)) s.fs.forget?.(f.nodeid, f.nlookup);
      return null;
    },
  },
  [P.FUSE_GETATTR]: {
    name: "GETATTR",
    run: async (s, q) => {
      S.decodeGetattrIn(q.body); // the fh is not needed: attributes are per node
      const attr = await s.fs.getattr(q.h.nodeid, q.ctx);
      const { bytes, view } = alloc(S.ATTR_OUT_SIZE);
      S.writeAttrOut(view, S.OUT_HEADER_SIZE, s.attrValid, attr);
      return bytes;
    },
  },
  [P.FUSE_READLINK]: {
    name: "READLINK",
    run: async (s, q) => {
      const target = await s.fs.readlink(q.h.nodeid, q.ctx);
      const { bytes } = alloc(target.length);
      bytes.set(target, S.OUT_HEADER_SIZE);
      return bytes;
    },
  },
  [P.FUSE_OPEN]: {
    name: "OPEN",
    run: async (s, q) => {
      const { flags } = S.decodeOpenIn(q.body);
      if ((flags & P.O_ACCMODE) !== P.O_RDONLY) erofs();
      const r = (await s.fs.open?.(q.h.nodeid, flags, q.ctx)) ?? { fh: 0, keepCache: true };
      const { bytes, view } = alloc(S.OPEN_OUT_SIZE);
      S.writeOpenOut(view, S.OUT_HEADER_SIZE, r.fh, S.openFlagsOf(r));
      return bytes;
    },
  },
  [P.FUSE_READ]: {
    name: "READ",
    run: async (s, q) => {
      const r = S.decodeReadIn(q.body);
      s.checkSize(r.size);
      const data = await s.fs.read(q.h.nodeid, r.fh, r.offset, r.size, q.ctx);
      const n = Math.min(data.length, r.size);
      return { head: new Uint8Array(S.OUT_HEADER_SIZE), body: n === data.length ? data : data.subarray(0, n) };
    },
  },
  [P.FUSE_RELEASE]: { name: "RELEASE", run: async (s, q) => (await s.fs.release?.(q.h.nodeid, S.decodeReleaseIn(q.body).fh), null) },
  [P.FUSE_FLUSH]: { name: "FLUSH", run: () => null },
  [P.FUSE_FSYNC]: { name: "FSYNC", run: () => null },
  [P.FUSE_FSYNCDIR]: { name: "FSYNCDIR", run: () => null },
  [P.FUSE_OPENDIR]: {
    name: "OPENDIR",
    run: async (s, q) => {
      const { flags } = S.decodeOpenIn(q.body);
      const r = (await s.fs.opendir?.(q.h.nodeid, flags, q.ctx)) ?? { fh: 0 };
      const { bytes, view } = alloc(S.OPEN_OUT_SIZE);
      S.writeOpenOut(view, S.OUT_HEADER_SIZE, r.fh, S.opendirFlagsOf(r));
      return bytes;
    },
  },
  [P.FUSE_READDIR]: { name: "READDIR", run: (s, q) => readdir(s, q, false) },
  [P.FUSE_READDIRPLUS]: { name: "READDIRPLUS", run: (s, q) => readdir(s, q, true) },
  [P.FUSE_RELEASEDIR]: { name: "RELEASEDIR", run: async (s, q) => (await s.fs.releasedir?.(q.h.nodeid, S.decodeReleaseIn(q.body).fh), null) },
  [P.FUSE_STATFS]: {
    name: "STATFS",
    run: async (s, q) => {
      const st = await s.fs.statfs(q.h.nodeid, q.ctx);
      const { bytes, view } = alloc(S.KSTATFS_SIZE);
      S.writeKstatfs(view, S.OUT_HEADER_SIZE, st);
      return bytes;
    },
  },
  [P.FUSE_GETXATTR]: {
    name: "GETXATTR",
    run: async (s, q) => {
      const { size } = S.decodeGetxattrIn(q.body);
      const name = S.decodeName(q.body);
      if (s.options.disableXattrs) throw new FuseError(P.ENOSYS);
      const value = s.fs.getxattr ? await s.fs.getxattr(q.h.nodeid, name, q.ctx) : null;
      if (value === null) throw new FuseError(P.ENODATA);
      return xattrReply(value, size);
    },
  },
  [P.FUSE_LISTXATTR]: {
    name: "LISTXATTR",
    run: async (s, q) => {
      const { size } = S.decodeGetxattrIn(q.body);
      if (s.options.disableXattrs) throw new FuseError(P.ENOSYS);
      const names = s.fs.listxattr ? await s.fs.listxattr(q.h.nodeid, q.ctx) : [];
      let total = 0;
      for (const n of names) total += n.length + 1;
      const list = new Uint8Array(total); // each name followed by a NUL
      let o = 0;
      for (const n of names) {
        list.set(n, o);
        o += n.length + 1;
      }
      return xattrReply(list, size);
    },
  },
  [P.FUSE_ACCESS]: { name: "ACCESS", run: async (s, q) => (await s.fs.access?.(q.h.nodeid, S.decodeAccessIn(q.body).mask, q.ctx), null) },
  [P.FUSE_INTERRUPT]: { name: "INTERRUPT", noReply: true, run: (s, q) => s.interrupt(S.decodeInterruptIn(q.body).unique) },
};
for (const op of [
  P.FUSE_SETATTR, P.FUSE_SYMLINK, P.FUSE_MKNOD, P.FUSE_MKDIR, P.FUSE_UNLINK, P.FUSE_RMDIR, P.FUSE_RENAME,
  P.FUSE_LINK, P.FUSE_WRITE, P.FUSE_SETXATTR, P.FUSE_REMOVEXATTR, P.FUSE_CREATE, P.FUSE_FALLOCATE,
  P.FUSE_RENAME2, P.FUSE_COPY_FILE_RANGE, P.FUSE_TMPFILE,
]) TABLE[op] = { name: opcodeName(op), run: erofs };

/** The table, read-only, for tests and documentation. */
export const OPCODE_TABLE: Readonly<Record<number, Readonly<Pick<Row, "name" | "noReply">>>> = TABLE;

async function lookup(s: FuseServer, q: Request, name: Uint8Array): Promise<Uint8Array> {
  const entry = await s.fs.lookup(q.h.nodeid, name, q.ctx);
  if (entry === null && s.negativeValid.sec === 0 && s.negativeValid.nsec === 0) throw new FuseError(P.ENOENT);
  const { bytes, view } = alloc(S.ENTRY_OUT_SIZE);
  if (entry === null) {
    // nodeid 0 + entry_valid: the kernel caches the miss (fuse.md §8).
    S.writeEntryOut(view, S.OUT_HEADER_SIZE, 0, 0, s.negativeValid, { sec: 0, nsec: 0 }, null);
  } else {
    S.writeEntryOut(view, S.OUT_HEADER_SIZE, entry.nodeid, 0, s.entryValid, s.attrValid, entry.attr);
  }
  return bytes;
}

async function readdir(s: FuseServer, q: Request, plus: boolean): Promise<Uint8Array> {
  const r = S.decodeReadIn(q.body);
  s.checkSize(r.size);
  const entries: Iterable<FuseDirEntry> = await s.fs.readdir(q.h.nodeid, r.fh, r.offset, plus, q.ctx);
  const { bytes, view } = alloc(r.size);
  let o = S.OUT_HEADER_SIZE;
  let fitted = 0;
  let skipped = false;
  for (const d of entries) {
    const rec = plus ? S.direntplusSize(d.name.length) : S.direntSize(d.name.length);
    if (o + rec > bytes.length) {
      skipped = true;
      break;
    }
    if (plus) {
      S.writeEntryOut(view, o, d.entry.nodeid, 0, s.entryValid, s.attrValid, d.entry.attr);
      o += S.ENTRY_OUT_SIZE;
    }
    S.writeDirent(bytes, view, o, d.entry.attr.ino, d.nextOffset, d.entry.attr.mode, d.name);
    o += S.direntSize(d.name.length);
    fitted++;
  }
  // An empty reply means "end of directory": never send one while entries remain.
  if (fitted === 0 && skipped) throw new FuseError(P.EINVAL, `Cannot list directory: a ${r.size}-byte buffer holds no entry`);
  return bytes.subarray(0, o);
}
