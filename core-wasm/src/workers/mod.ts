/**
 * Builds zTOCs on worker threads, one wasm instance per worker, so layers of an
 * image convert in parallel (`--jobs`). The main thread still reads each blob
 * (file, archive member or HTTP body) and posts its chunks to a worker as
 * transferred ArrayBuffers; the worker runs `buildZtoc` on them and posts the
 * result back. Reading is cheap, inflating is not, so this splits the work where
 * the CPU goes and keeps every source type working unchanged.
 *
 * Chunks are batched into messages of about `BATCH_BYTES` (the copy into a
 * transferable buffer is needed anyway — the source owns its buffers — so
 * batching costs nothing and cuts messages and acks fourfold). Flow control
 * is credit based: at most `MAX_BATCHES_IN_FLIGHT` batches are unacknowledged
 * per job, so a fast reader never queues a whole layer in memory.
 *
 * The worker runs the same program file as the caller: the entry point must call
 * `runZtocWorkerIfWorker()` first thing and stop if it returns true. Errors come
 * back as data and are rebuilt as the same SociError subclass with hint and
 * location.
 *
 * A blob that lies in a local file (`build(…, file)`) is read by the worker
 * itself: the main thread then only waits — no read, copy or post per chunk
 * on the thread both jobs share. The zTOC comes back as its encoded bytes
 * (one transfer) and is decoded here: cloning the parsed TOC took ~40 ms per
 * layer in the worker.
 *
 * In a bundled program the workers do not load the program file but a
 * builder-only script embedded at bundle time (_pool_worker_entry.ts, run
 * with `eval: true`): the CLI with its registry and snapshotter dependencies
 * took ≈ 110 ms of CPU to load per worker, on the cores the builds need.
 *
 * For builds on the caller's thread, `startBlobHashHelper` moves their
 * SHA-256 passes to a small helper thread (_blob_hash.ts) so such a build
 * uses both cores.
 *
 * Not here: the choice of layers, ordering of results (the caller's), sources.
 */
import { createReadStream } from "node:fs";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import {
  AlreadyExistsError,
  FailedPreconditionError,
  FormatError,
  InvalidArgumentError,
  NotFoundError,
  RegistryError,
  SociError,
  UsageError,
} from "../errors.ts";
import { buildZtoc, decodeZtoc, type BuildZtocOptions, type BuiltZtoc } from "../ztoc/mod.ts";
import { BlobHashHelper } from "./_blob_hash.ts";
export { reusedFileChunks } from "./_blob_hash.ts";

export type { BlobHashHelper } from "./_blob_hash.ts";

/** The pool workers' script (CommonJS text), defined by scripts/bundle.mjs in a bundled program only. */
declare const __SOCI_ZTOC_WORKER_SOURCE__: string | undefined;

const WORKER_MARKER = "soci-ts/ztoc-worker/v1";
const MAX_BATCHES_IN_FLIGHT = 3;
const BATCH_BYTES = 4 << 20;

/** A blob stored as `size` bytes at `offset` of the local file `path`. */
export interface BlobFile {
  path: string;
  offset: number;
  size: number;
}

/** Progress acks from a worker reading a file itself: one per this many bytes. */
const FILE_ACK_BYTES = 4 << 20;

/** The options that cross the thread boundary (no callbacks). */
export type ZtocJobOptions = Omit<BuildZtocOptions, "onProgress" | "hasher">;

type ToWorker =
  | { type: "start"; id: number; opts: ZtocJobOptions; file?: BlobFile }
  | { type: "chunk"; id: number; bytes: Uint8Array }
  | { type: "end"; id: number }
  | { type: "abort"; id: number; message: string };

type FromWorker =
  | { type: "ack"; id: number; compressedBytes: number }
  | { type: "done"; id: number; result: Omit<BuiltZtoc, "ztoc"> }
  | { type: "error"; id: number; error: SerializedError };

interface SerializedError {
  name: string;
  message: string;
  hint?: string;
  location?: FormatError["location"];
  details?: RegistryError["details"];
  stack?: string;
}

