/**
 * Crash-safe snapshot records (snapshotter §12 `snapshotter/metadata.db`; we
 * keep our own format, `snapshotter/metadata.json`).
 *
 * Technique: the whole record set is one JSON document, rewritten per
 * transaction as temp file → fsync → rename over the old one → fsync of the
 * directory. A `kill -9` at any instant therefore leaves either the previous
 * or the new document, never a mix; a SHA-256 of the body inside the document
 * catches a torn file on filesystems that reorder data and rename. Why not an
 * append-only journal: the set is small (one record per snapshot, hundreds at
 * most, ~300 bytes each), so a rewrite costs well under a millisecond of
 * writing plus the fsyncs a journal needs anyway, and there is no replay or
 * compaction code to get wrong. Transactions are serialised by `update`.
 *
 * Not here: the snapshot rules (snapshotter.ts) and directories.
 */
import { createHash } from "node:crypto";
import { mkdir, open, readFile, rename, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { FormatError } from "../../core-wasm/src/errors.ts";
import type { SnapshotRecord } from "./types.ts";

export interface MetaState {
  /** Next numeric snapshot id (decimal string ids, as containerd's storage). */
  nextId: number;
  /** Keyed by key (active/view) or name (committed). */
  snapshots: Map<string, SnapshotRecord>;
}

const FILE = "metadata.json";

function checksum(body: string): string {
  return "sha256:" + createHash("sha256").update(body).digest("hex");
}

export class MetaStore {
  private state: MetaState;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(readonly dir: string, state: MetaState) {
    this.state = state;
  }

  get path(): string {
    return join(this.dir, FILE);
  }

  /** Opens (or creates empty) the store in `dir`. Throws FormatError for a damaged file. */
  static async open(dir: string): Promise<MetaStore> {
    await mkdir(dir, { recursive: true });
    let text: string | undefined;
    try {
      text = await readFile(join(dir, FILE), "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    }
    const state: MetaState = { nextId: 1, snapshots: new Map() };
    if (text !== undefined) {
      let doc: { body?: string; checksum?: string };
      try {
        doc = JSON.parse(text);
      } catch (e) {
        throw new FormatError(`Cannot read snapshot metadata: not JSON`, { source: join(dir, FILE) }, { cause: e });
      }
      if (typeof doc.body !== "string" || doc.checksum !== checksum(doc.body)) {
        throw new FormatError(`Cannot read snapshot metadata: checksum mismatch`, { source: join(dir, FILE) }, {
          hint: "The file was damaged outside the snapshotter; restore it or remove the snapshotter root",
        });
      }
      const body = JSON.parse(doc.body) as { nextId: number; snapshots: SnapshotRecord[] };
      state.nextId = body.nextId;
      for (const r of body.snapshots) state.snapshots.set(r.name, r);
    }
    return new MetaStore(dir, state);
  }

  /** A read-only look at the current state (do not mutate). */
  get current(): Readonly<MetaState> {
    return this.state;
  }

  /**
   * Runs `fn` on a copy of the state, persists the copy when `fn` returns,
   * then makes it current. Transactions run one at a time, in call order. If
   * `fn` or the write throws, nothing changes.
   */
  update<T>(fn: (draft: MetaState) => T | Promise<T>): Promise<T> {
    const run = async (): Promise<T> => {
      const draft: MetaState = { nextId: this.state.nextId, snapshots: new Map([...this.state.snapshots].map(([k, v]) => [k, structuredClone(v)])) };
      const result = await fn(draft);
      await this.persist(draft);
      this.state = draft;
      return result;
    };
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => undefined);
    return p;
  }

  private async persist(s: MetaState): Promise<void> {
    const body = JSON.stringify({ nextId: s.nextId, snapshots: [...s.snapshots.values()] });
    const text = JSON.stringify({ version: 1, checksum: checksum(body), body });
    const tmp = `${this.path}.tmp-${process.pid}`;
    try {
      const fh = await open(tmp, "w", 0o600);
      try {
        await fh.writeFile(text);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, this.path);
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
    const d = await open(dirname(this.path), "r");
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  }
}
