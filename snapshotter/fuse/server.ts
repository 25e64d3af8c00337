/**
 * `FuseServer`: the FUSE request loop (fuse.md §3, §5, §9; STYLE §9.10, after
 * go-fuse `fuse/protocol-server.go`). Each request is looked up in the opcode
 * table (`opcodes.ts`: name, answered or not, handler); every opcode without a
 * row answers ENOSYS. INIT negotiation and INTERRUPT bookkeeping live here.
 *
 * The device is behind `FuseTransport` (read one request, write one reply) so
 * tests drive the server with a fake. Requests are dispatched as they arrive
 * and answered in whatever order their handlers finish; a slow handler never
 * delays another request. A failing handler costs one request: it answers its
 * errno (EIO for anything but `FuseError`) and, unless it was an expected
 * `FuseError`, writes one log line with the request `unique` and node id. A
 * truncated or garbage message answers EINVAL (or is dropped when it cannot be
 * answered) with one log line; nothing a request contains can stop the loop.
 *
 * INTERRUPT aborts the `RequestContext.signal` of the request it names; if that
 * handler then fails, the reply is EINTR; if it succeeds, the normal reply goes
 * out (both allowed, fuse.md §9.3). An INTERRUPT for a request that is not in
 * flight (finished, or still on its way from another reader) is ignored, which
 * fuse.md §9.3 allows: the original request is answered normally either way.
 *
 * Not here: opening, mounting and reading the device (`device.ts`,
 * `mount.ts`); node lifetimes (the filesystem's `forget`).
 */
import { ByteReader } from "../../core-wasm/src/bytes/mod.ts";
import type { ReadOnlyFileSystem, RequestContext } from "./file_system.ts";
import { alloc, TABLE, type ReplyParts } from "./opcodes.ts";
import * as P from "./protocol.ts";
import { FuseError, opcodeName } from "./protocol.ts";
import * as S from "./structs.ts";

/** One message in, one message out (fuse.md §3). */
export interface FuseTransport {
  /** The next complete request, or `null` once the connection is gone (ENODEV). */
  next(): Promise<Uint8Array | null>;
  /** Writes one whole reply. May throw an error with `code` "ENOENT" when the request is gone. */
  write(reply: Uint8Array): void;
  /** Writes one whole reply given in pieces (one writev); optional, else the pieces are joined for write(). Throws as write(). */
  writev?(parts: readonly Uint8Array[]): void;
}

export interface FuseServerOptions {
  /** Seconds the kernel caches a name → node mapping (snapshotter §8: 1). */
  entryTimeout?: number;
  /** Seconds the kernel caches attributes (1). */
  attrTimeout?: number;
  /** Seconds a missing name is cached; 0 answers misses with ENOENT instead (1). */
  negativeTimeout?: number;
  /** Largest READ/READDIR the server accepts; also bounds `max_pages` (1 MiB). */
  maxRead?: number;
  /** INIT: largest WRITE the kernel may send (read buffers depend on it, fuse.md §3.1). */
  maxWrite?: number;
  /** INIT: readahead ceiling; only lowers the kernel's value (fuse.md §5.2). */
  maxReadahead?: number;
  maxBackground?: number;
  congestionThreshold?: number;
  /** Also negotiate FUSE_EXPORT_SUPPORT (NFS export; needs `.`/`..` lookups). */
  exportSupport?: boolean;
  /** Answer xattr opcodes ENOSYS so the kernel stops asking (snapshotter §8.5 disable-xattrs). */
  disableXattrs?: boolean;
  /** Where the one log line per failed request goes (console.error). */
  log?: (line: string) => void;
}

/** Capabilities we ask for when the kernel offers them (fuse.md §5.1). */
export const WANTED_INIT_FLAGS = P.FUSE_ASYNC_READ | P.FUSE_DO_READDIRPLUS | P.FUSE_READDIRPLUS_AUTO |
  P.FUSE_PARALLEL_DIROPS | P.FUSE_MAX_PAGES | P.FUSE_CACHE_SYMLINKS | P.FUSE_EXPLICIT_INVAL_DATA;

const DEFAULT_MAX_WRITE = 128 * 1024;
const PAGE_SIZE = 4096;

export { OPCODE_TABLE } from "./opcodes.ts";

/** Requests being handled, by unique, so INTERRUPT can find them. */
interface Pending {
  /** Made on first use: most handlers never look at their signal, and one per request costs (profiled). */
  controller: AbortController | null;
  interrupted: boolean;
}

