/**
 * `FuseDevice`: the one door to `/dev/fuse` (STYLE §1.1), a `FuseTransport`
 * over a device fd (fuse.md §3, §9.2).
 *
 * Technique: a small pool of worker threads, each looping on a blocking
 * `fs.readSync(fd, buf, 0, len, null)` of the shared fd (one read = one whole
 * request; several readers may block at once and each gets its own request).
 * A worker copies the request out of its read buffer into a fresh ArrayBuffer
 * and transfers it to the main thread, which decodes, handles and writes the
 * reply with one synchronous `fs.writeSync` (or `fs.writevSync` for a reply
 * in pieces: READ's header + data, not joined first). With `fast` tables
 * (fast_replies.ts, a static tree) a reader answers a LOOKUP, GETATTR,
 * READLINK, read-only OPEN, OPENDIR, FLUSH, RELEASE or RELEASEDIR they hold
 * itself, with one write of the precomputed reply, and hands on the rest. Reads never sit in the runtime's
 * libuv pool, so handlers may use `fs.promises`, zlib or dns freely — async
 * reads on the pool deadlock both Node and Bun (fuse.md §9.2).
 *
 * Read errors: ENOENT/EINTR/EAGAIN are retried (fuse.md §3.1); ENODEV or
 * ECONNABORTED end a worker (unmounted/aborted); anything else ends it with
 * one log line. `next()` answers `null` once every worker has ended.
 *
 * Start the readers only after the mount helper succeeded: reading an
 * unmounted device fails with EPERM (fuse.md §2.6). Node joins threads blocked
 * in `read()` at exit, so unmount before exiting (fuse.md §9.2, `mount.ts`).
 * Not here: mounting, unmounting, the protocol.
 */
import { closeSync, openSync, writeSync, writevSync } from "node:fs";
import { Worker } from "node:worker_threads";
import type { FastReplies } from "./fast_replies.ts";
import type { FuseTransport } from "./server.ts";

/** The reader loop, evaluated as CommonJS in each worker (no file to locate after bundling). */
const READER_SOURCE = `
const { parentPort, workerData, receiveMessageOnPort } = require("node:worker_threads");
const { readSync, writeSync } = require("node:fs");
const { fd, size } = workerData;
let fast = workerData.fast;
const buf = new Uint8Array(size);
const dv = new DataView(buf.buffer);
const out = new Uint8Array(16 + 128);
const EMPTY = new Uint8Array(0);
let big = new Uint8Array(16 + 4096);
// The reply to the request in buf: body[at, at + len), or with errno > 0 the bare error header.
function reply(body, at, len, errno = 0) {
  let o = out;
  if (16 + len > o.length) { if (16 + len > big.length) big = new Uint8Array(16 + len); o = big; }
  const v = new DataView(o.buffer);
  v.setUint32(0, 16 + len, true);
  v.setInt32(4, -errno, true);
  o.set(buf.subarray(8, 16), 8);
  if (len > 0) o.set(body.subarray(at, at + len), 16);
  try { writeSync(fd, o, 0, 16 + len); } catch (e) { if (e.code !== "ENOENT") throw e; }
  return true;
}
// Answered here from fast_replies.ts tables when they hold the answer: LOOKUP (1), GETATTR (3),
// READLINK (5), OPEN (14, read-only), RELEASE (18), FLUSH (25), OPENDIR (27), RELEASEDIR (29),
// GETXATTR (22) of a node without extended attributes (the error reply).
function answer(n) {
  if (dv.getUint32(0, true) !== n || dv.getUint16(36, true) !== 0) return false; // malformed or with extensions: the server's rules
  const op = dv.getUint32(4, true);
  const nodeid = Number(dv.getBigUint64(16, true));
  if (op === 25 || op === 18 || op === 29) return nodeid < fast.quiet.length && fast.quiet[nodeid] === 1 ? reply(EMPTY, 0, 0) : false;
  if (op === 5) { const l = fast.links.get(nodeid); return l !== undefined ? reply(l, 0, l.length) : false; }
  if (op === 14) {
    if ((dv.getUint32(40, true) & 3) !== 0) return false;
    const at = nodeid < fast.openAt.length ? fast.openAt[nodeid] : -1;
    return at >= 0 ? reply(fast.opens, at, 16) : false;
  }
  if (op === 27) return fast.opendir !== null && nodeid < fast.dirs.length && fast.dirs[nodeid] === 1 ? reply(fast.opendir, 0, 16) : false;
  if (op === 22) {
    if (!(nodeid < fast.xattrMiss.length && fast.xattrMiss[nodeid] === 1)) return false;
    let end = 48; // fuse_getxattr_in (8 bytes), then the NUL-terminated name
    while (end < n && buf[end] !== 0) end++;
    return end < n ? reply(EMPTY, 0, 0, fast.xattrErrno) : false; // no NUL: the server answers EINVAL
  }
  if (op !== 1 && op !== 3) return false;
  let src = null, at = -1, len = 0;
  if (op === 3) {
    at = nodeid < fast.attrAt.length ? fast.attrAt[nodeid] : -1;
    if (at < 0) return false;
    src = fast.attrs; len = 104;
  } else {
    let end = 40;
    while (end < n && buf[end] !== 0) end++;
    if (end === n) return false; // no NUL: the server answers EINVAL
    let name = "";
    for (let i = 40; i < end; i++) name += String.fromCharCode(buf[i]);
    if (name === "." || name === "..") return false;
    const key = nodeid + "/" + name;
    if (fast.forward.has(key)) return false;
    const hit = fast.lookups.get(key);
    if (hit !== undefined) { src = fast.entries; at = hit; len = 128; }
    else if (fast.negative !== null && nodeid < fast.dirs.length && fast.dirs[nodeid] === 1) { src = fast.negative; at = 0; len = 128; }
    else return false;
  }
  return reply(src, at, len);
}
for (;;) {
  let n;
  try {
    n = readSync(fd, buf, 0, size, null);
  } catch (e) {
    if (e.code === "ENOENT" || e.code === "EINTR" || e.code === "EAGAIN") continue;
    if (e.code === "ENODEV" || e.code === "ECONNABORTED") { parentPort.postMessage({ end: true }); break; }
    parentPort.postMessage({ end: true, error: String(e.code) + ": " + e.message });
    break;
  }
  if (n === 0) { parentPort.postMessage({ end: true, error: "EOF: the device returned 0 bytes" }); break; }
  if (fast === null) { const m = receiveMessageOnPort(parentPort); if (m !== undefined) fast = m.message.fast; }
  if (fast && n >= 40 && answer(n)) continue;
  const ab = buf.buffer.slice(0, n);
  parentPort.postMessage(ab, [ab]);
}
`;

