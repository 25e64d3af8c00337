/**
 * `ReadOnlyFileSystem`: what a filesystem implements to be served by
 * `FuseServer` (fuse.md §7–§8). Node ids are the kernel's handles: root is 1,
 * every other id is one the filesystem returned from `lookup`/`readdir`, and an
 * id is never reused for another object while mounted (generation stays 0).
 *
 * Contract for every method: return (or resolve) the result, or throw
 * `FuseError(errno)` to answer with that errno (ENOENT, ENODATA, ERANGE, … are
 * expected outcomes and not logged). Any other exception answers EIO and costs
 * one log line naming the request `unique` and node id. Methods may be async
 * and may take as long as they need (a registry fetch): other requests keep
 * flowing. Names and xattr values are raw bytes (STYLE §1.2).
 *
 * Optional methods have defaults in the server: `getxattr` → ENODATA,
 * `listxattr` → empty list (never ENOSYS, fuse.md §7.1), `open`/`opendir` →
 * fh 0, `release*`/`forget`/`access` → success. Writes never reach the
 * filesystem: the server answers them EROFS.
 */
import type { FuseAttr, FuseStatfs } from "./structs.ts";

export type { FuseAttr, FuseStatfs } from "./structs.ts";

/** Who asked, and a signal that fires when the kernel INTERRUPTs the request. */
export interface RequestContext {
  unique: bigint;
  nodeid: number;
  uid: number;
  gid: number;
  pid: number;
  signal: AbortSignal;
}

/** A name → node mapping, as LOOKUP and READDIRPLUS return it. */
export interface FuseEntry {
  nodeid: number;
  attr: FuseAttr;
}

/** One directory record. `nextOffset` is the cookie the kernel passes back to continue after it. */
export interface FuseDirEntry {
  name: Uint8Array;
  nextOffset: number;
  /** Node and attributes; for READDIR only `attr.ino` and the type bits of `attr.mode` are used. */
  entry: FuseEntry;
}

export interface OpenResult {
  fh: number;
  /** FOPEN_KEEP_CACHE: keep the page cache across opens (immutable content). */
  keepCache?: boolean;
  /** FOPEN_DIRECT_IO: bypass the page cache. */
  directIo?: boolean;
}

export interface OpendirResult {
  fh: number;
  /** FOPEN_CACHE_DIR: let the kernel cache the listing. */
  cacheDir?: boolean;
}

type R<T> = T | Promise<T>;

export interface ReadOnlyFileSystem {
  /** `name` in directory `parent`; `null` = no such name (a cacheable negative entry). */
  lookup(parent: number, name: Uint8Array, ctx: RequestContext): R<FuseEntry | null>;
  /** Drops `nlookup` kernel references to `nodeid` (FORGET and BATCH_FORGET). */
  forget?(nodeid: number, nlookup: number): void;
  getattr(nodeid: number, ctx: RequestContext): R<FuseAttr>;
  /** Target bytes of a symlink; EINVAL for anything else. */
  readlink(nodeid: number, ctx: RequestContext): R<Uint8Array>;
  /** `flags` are open(2) flags; write access never arrives here (EROFS). */
  open?(nodeid: number, flags: number, ctx: RequestContext): R<OpenResult>;
  /**
   * Exactly `size` bytes at `offset`, fewer only where the file ends (a short
   * reply means EOF to the kernel, fuse.md §11.9). The returned view is copied
   * into the reply before the next await, so it may be reused afterwards.
   */
  read(nodeid: number, fh: number, offset: number, size: number, ctx: RequestContext): R<Uint8Array>;
  release?(nodeid: number, fh: number): R<void>;
  opendir?(nodeid: number, flags: number, ctx: RequestContext): R<OpendirResult>;
  /**
   * Entries after cookie `offset` (0 = from the start), in a stable order. The
   * server packs as many as fit the kernel's buffer; it may ask again with the
   * `nextOffset` of the last one it used. Returning more than fit is fine.
   * `plus` says READDIRPLUS: every entry except `.`/`..` then counts as a lookup.
   */
  readdir(nodeid: number, fh: number, offset: number, plus: boolean, ctx: RequestContext): R<Iterable<FuseDirEntry>>;
  releasedir?(nodeid: number, fh: number): R<void>;
  statfs(nodeid: number, ctx: RequestContext): R<FuseStatfs>;
  /** The value of xattr `name`, or `null` when absent (→ ENODATA). */
  getxattr?(nodeid: number, name: Uint8Array, ctx: RequestContext): R<Uint8Array | null>;
  /** The names of all xattrs (without NULs). */
  listxattr?(nodeid: number, ctx: RequestContext): R<Uint8Array[]>;
  /** access(2) check (only sent without `default_permissions`); throw EACCES to refuse. */
  access?(nodeid: number, mask: number, ctx: RequestContext): R<void>;
  /** The connection is going away (DESTROY, or the device closed). */
  destroy?(): void;
}