/** The signal of `p`'s request, made on demand; already aborted if the request was interrupted or cannot be answered. */
function signalOf(p: Pending | null, serverDestroyed: boolean): AbortSignal {
  if (p === null) return AbortSignal.abort();
  if (p.controller === null) {
    p.controller = new AbortController();
    if (p.interrupted || serverDestroyed) p.controller.abort();
  }
  return p.controller.signal;
}

export class FuseServer {
  readonly fs: ReadOnlyFileSystem;
  readonly options: FuseServerOptions;
  readonly attrValid: S.Validity;
  readonly entryValid: S.Validity;
  readonly negativeValid: S.Validity;
  #log: (line: string) => void;
  #pending = new Map<bigint, Pending>();
  #negotiated: S.InitOut | null = null;
  #destroyed = false;

  constructor(fs: ReadOnlyFileSystem, options: FuseServerOptions = {}) {
    this.fs = fs;
    this.options = options;
    this.attrValid = S.validityOf(options.attrTimeout ?? 1);
    this.entryValid = S.validityOf(options.entryTimeout ?? 1);
    this.negativeValid = S.validityOf(options.negativeTimeout ?? 1);
    this.#log = options.log ?? ((line) => console.error(line));
  }

  /** The INIT reply sent, once negotiated. */
  get negotiated(): S.InitOut | null {
    return this.#negotiated;
  }

  /** Requests whose handler has not finished. */
  get inFlight(): number {
    return this.#pending.size;
  }

  /** Bytes a device read buffer needs for the negotiated (or default) max_write (fuse.md §3.1). */
  get readBufferSize(): number {
    return Math.max(8192, S.IN_HEADER_SIZE + 40 + (this.#negotiated?.maxWrite ?? this.options.maxWrite ?? DEFAULT_MAX_WRITE));
  }

  /** Reads requests until the transport ends, dispatching each without waiting for it. */
  async serve(t: FuseTransport): Promise<void> {
    for (;;) {
      const buf = await t.next();
      if (buf === null) break;
      void this.handle(buf, t);
    }
    this.destroy();
  }

  /** Handles one request buffer and writes its reply (if any). Never rejects. */
  async handle(buf: Uint8Array, t: FuseTransport): Promise<void> {
    const r = new ByteReader(buf);
    let h: S.InHeader;
    try {
      h = S.decodeInHeader(r);
    } catch (e) {
      this.#log(`fuse: dropped a ${buf.length}-byte message: ${(e as Error).message}`);
      return;
    }
    const row = TABLE[h.opcode];
    const name = row?.name ?? opcodeName(h.opcode);
    const canReply = !row?.noReply;
    const extBytes = h.totalExtlen * 8;
    if (h.len !== buf.length || extBytes > buf.length - S.IN_HEADER_SIZE) {
      this.#log(`fuse: malformed ${name} unique=${h.unique} nodeid=${h.nodeid}: header len ${h.len}, ${buf.length} bytes read, ${extBytes} extension bytes`);
      if (canReply) this.#reply(t, h.unique, -P.EINVAL, null);
      return;
    }
    if (row === undefined) return this.#reply(t, h.unique, -P.ENOSYS, null);
    if (this.#negotiated === null && h.opcode !== P.FUSE_INIT) {
      this.#log(`fuse: ${name} unique=${h.unique} nodeid=${h.nodeid} before INIT`);
      if (canReply) this.#reply(t, h.unique, -P.EIO, null);
      return;
    }
    const body = new ByteReader(buf.subarray(S.IN_HEADER_SIZE, buf.length - extBytes));
    const pending: Pending | null = canReply ? { controller: null, interrupted: false } : null;
    if (pending) this.#pending.set(h.unique, pending);
    const destroyed = (): boolean => this.#destroyed;
    const ctx: RequestContext = {
      unique: h.unique, nodeid: h.nodeid, uid: h.uid, gid: h.gid, pid: h.pid,
      get signal() {
        return signalOf(pending, destroyed());
      },
    };
    let reply: Uint8Array | ReplyParts | null;
    try {
      reply = await row.run(this, { h, body, ctx });
    } catch (e) {
      if (pending) this.#pending.delete(h.unique);
      const errno = this.#errnoOf(e, name, h, pending?.interrupted ?? false);
      if (canReply) this.#reply(t, h.unique, -errno, null);
      return;
    }
    if (pending) this.#pending.delete(h.unique);
    if (canReply) this.#reply(t, h.unique, 0, reply);
  }

  /** FUSE edge of STYLE §7: exception → errno, one log line for the unexpected. */
  #errnoOf(e: unknown, name: string, h: S.InHeader, interrupted: boolean): number {
    if (e instanceof FuseError) return e.errno;
    if (interrupted) return P.EINTR;
    if (e instanceof RangeError && /overruns|NUL|beyond 2\^53|BATCH_FORGET/.test(e.message)) {
      this.#log(`fuse: malformed ${name} unique=${h.unique} nodeid=${h.nodeid}: ${e.message}`);
      return P.EINVAL;
    }
    this.#log(`fuse: ${name} unique=${h.unique} nodeid=${h.nodeid} failed: ${e instanceof Error ? e.message : String(e)}`);
    return P.EIO;
  }

  #reply(t: FuseTransport, unique: bigint, error: number, reply: Uint8Array | ReplyParts | null): void {
    const parts = reply !== null && !(reply instanceof Uint8Array) ? reply : null;
    const out = parts?.head ?? (reply as Uint8Array | null) ?? new Uint8Array(S.OUT_HEADER_SIZE);
    const len = parts !== null ? parts.head.length + parts.body.length : out.length;
    S.writeOutHeader(new DataView(out.buffer, out.byteOffset, S.OUT_HEADER_SIZE), len, error, unique);
    try {
      if (parts === null) t.write(out);
      else if (t.writev !== undefined) t.writev([parts.head, parts.body]);
      else {
        const joined = new Uint8Array(len);
        joined.set(parts.head);
        joined.set(parts.body, parts.head.length);
        t.write(joined);
      }
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // ENOENT: the kernel gave up on the request (interrupted); ENODEV: unmounted.
      if (code !== "ENOENT" && code !== "ENODEV") this.#log(`fuse: cannot write reply unique=${unique}: ${(e as Error).message}`);
    }
  }