/** A pool of `size` workers; each runs one zTOC build at a time. */
export class ZtocWorkerPool {
  readonly size: number;
  #workerUrl: URL;
  #workerSource: string | undefined;
  #idle: Worker[] = [];
  #all: Worker[] = [];
  #waiting: Array<(w: Worker) => void> = [];
  #nextId = 1;
  #closed = false;

  /**
   * `workerUrl`: the program file that calls `runZtocWorkerIfWorker()` at start
   * (normally the caller's own `import.meta.url`). `workerSource`: CommonJS
   * text of such a program, run with `eval: true` instead (default: the
   * builder-only script a bundled program embeds, _pool_worker_entry.ts).
   */
  constructor(opts: { size: number; workerUrl: URL | string; workerSource?: string }) {
    if (!Number.isInteger(opts.size) || opts.size < 1) throw new RangeError(`pool size must be a positive integer, got ${opts.size}`);
    this.size = opts.size;
    this.#workerUrl = typeof opts.workerUrl === "string" ? new URL(opts.workerUrl) : opts.workerUrl;
    this.#workerSource = opts.workerSource ?? (typeof __SOCI_ZTOC_WORKER_SOURCE__ === "string" ? __SOCI_ZTOC_WORKER_SOURCE__ : undefined);
  }

  /**
   * Builds a zTOC from `blob` on a worker. Resolves with what `buildZtoc` returns;
   * rejects with the same error class `buildZtoc` threw in the worker, or a
   * SociError if the worker died. The blob iterator is read on this thread;
   * with `file` (the same bytes in a local file) the worker reads the file
   * and `blob` is never opened.
   */
  async build(blob: AsyncIterable<Uint8Array>, opts: BuildZtocOptions, file?: BlobFile): Promise<BuiltZtoc> {
    if (this.#closed) throw new FailedPreconditionError("Cannot build zTOC: the worker pool is closed");
    const worker = await this.#acquire();
    // Idle workers are unref'd so they never keep a finished program alive; a
    // busy one must keep the event loop alive until its job settles (Deno ends
    // a program whose only pending work is an unref'd worker).
    worker.ref();
    const id = this.#nextId++;
    const { onProgress, hasher: _inThreadOnly, ...jobOpts } = opts;
    let credits = MAX_BATCHES_IN_FLIGHT;
    let wake: (() => void) | null = null;
    let settled = false;
    let fail: (e: unknown) => void = () => {};
    const result = new Promise<BuiltZtoc>((resolve, reject) => {
      fail = (e) => {
        settled = true;
        reject(e);
      };
      const onMessage = (m: FromWorker) => {
        if (m.id !== id) return;
        if (m.type === "ack") {
          credits++;
          onProgress?.(m.compressedBytes);
          wake?.();
        } else {
          cleanup();
          settled = true;
          if (m.type === "done") resolve({ ...m.result, ztoc: decodeZtoc(m.result.bytes, opts.source) });
          else reject(deserializeError(m.error));
          wake?.();
        }
      };
      const onError = (e: Error) => {
        cleanup();
        fail(new SociError(`Cannot build zTOC for ${JSON.stringify(opts.source ?? "layer")}: the worker thread failed`, { cause: e }));
        wake?.();
      };
      const onExit = (code: number) => onError(new Error(`worker exited with code ${code}`));
      const cleanup = () => {
        worker.off("message", onMessage);
        worker.off("error", onError);
        worker.off("exit", onExit);
      };
      worker.on("message", onMessage);
      worker.on("error", onError);
      worker.on("exit", onExit);
    });
    result.catch(() => {}); // observed below; avoid an unhandled rejection while we are still feeding
    if (file !== undefined) {
      // The worker reads the file; `blob` is never opened.
      worker.postMessage({ type: "start", id, opts: jobOpts, file } satisfies ToWorker);
      try {
        return await result;
      } finally {
        worker.unref();
        this.#release(worker);
      }
    }
    worker.postMessage({ type: "start", id, opts: jobOpts } satisfies ToWorker);
    // Copied into a fresh ArrayBuffer we can transfer: the source may reuse its buffer,
    // and a Buffer's slice() is a view into a shared pool, not a copy.
    let batch: Uint8Array | null = null;
    let fill = 0;
    const send = async () => {
      while (credits === 0 && !settled) await new Promise<void>((r) => (wake = r));
      if (settled || batch === null) return;
      credits--;
      const bytes = fill === batch.length ? batch : batch.subarray(0, fill);
      worker.postMessage({ type: "chunk", id, bytes } satisfies ToWorker, [batch.buffer as ArrayBuffer]);
      batch = null;
      fill = 0;
    };
    try {
      for await (const chunk of blob) {
        if (settled) break;
        let i = 0;
        while (i < chunk.length) {
          batch ??= new Uint8Array(Math.max(BATCH_BYTES, chunk.length - i));
          const k = Math.min(batch.length - fill, chunk.length - i);
          batch.set(chunk.subarray(i, i + k), fill);
          fill += k;
          i += k;
          if (fill === batch.length) await send();
          if (settled) break;
        }
      }
      if (!settled && fill > 0) await send();
      if (!settled) worker.postMessage({ type: "end", id } satisfies ToWorker);
    } catch (e) {
      if (!settled) {
        worker.postMessage({ type: "abort", id, message: e instanceof Error ? e.message : String(e) } satisfies ToWorker);
        fail(e);
      }
    }
    try {
      return await result;
    } finally {
      worker.unref();
      this.#release(worker);
    }
  }

  /** Terminates every worker. Jobs still running reject. */
  async close(): Promise<void> {
    this.#closed = true;
    const all = this.#all;
    this.#all = [];
    this.#idle = [];
    await Promise.all(all.map((w) => w.terminate()));
  }

  async #acquire(): Promise<Worker> {
    const idle = this.#idle.pop();
    if (idle) return idle;
    if (this.#all.length < this.size) {
      const workerData = { marker: WORKER_MARKER };
      // Bundled: the embedded builder-only script (_pool_worker_entry.ts) starts in a
      // fraction of the time of the whole program file; unbundled: the program file.
      const w = this.#workerSource !== undefined ? new Worker(this.#workerSource, { eval: true, workerData }) : new Worker(this.#workerUrl, { workerData });
      w.unref();
      this.#all.push(w);
      return w;
    }
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  #release(w: Worker): void {
    if (this.#closed) return;
    if (!this.#all.includes(w)) return;
    const next = this.#waiting.shift();
    if (next) next(w);
    else this.#idle.push(w);
  }
}

/** Starts a helper thread for the SHA-256 passes of builds on this thread (`BuildZtocOptions.hasher`). */
export function startBlobHashHelper(): BlobHashHelper {
  return new BlobHashHelper();
}

/**
 * Call first thing in a program that may be started as a pool worker. Returns
 * true when this thread is a zTOC worker (it then serves jobs until terminated
 * and the caller must not run its own main).
 */
export function runZtocWorkerIfWorker(): boolean {
  if (isMainThread || parentPort === null) return false;
  if ((workerData as { marker?: string } | null)?.marker !== WORKER_MARKER) return false;
  const port = parentPort;
  const jobs = new Map<number, ChunkQueue>();
  port.on("message", (m: ToWorker) => {
    if (m.type === "start") {
      let consumed = 0;
      const opts: BuildZtocOptions = { ...m.opts, onProgress: undefined };
      let counted: AsyncIterable<Uint8Array>;
      if (m.file !== undefined) {
        const file = m.file;
        counted = (async function* () {
          let acked = 0;
          for await (const c of fileChunks(file)) {
            yield c;
            consumed += c.length;
            if (consumed - acked >= FILE_ACK_BYTES || consumed === file.size) {
              acked = consumed;
              port.postMessage({ type: "ack", id: m.id, compressedBytes: consumed } satisfies FromWorker);
            }
          }
        })();
      } else {
        const q = new ChunkQueue();
        jobs.set(m.id, q);
        counted = (async function* () {
          for await (const c of q) {
            yield c;
            consumed += c.length;
            port.postMessage({ type: "ack", id: m.id, compressedBytes: consumed } satisfies FromWorker);
          }
        })();
      }
      buildZtoc(counted, opts).then(
        // The parsed zTOC (thousands of small objects and byte arrays) is slow to
        // clone; its encoded bytes are one transfer and decode fast on the caller's side.
        ({ ztoc: _, ...result }) => {
          const bytes = result.bytes.byteOffset === 0 && result.bytes.byteLength === result.bytes.buffer.byteLength ? result.bytes : result.bytes.slice();
          port.postMessage({ type: "done", id: m.id, result: { ...result, bytes } } satisfies FromWorker, [bytes.buffer as ArrayBuffer]);
        },
        (e) => port.postMessage({ type: "error", id: m.id, error: serializeError(e) } satisfies FromWorker),
      ).finally(() => jobs.delete(m.id));
    } else {
      const q = jobs.get(m.id);
      if (!q) return;
      if (m.type === "chunk") q.push(m.bytes);
      else if (m.type === "end") q.end();
      else q.fail(new SociError(`Cannot build zTOC: reading the blob failed: ${m.message}`));
    }
  });
  return true;
}

/** The file range as 1 MiB chunks (fresh buffers, never reused). */
async function* fileChunks(file: BlobFile): AsyncGenerator<Uint8Array> {
  if (file.size === 0) return;
  for await (const c of createReadStream(file.path, { start: file.offset, end: file.offset + file.size - 1, highWaterMark: 1 << 20 })) {
    const b = c as Buffer;
    yield new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  }
}

/** An async iterable fed by pushes; one consumer. */
class ChunkQueue implements AsyncIterable<Uint8Array> {
  #items: Uint8Array[] = [];
  #done = false;
  #error: unknown = null;
  #wake: (() => void) | null = null;

  push(b: Uint8Array): void {
    this.#items.push(b);
    this.#wake?.();
  }
  end(): void {
    this.#done = true;
    this.#wake?.();
  }
  fail(e: unknown): void {
    this.#error = e;
    this.#wake?.();
  }
  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    for (;;) {
      if (this.#error !== null) throw this.#error;
      const next = this.#items.shift();
      if (next) {
        yield next;
        continue;
      }
      if (this.#done) return;
      await new Promise<void>((r) => (this.#wake = r));
      this.#wake = null;
    }
  }
}

function serializeError(e: unknown): SerializedError {
  if (e instanceof Error) {
    const s: SerializedError = { name: e.name, message: e.message, stack: e.stack };
    if (e instanceof SociError && e.hint !== undefined) s.hint = e.hint;
    if (e instanceof FormatError) s.location = e.location;
    if (e instanceof RegistryError) s.details = e.details;
    return s;
  }
  return { name: "Error", message: String(e) };
}

function deserializeError(s: SerializedError): Error {
  const opts = s.hint === undefined ? {} : { hint: s.hint };
  let e: Error;
  switch (s.name) {
    case "FormatError": {
      // FormatError appends the location to the message; rebuild without doubling it.
      e = new FormatError("", s.location ?? {}, opts);
      e.message = s.message;
      break;
    }
    case "NotFoundError": e = new NotFoundError(s.message, opts); break;
    case "AlreadyExistsError": e = new AlreadyExistsError(s.message, opts); break;
    case "FailedPreconditionError": e = new FailedPreconditionError(s.message, opts); break;
    case "InvalidArgumentError": e = new InvalidArgumentError(s.message, opts); break;
    case "UsageError": e = new UsageError(s.message, opts); break;
    case "RegistryError": e = new RegistryError(s.message, s.details ?? {}, opts); break;
    case "SociError": e = new SociError(s.message, opts); break;
    default: e = new SociError(s.message, opts);
  }
  if (s.stack) e.stack = s.stack;
  return e;
}
