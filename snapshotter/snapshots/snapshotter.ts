/**
 * The snapshot service (snapshotter §2.4, §4, §6; containerd
 * `core/snapshots/snapshotter.go` and the overlay snapshotter): containerd's
 * rules over the crash-safe records of metastore.ts, one directory per
 * snapshot under `<root>/snapshots/<id>/{fs,work}`.
 *
 * Lifecycle: `prepare`/`view` create ACTIVE/VIEW snapshots on a COMMITTED
 * parent; `commit` turns an ACTIVE one into a COMMITTED one under a new name
 * (same id and directory); `remove` drops leaves only; directories of removed
 * snapshots are deleted by `cleanup` (upstream's asynchronous remove).
 * Directories are built under `new-*` and renamed into place; an id whose
 * record never got written is an orphan that `cleanup` removes (new ids skip it).
 *
 * A prepare carrying `containerd.io/snapshot.ref` goes to the RemoteHandler
 * (remote.ts) once its active snapshot exists: it fills `fs` lazily or by
 * unpacking, and the snapshot is committed under the target name and answered
 * with ALREADY_EXISTS (§4), or the handler defers and the mounts are returned.
 *
 * Not here: gRPC (grpc/), how a layer is mounted or unpacked (remote.ts and
 * layers/), id-mapped snapshots. The §6.1 check asks the handler whether
 * each remote parent is still served; the blob connectivity probe is not done.
 */