  // ---- handlers needing server state -------------------------------------

  init(i: S.InitIn): Uint8Array {
    if (i.major < P.FUSE_KERNEL_VERSION) throw new FuseError(P.EPROTO, `Cannot negotiate FUSE: kernel protocol ${i.major}.${i.minor} is too old`);
    const o: S.InitOut = {
      major: P.FUSE_KERNEL_VERSION, minor: P.FUSE_KERNEL_MINOR_VERSION, maxReadahead: 0, flags: 0,
      maxBackground: 0, congestionThreshold: 0, maxWrite: 0, timeGran: 0, maxPages: 0, flags2: 0,
    };
    if (i.major > P.FUSE_KERNEL_VERSION) {
      // Newer major: answer ours only; the kernel retries INIT with it (fuse.md §5).
      const { bytes, view } = alloc(S.INIT_OUT_SIZE);
      S.writeInitOut(view, S.OUT_HEADER_SIZE, o, S.INIT_OUT_SIZE);
      return bytes;
    }
    const maxRead = this.options.maxRead ?? 1024 * 1024;
    o.minor = Math.min(i.minor, P.FUSE_KERNEL_MINOR_VERSION);
    o.maxReadahead = Math.min(i.maxReadahead, this.options.maxReadahead ?? i.maxReadahead);
    o.flags = (i.flags & (WANTED_INIT_FLAGS | (this.options.exportSupport ? P.FUSE_EXPORT_SUPPORT : 0))) >>> 0;
    o.maxBackground = this.options.maxBackground ?? 64;
    o.congestionThreshold = this.options.congestionThreshold ?? Math.floor(o.maxBackground * 3 / 4);
    o.maxWrite = Math.max(4096, this.options.maxWrite ?? DEFAULT_MAX_WRITE);
    o.timeGran = 1;
    o.maxPages = Math.min(256, Math.max(1, Math.floor(maxRead / PAGE_SIZE)));
    const size = o.minor < 23 ? P.FUSE_COMPAT_22_INIT_OUT_SIZE : S.INIT_OUT_SIZE;
    const { bytes, view } = alloc(size);
    S.writeInitOut(view, S.OUT_HEADER_SIZE, o, size);
    this.#negotiated = o;
    return bytes;
  }

  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    for (const p of this.#pending.values()) p.controller?.abort();
    this.fs.destroy?.();
  }

  checkSize(size: number): void {
    const max = this.options.maxRead ?? 1024 * 1024;
    if (size > max) throw new FuseError(P.EINVAL, `Cannot read ${size} bytes: more than max_read ${max}`);
  }

  interrupt(unique: bigint): Uint8Array | null {
    const p = this.#pending.get(unique);
    if (p === undefined) return null;
    p.interrupted = true;
    p.controller?.abort();
    return null;
  }
}