export interface FuseDeviceStartOptions {
  /** Read buffer per worker; at least 80 + max_write and 8192 (fuse.md §3.1). */
  bufferSize: number;
  /** Worker threads blocked in read() at once (4). */
  readers?: number;
  /** Replies the readers send themselves (fast_replies.ts); absent: every request goes to next() until `setFast`. */
  fast?: FastReplies;
  log?: (line: string) => void;
}

export class FuseDevice implements FuseTransport {
  readonly fd: number;
  #workers: Worker[] = [];
  #exited: Promise<void>[] = [];
  #queue: Uint8Array[] = [];
  #waiters: ((b: Uint8Array | null) => void)[] = [];
  #live = 0;
  #closed = false;

  private constructor(fd: number) {
    this.fd = fd;
  }

  /** Opens the device read-write. Throws the fs error (ENOENT, EACCES) as is. */
  static open(path = "/dev/fuse"): FuseDevice {
    return new FuseDevice(openSync(path, "r+"));
  }

  /** Starts the reader workers; call once, after mount(2) succeeded. */
  start(options: FuseDeviceStartOptions): void {
    if (this.#workers.length > 0 || this.#closed) throw new TypeError("FuseDevice.start() called twice or after close()");
    const log = options.log ?? ((line: string) => console.error(line));
    const n = Math.max(1, options.readers ?? 4);
    for (let i = 0; i < n; i++) {
      const w = new Worker(READER_SOURCE, { eval: true, workerData: { fd: this.fd, size: options.bufferSize, fast: options.fast ?? null } });
      this.#live++;
      let ended = false;
      const end = () => {
        if (ended) return;
        ended = true;
        if (--this.#live === 0) this.#flushEnd();
      };
      w.on("message", (m: ArrayBuffer | { end: true; error?: string }) => {
        if (m instanceof ArrayBuffer) return this.#push(new Uint8Array(m));
        if (m.error) log(`fuse: device reader stopped: ${m.error}`);
        end();
      });
      w.on("error", (e) => {
        log(`fuse: device reader failed: ${e.message}`);
        end();
      });
      this.#exited.push(new Promise((resolve) => w.once("exit", () => (end(), resolve()))));
      this.#workers.push(w);
    }
  }

  /** Hands the readers their tables (fast_replies.ts); each picks them up with its next request. */
  setFast(fast: FastReplies): void {
    for (const w of this.#workers) w.postMessage({ fast });
  }

  /** performance.now() of the last request handed on to the main thread. */
  lastRequestAt = 0;

  #push(b: Uint8Array): void {
    this.lastRequestAt = performance.now();
    const w = this.#waiters.shift();
    if (w) w(b);
    else this.#queue.push(b);
  }

  #flushEnd(): void {
    for (const w of this.#waiters.splice(0)) w(null);
  }

  next(): Promise<Uint8Array | null> {
    const b = this.#queue.shift();
    if (b !== undefined) return Promise.resolve(b);
    if (this.#live === 0) return Promise.resolve(null);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  write(reply: Uint8Array): void {
    const n = writeSync(this.fd, reply);
    if (n !== reply.length) throw new Error(`short write to /dev/fuse: ${n} of ${reply.length} bytes`);
  }

  /** One reply from pieces with one writev(2): the device takes a reply only whole, so no piece is copied first. */
  writev(parts: readonly Uint8Array[]): void {
    const n = writevSync(this.fd, parts as Uint8Array[]);
    const want = parts.reduce((s, p) => s + p.length, 0);
    if (n !== want) throw new Error(`short write to /dev/fuse: ${n} of ${want} bytes`);
  }

  /**
   * Waits for the readers to end (they do once the mount is gone), then closes
   * the fd. Call after unmounting; before, it waits for the unmount.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all(this.#exited);
    closeSync(this.fd);
  }
}
