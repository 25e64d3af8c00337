/**
 * The SHA-256 passes of a zTOC build on a helper thread (ztoc/'s `BlobHasher`),
 * so a single build uses both cores: the caller's thread inflates and walks
 * the tar, the helper reads the same blob file itself and hashes it — the
 * blob digest in one sequential pass, and each span's compressed range as the
 * builder reports it (the span ends are only known once the inflater reaches
 * them, formats §4.5). Nothing crosses between the threads but offsets and
 * digests.
 *
 * The helper is a small self-contained script (`HELPER_SOURCE`, started with
 * `eval: true`, which Node, Bun — also a compiled binary — and Deno support),
 * not the program file: loading the whole CLI bundle in it cost ≈ 80 ms of
 * CPU on the core the build was meant to have to itself. It needs only
 * node:fs, node:crypto and node:worker_threads. It is started when the helper
 * is made, so its start-up overlaps the caller's own work.
 *
 * Not here: the build itself (ztoc/), the zTOC worker pool (mod.ts).
 */
import { open } from "node:fs/promises";
import { Worker } from "node:worker_threads";
import { SociError } from "../errors.ts";
import type { BlobHasher } from "../ztoc/mod.ts";

/** A blob stored as `size` bytes at `offset` of the local file `path`. */
export interface HashFile {
  path: string;
  offset: number;
  size: number;
}

type HashToWorker =
  | { type: "start"; id: number; file: HashFile }
  | { type: "span"; id: number; index: number; start: number; end: number }
  | { type: "end"; id: number };

type HashFromWorker =
  | { type: "done"; id: number; blobDigest: string; blobSize: number; spanDigests: string[] }
  | { type: "error"; id: number; message: string };

type HashResult = { blobDigest: string; blobSize: number; spanDigests: string[] };

const READ_BYTES = 1 << 20;

/**
 * The helper thread (CommonJS, run with `eval: true`). Per job: the blob is
 * hashed in 1 MiB reads; between reads, and after the blob until "end", the
 * announced spans are hashed with positioned reads. Replies "done" with the
 * blob digest, the bytes actually read and the span digests by index, or
 * "error" with the reason (e.g. the file cannot be opened).
 */
const HELPER_SOURCE = `
"use strict";
const { parentPort } = require("node:worker_threads");
const { open } = require("node:fs/promises");
const { createHash } = require("node:crypto");
const READ = ${READ_BYTES};
const jobs = new Map();
const digest = (h) => "sha256:" + h.digest("hex");
async function hashRange(fh, buf, file, start, end) {
  const h = createHash("sha256");
  for (let p = start; p < end; ) {
    const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, end - p), file.offset + p);
    if (bytesRead === 0) break;
    h.update(buf.subarray(0, bytesRead));
    p += bytesRead;
  }
  return digest(h);
}
async function run(job) {
  const file = job.file;
  const fh = await open(file.path, "r");
  try {
    const buf = new Uint8Array(READ);
    const drain = async () => {
      while (job.spans.length > 0) {
        const s = job.spans.shift();
        job.digests[s.index] = await hashRange(fh, buf, file, s.start, s.end);
      }
    };
    const blob = createHash("sha256");
    let pos = 0;
    while (pos < file.size) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(READ, file.size - pos), file.offset + pos);
      if (bytesRead === 0) break;
      blob.update(buf.subarray(0, bytesRead));
      pos += bytesRead;
      await drain();
    }
    for (;;) {
      await drain();
      if (job.ended && job.spans.length === 0) break;
      await new Promise((r) => (job.wake = r));
      job.wake = null;
    }
    return { blobDigest: digest(blob), blobSize: pos, spanDigests: job.digests };
  } finally {
    await fh.close();
  }
}
parentPort.on("message", (m) => {
  if (m.type === "start") {
    const job = { file: m.file, spans: [], digests: [], ended: false, wake: null };
    jobs.set(m.id, job);
    run(job).then(
      (r) => parentPort.postMessage({ type: "done", id: m.id, ...r }),
      (e) => parentPort.postMessage({ type: "error", id: m.id, message: e instanceof Error ? e.message : String(e) }),
    ).finally(() => jobs.delete(m.id));
    return;
  }
  const job = jobs.get(m.id);
  if (!job) return;
  if (m.type === "span") job.spans.push({ index: m.index, start: m.start, end: m.end });
  else job.ended = true;
  if (job.wake) job.wake();
});
`;

/** One helper thread hashing blobs for builds on the caller's thread. */
export class BlobHashHelper {
  readonly #worker: Worker;
  readonly #waiting = new Map<number, { resolve(r: HashResult): void; reject(e: unknown): void }>();
  #nextId = 1;
  #failed: Error | null = null;

  constructor() {
    this.#worker = new Worker(HELPER_SOURCE, { eval: true });
    this.#worker.unref();
    this.#worker.on("message", (m: HashFromWorker) => {
      const w = this.#waiting.get(m.id);
      if (!w) return;
      this.#waiting.delete(m.id);
      if (this.#waiting.size === 0) this.#worker.unref();
      if (m.type === "done") w.resolve({ blobDigest: m.blobDigest, blobSize: m.blobSize, spanDigests: m.spanDigests });
      else w.reject(new SociError(`Cannot hash the layer blob: ${m.message}`));
    });
    const fail = (e: Error) => {
      this.#failed ??= e;
      for (const w of this.#waiting.values()) w.reject(new SociError("Cannot hash the layer blob: the helper thread failed", { cause: e }));
      this.#waiting.clear();
    };
    this.#worker.on("error", fail);
    this.#worker.on("exit", (code) => fail(new Error(`helper thread exited with code ${code}`)));
  }

  /** A hasher for one build over `file`; its `finish` settles once the helper has read the whole blob. */
  hasher(file: HashFile): BlobHasher {
    const id = this.#nextId++;
    const post = (m: HashToWorker) => this.#worker.postMessage(m);
    // Registered now: the helper may fail (e.g. open) before the builder asks.
    const done = new Promise<HashResult>((resolve, reject) => {
      if (this.#failed !== null) return reject(new SociError("Cannot hash the layer blob: the helper thread failed", { cause: this.#failed }));
      this.#waiting.set(id, { resolve, reject });
    });
    done.catch(() => {}); // observed through finish()
    post({ type: "start", id, file });
    let ended = false;
    return {
      span: (index, start, end) => post({ type: "span", id, index, start, end }),
      finish: () => {
        if (!ended) {
          ended = true;
          if (this.#waiting.has(id)) this.#worker.ref(); // keep the program alive until the answer comes
          post({ type: "end", id });
        }
        return done;
      },
    };
  }

  async close(): Promise<void> {
    await this.#worker.terminate();
  }
}

/**
 * The file range as chunks of one reused 1 MiB buffer: a chunk is valid only
 * until the next one is requested. For a build with a `hasher`, which keeps
 * no chunk after its push.
 */
export async function* reusedFileChunks(file: HashFile): AsyncGenerator<Uint8Array> {
  if (file.size === 0) return;
  const fh = await open(file.path, "r");
  try {
    const buf = new Uint8Array(READ_BYTES);
    for (let pos = 0; pos < file.size; ) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(READ_BYTES, file.size - pos), file.offset + pos);
      if (bytesRead === 0) return;
      pos += bytesRead;
      yield buf.subarray(0, bytesRead);
    }
  } finally {
    await fh.close();
  }
}