import { lstat, mkdir, mkdtemp, readdir, readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { AlreadyExistsError, FailedPreconditionError, InvalidArgumentError, NotFoundError, SociError } from "../../core-wasm/src/errors.ts";
import { matchFilter, parseFilters } from "./filters.ts";
import { MetaStore, type MetaState } from "./metastore.ts";
import { mountsFor } from "./mounts.ts";
import {
  LABEL_HAS_SOCI_INDEX,
  LABEL_NAMESPACE,
  LABEL_REMOTE,
  LABEL_REMOTE_VALUE,
  LABEL_TARGET_REF,
  MAX_LABEL_SIZE,
  nowTimestamp,
  type Info,
  type Kind,
  type Mount,
  type SnapshotRecord,
  type Usage,
} from "./types.ts";

/** What the remote path needs to know about one prepare. */
export interface RemoteRequest {
  key: string;
  target: string;
  parent: string;
  labels: Record<string, string>;
  namespace: string;
  fsDir: string;
  /** Parent `fs` directories, nearest first (context for a local unpack). */
  parentFsDirs: string[];
}

export type RemoteOutcome = { mode: "lazy" | "unpacked"; reason: string } | { mode: "defer"; reason: string };

export interface RemoteHandler {
  /** Fills `fsDir` lazily or by unpacking, or says to defer to containerd. Must not throw for "cannot": return defer. */
  prepare(req: RemoteRequest): Promise<RemoteOutcome>;
  /** Re-creates the lazy mount of a remote snapshot after a restart (§12.1). */
  restore(info: Info, fsDir: string): Promise<void>;
  /** Releases whatever sits on `fsDir` (before its directory is deleted). */
  release(fsDir: string): Promise<void>;
  /** §6.1: throws when the lazy layer on `fsDir` is not served by this process. */
  check?(fsDir: string): Promise<void>;
}

/** A remote layer of the chain is broken (snapshotter §6.1): gRPC UNAVAILABLE. */
export class UnavailableError extends SociError {}

export interface SnapshotterOptions {
  remote?: RemoteHandler;
  log?: (level: "debug" | "info" | "warn" | "error", msg: string, fields?: Record<string, unknown>) => void;
}

function checkLabels(labels: Record<string, string>): void {
  for (const [k, v] of Object.entries(labels)) {
    if (Buffer.byteLength(k) + Buffer.byteLength(v) > MAX_LABEL_SIZE) {
      throw new InvalidArgumentError(`Cannot set label ${JSON.stringify(k)}: key and value exceed ${MAX_LABEL_SIZE} bytes`);
    }
  }
}

function infoOf(r: SnapshotRecord): Info {
  return { name: r.name, parent: r.parent, kind: r.kind, labels: { ...r.labels }, createdAt: r.createdAt, updatedAt: r.updatedAt };
}

export class Snapshotter {
  private constructor(
    readonly root: string,
    private readonly store: MetaStore,
    private readonly opts: SnapshotterOptions,
  ) {}

  /** Opens the records under `root` (created if missing). Orphan directories are left to `cleanup`. */
  static async open(root: string, opts: SnapshotterOptions = {}): Promise<Snapshotter> {
    await mkdir(join(root, "snapshots"), { recursive: true, mode: 0o700 });
    const s = new Snapshotter(root, await MetaStore.open(root), opts);
    return s;
  }

  setRemote(remote: RemoteHandler): void {
    this.opts.remote = remote;
  }

  fsDir(id: string): string {
    return join(this.root, "snapshots", id, "fs");
  }

  private workDir(id: string): string {
    return join(this.root, "snapshots", id, "work");
  }

  private get(state: Readonly<MetaState>, key: string): SnapshotRecord {
    const r = state.snapshots.get(key);
    if (r === undefined) throw new NotFoundError(`Cannot find snapshot ${JSON.stringify(key)}: it does not exist`);
    return r;
  }

  /** Parent chain ids, nearest first. */
  private parentIds(state: Readonly<MetaState>, parent: string): string[] {
    const ids: string[] = [];
    for (let p = parent; p !== ""; ) {
      const r = this.get(state, p);
      ids.push(r.id);
      p = r.parent;
    }
    return ids;
  }

  /** §6.1: every remote (FUSE) snapshot in the parent chain must be served, else UnavailableError. */
  private async checkChain(parent: string): Promise<void> {
    const check = this.opts.remote?.check;
    if (check === undefined) return;
    const s = this.store.current;
    const remote: SnapshotRecord[] = [];
    for (let p = parent; p !== ""; ) {
      const r = this.get(s, p);
      if (r.labels[LABEL_REMOTE] !== undefined) remote.push(r);
      p = r.parent;
    }
    const results = await Promise.allSettled(remote.map((r) => check.call(this.opts.remote, this.fsDir(r.id))));
    const bad = results.findIndex((x) => x.status === "rejected");
    if (bad >= 0) {
      const why = (results[bad] as PromiseRejectedResult).reason;
      throw new UnavailableError(`Cannot use layer ${JSON.stringify(remote[bad]!.name)}: it is unavailable: ${(why as Error)?.message ?? String(why)}`, {
        cause: why,
        hint: "Restart the snapshotter to mount it again, or remove the snapshot",
      });
    }
  }

  private mountsOf(state: Readonly<MetaState>, r: SnapshotRecord): Mount[] {
    return mountsFor({ kind: r.kind, upperDir: this.fsDir(r.id), workDir: this.workDir(r.id), lowerDirs: this.parentIds(state, r.parent).map((id) => this.fsDir(id)) });
  }

  private async create(kind: Kind, key: string, parent: string, labels: Record<string, string>): Promise<SnapshotRecord> {
    if (key === "") throw new InvalidArgumentError("Cannot create snapshot: the key is empty");
    checkLabels(labels);
    return this.store.update(async (s) => {
      if (s.snapshots.has(key)) throw new AlreadyExistsError(`Cannot create snapshot ${JSON.stringify(key)}: it already exists`);
      if (parent !== "") {
        const p = s.snapshots.get(parent);
        if (p === undefined) throw new NotFoundError(`Cannot create snapshot ${JSON.stringify(key)}: parent ${JSON.stringify(parent)} does not exist`);
        if (p.kind !== "committed") throw new InvalidArgumentError(`Cannot create snapshot ${JSON.stringify(key)}: parent ${JSON.stringify(parent)} is not committed`);
      }
      let id = String(s.nextId++);
      const base = join(this.root, "snapshots");
      while (await exists(join(base, id))) id = String(s.nextId++);
      const tmp = await mkdtemp(join(base, "new-"));
      await mkdir(join(tmp, "fs"), { mode: 0o755 });
      if (kind === "active") await mkdir(join(tmp, "work"), { mode: 0o711 });
      await rename(tmp, join(base, id));
      const now = nowTimestamp();
      const r: SnapshotRecord = { id, name: key, parent, kind, labels: { ...labels }, createdAt: now, updatedAt: now, usage: { size: 0, inodes: 0 } };
      s.snapshots.set(key, r);
      return r;
    });
  }

  /** Creates an ACTIVE snapshot and returns its mounts; on the remote path may throw AlreadyExistsError after committing the target (§4). */
  async prepare(key: string, parent: string, labels: Record<string, string>, namespace = "default"): Promise<Mount[]> {
    const r = await this.create("active", key, parent, labels);
    const target = labels[LABEL_TARGET_REF];
    const remote = this.opts.remote;
    if (target !== undefined && target !== "" && remote !== undefined) {
      // The target is already here (e.g. pulled in another namespace): nothing to mount (§4).
      const existing = this.store.current.snapshots.get(target);
      if (existing !== undefined && existing.kind === "committed" && existing.parent === parent) {
        await this.remove(key);
        throw new AlreadyExistsError(`target snapshot ${JSON.stringify(target)}: already exists`);
      }
      const parentFsDirs = this.parentIds(this.store.current, parent).map((id) => this.fsDir(id));
      const outcome = await remote.prepare({ key, target, parent, labels, namespace, fsDir: this.fsDir(r.id), parentFsDirs });
      if (outcome.mode !== "defer") {
        const marks: Record<string, string> = { ...labels, [LABEL_HAS_SOCI_INDEX]: "true", [LABEL_NAMESPACE]: namespace };
        if (outcome.mode === "lazy") marks[LABEL_REMOTE] = LABEL_REMOTE_VALUE;
        try {
          await this.commit(target, key, marks, outcome.mode === "lazy");
        } catch (e) {
          if (!(e instanceof AlreadyExistsError)) throw e;
          // Lost a race for the same target: drop our copy, theirs stands.
          await remote.release(this.fsDir(r.id));
          await this.remove(key);
        }
        throw new AlreadyExistsError(`target snapshot ${JSON.stringify(target)}: already exists`);
      }
    }
    await this.checkChain(parent);
    return this.mountsOf(this.store.current, r);
  }

  async view(key: string, parent: string, labels: Record<string, string>): Promise<Mount[]> {
    const r = await this.create("view", key, parent, labels);
    await this.checkChain(parent);
    return this.mountsOf(this.store.current, r);
  }

  async mounts(key: string): Promise<Mount[]> {
    const s = this.store.current;
    const r = this.get(s, key);
    if (r.kind === "committed") throw new FailedPreconditionError(`Cannot get mounts of snapshot ${JSON.stringify(key)}: it is committed`);
    await this.checkChain(r.parent);
    return this.mountsOf(this.store.current, r);
  }

  /** ACTIVE `key` → COMMITTED `name`, labels replaced by `labels`. `skipUsage` for FUSE-backed snapshots (never walk our own mount). */
  async commit(name: string, key: string, labels: Record<string, string>, skipUsage = false): Promise<void> {
    checkLabels(labels);
    const r0 = this.get(this.store.current, key);
    const usage = skipUsage || r0.kind !== "active" ? { size: 0, inodes: 0 } : await diskUsage(this.fsDir(r0.id));
    await this.store.update((s) => {
      const r = this.get(s, key);
      if (r.kind !== "active") throw new FailedPreconditionError(`Cannot commit snapshot ${JSON.stringify(key)}: it is not active`);
      if (name === "") throw new InvalidArgumentError(`Cannot commit snapshot ${JSON.stringify(key)}: the name is empty`);
      if (s.snapshots.has(name)) throw new AlreadyExistsError(`Cannot commit snapshot ${JSON.stringify(key)} as ${JSON.stringify(name)}: ${JSON.stringify(name)} already exists`);
      s.snapshots.delete(key);
      const now = nowTimestamp();
      s.snapshots.set(name, { ...r, name, kind: "committed", labels: { ...labels }, updatedAt: now, usage });
    });
    await rm(this.workDir(r0.id), { recursive: true, force: true });
  }

  async remove(key: string): Promise<void> {
    await this.store.update((s) => {
      this.get(s, key);
      for (const o of s.snapshots.values()) {
        if (o.parent === key) throw new FailedPreconditionError(`Cannot remove snapshot ${JSON.stringify(key)}: cannot remove snapshot with child ${JSON.stringify(o.name)}`);
      }
      s.snapshots.delete(key);
    });
  }

  async stat(key: string): Promise<Info> {
    return infoOf(this.get(this.store.current, key));
  }

  /** Only labels change: no paths or `labels` replaces all, `labels.<k>` sets or deletes one (§2.4). */
  async update(info: Info, paths: string[]): Promise<Info> {
    checkLabels(info.labels);
    return this.store.update((s) => {
      const r = this.get(s, info.name);
      let labels = { ...r.labels };
      if (paths.length === 0) labels = { ...info.labels };
      for (const p of paths) {
        if (p === "labels") labels = { ...info.labels };
        else if (p.startsWith("labels.")) {
          const k = p.slice("labels.".length);
          if (info.labels[k] !== undefined) labels[k] = info.labels[k];
          else delete labels[k];
        } else throw new InvalidArgumentError(`Cannot update snapshot ${JSON.stringify(info.name)}: field ${JSON.stringify(p)} is not mutable`, { hint: "Only labels and labels.<key> can be updated" });
      }
      const updated = { ...r, labels, updatedAt: nowTimestamp() };
      s.snapshots.set(info.name, updated);
      return infoOf(updated);
    });
  }

  /** Every snapshot matching any of `filters` (containerd syntax); order by name. */
  async list(filters: readonly string[] = []): Promise<Info[]> {
    const f = parseFilters(filters);
    return [...this.store.current.snapshots.values()].map(infoOf).filter((i) => matchFilter(f, i)).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async usage(key: string): Promise<Usage> {
    const r = this.get(this.store.current, key);
    if (r.kind === "active") return diskUsage(this.fsDir(r.id));
    return { ...r.usage };
  }

  /** Snapshots the remote path mounted lazily (to restore at start). */
  remoteSnapshots(): Array<{ info: Info; fsDir: string }> {
    return [...this.store.current.snapshots.values()].filter((r) => r.labels[LABEL_REMOTE] !== undefined).map((r) => ({ info: infoOf(r), fsDir: this.fsDir(r.id) }));
  }

  /** Deletes directories no record references (released first); returns the ids removed. */
  async cleanup(): Promise<string[]> {
    const live = new Set([...this.store.current.snapshots.values()].map((r) => r.id));
    const base = join(this.root, "snapshots");
    const removed: string[] = [];
    for (const d of await readdir(base)) {
      if (live.has(d)) continue;
      const fs = join(base, d, "fs");
      if (this.opts.remote) await this.opts.remote.release(fs);
      if (await hasMountsUnder(join(base, d))) {
        this.opts.log?.("warn", "cleanup skipped a directory with a mount still under it", { dir: join(base, d) });
        continue;
      }
      await rm(join(base, d), { recursive: true, force: true });
      removed.push(d);
    }
    return removed;
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch {
    return false;
  }
}

/** Mount points at or below `dir` (from /proc/self/mountinfo). */
export async function hasMountsUnder(dir: string): Promise<boolean> {
  let text: string;
  try {
    text = await readFile("/proc/self/mountinfo", "utf8");
  } catch {
    return false;
  }
  for (const line of text.split("\n")) {
    const mp = line.split(" ")[4]?.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (mp !== undefined && (mp === dir || mp.startsWith(dir + "/"))) return true;
  }
  return false;
}

/** Bytes (allocated blocks × 512, hard links once) and inodes under `dir`, as containerd's fs.DiskUsage. */
export async function diskUsage(dir: string): Promise<Usage> {
  const seen = new Set<string>();
  let size = 0;
  let inodes = 0;
  const walk = async (p: string): Promise<void> => {
    const st = await lstat(p, { bigint: true });
    const id = `${st.dev}:${st.ino}`;
    if (!seen.has(id)) {
      seen.add(id);
      inodes++;
      size += Number(st.blocks) * 512;
    }
    if (st.isDirectory()) for (const n of await readdir(p)) await walk(join(p, n));
  };
  await walk(dir);
  return { size, inodes };
}
