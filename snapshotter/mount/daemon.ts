/**
 * One mounted image: the start and stop order of `soci mount` (issue 5;
 * snapshotter §7, §12, fuse.md §10).
 *
 * Start: clean what dead daemons of this root left (their overlay and FUSE
 * mounts, lazily, then their state dirs) → refuse a target served by a live
 * daemon, clean a dead mount on it → resolve the image (platform, SOCI
 * index, zTOCs) → per layer, a FUSE mount at `l/<n>` (lazy) or a symlink
 * to the unpacked layer (with `prefetch`, a lazy layer's prefetch-artifact
 * spans are fetched before its mount resolves) → overlay at the target →
 * status file every second.
 * Stop (umount, SIGINT/SIGTERM): overlay first, then the FUSE mounts (their
 * readers end with ENODEV), then the state dir. A failure during start undoes
 * what was done and rethrows.
 *
 * Not here: detaching and readiness (spawn.ts), the CLI.
 */
import { mkdir, readdir, rm, stat, symlink } from "node:fs/promises";
import { join } from "node:path";
import { AlreadyExistsError } from "../../core-wasm/src/errors.ts";
import type { ImageSource, Platform } from "../../core-wasm/src/oci/mod.ts";
import type { Repository } from "../../core-wasm/src/registry/mod.ts";
import type { LocalStore } from "../../core-wasm/src/store/mod.ts";
import { cleanupStaleMount, isMountpoint, unmount } from "../fuse/mod.ts";
import { LayerManager, type LayerMountInfo, type ResolvedImage } from "../layers/mod.ts";
import { mountOverlay, unmountOverlay } from "./overlay.ts";
import { isAlive, MountDir, readStateAt, type MountStatus } from "./state_dir.ts";

export interface MountImageOptions {
  source: ImageSource;
  /** Registry repository of `source` (range fetches, referrers); absent for local images. */
  repository?: Repository;
  store?: LocalStore;
  target: string;
  root: string;
  platform?: Platform;
  sociV1?: boolean;
  indexDigest?: string;
  backgroundFetch?: boolean;
  /** Fetch the spans of each layer's prefetch artifact before mounting it (formats §9.6). Default false. */
  prefetch?: boolean;
  spanCacheBytes: number;
  minLayerSize?: number;
  statusIntervalMs?: number;
  log?: (line: string) => void;
}

/** Removes what a dead daemon of `root` left: overlay, FUSE mounts, state dir. Returns the targets cleaned. */
export async function cleanupDeadMounts(root: string, log?: (line: string) => void): Promise<string[]> {
  const cleaned: string[] = [];
  const ids = await readdir(join(root, "mounts")).catch(() => [] as string[]);
  for (const id of ids) {
    const dir = join(root, "mounts", id);
    const state = await readStateAt(dir).catch(() => null);
    if (state !== null && isAlive(state.pid)) continue;
    // No state yet: another daemon may be starting there this very moment; only old leftovers go.
    if (state === null && Date.now() - ((await stat(dir).catch(() => null))?.mtimeMs ?? 0) < 60_000) continue;
    if (state !== null) {
      if (isMountpoint(state.target)) await cleanupStaleMount(state.target, { force: true }).catch((e) => log?.(`cannot clean ${state.target}: ${(e as Error).message}`));
      cleaned.push(state.target);
    }
    for (const n of await readdir(join(dir, "l")).catch(() => [] as string[])) {
      const p = join(dir, "l", n);
      if (isMountpoint(p)) await cleanupStaleMount(p, { force: true }).catch((e) => log?.(`cannot clean ${p}: ${(e as Error).message}`));
    }
    if (state !== null) log?.(`cleaned the mounts of dead daemon ${state.pid} (${state.target})`);
    await rm(dir, { recursive: true, force: true });
  }
  return cleaned;
}

export class ImageMount {
  readonly md: MountDir;
  readonly layers: LayerManager;
  image?: ResolvedImage;
  readonly infos: LayerMountInfo[] = [];
  /** Settles once stopped. */
  readonly done: Promise<void>;
  #state: MountStatus["state"] = "starting";
  #timer: NodeJS.Timeout | null = null;
  #stopping: Promise<void> | null = null;
  #resolveDone!: () => void;
  readonly #opts: MountImageOptions;

  constructor(opts: MountImageOptions) {
    this.#opts = opts;
    this.md = new MountDir(opts.root, opts.target);
    this.layers = new LayerManager({
      root: this.md.root, spanCacheBytes: opts.spanCacheBytes, backgroundFetch: opts.backgroundFetch ?? false, minLayerSize: opts.minLayerSize, log: opts.log,
      prefetch: { enable: opts.prefetch ?? false },
    });
    this.done = new Promise((r) => (this.#resolveDone = r));
  }

  get target(): string {
    return this.md.target;
  }

  status(): MountStatus {
    const stats = this.layers.stats();
    const img = this.image;
    return {
      version: 1, pid: process.pid, state: this.#state, target: this.md.target, image: this.#opts.source.name,
      platform: img?.platform ?? "", manifestDigest: img?.manifestDescriptor.digest ?? "",
      sociIndex: img?.sociIndex ?? null, ...(img?.noIndexReason ? { note: img.noIndexReason } : {}),
      backgroundFetch: this.#opts.backgroundFetch ?? false, prefetch: this.#opts.prefetch ?? false, updatedAt: new Date().toISOString(),
      layers: this.infos.map((i) => stats.find((s) => s.dir === i.dir && s.digest === i.digest) ?? { ...i, spanCount: 0, spansFetched: 0, spansFromCache: 0, spansRefused: 0, bytesFetched: 0, fetchRequests: 0, fetchErrors: 0, uncompressedBytesServed: 0, prefetchedSpans: 0, complete: false }),
    };
  }

  /** Writes status.json now (atomically). */
  async writeStatus(): Promise<void> {
    await this.md.writeStatus(this.status()).catch((e) => this.#opts.log?.(`cannot write ${this.md.statusPath}: ${(e as Error).message}`));
  }

  async start(): Promise<void> {
    const { log } = this.#opts;
    const md = this.md;
    const t0 = performance.now();
    const ms = () => `${(performance.now() - t0).toFixed(0)} ms`;
    log?.(`starting: pid ${process.pid} (up ${Math.round(process.uptime() * 1000)} ms), ${this.#opts.source.name} at ${md.target}`);
    await mkdir(join(md.root, "mounts"), { recursive: true });
    await cleanupDeadMounts(md.root, log);
    const prior = await md.readState();
    if (prior !== null && isAlive(prior.pid)) {
      throw new AlreadyExistsError(`Cannot mount at "${md.target}": soci mount (pid ${prior.pid}) already serves it`, { hint: `Run: soci umount ${md.target}` });
    }
    if (isMountpoint(md.target)) {
      const r = await cleanupStaleMount(md.target);
      if (r === "alive") throw new AlreadyExistsError(`Cannot mount at "${md.target}": something is already mounted there`, { hint: `Unmount it first (umount ${md.target})` });
      log?.(`cleaned a dead mount at ${md.target}`);
    }
    await mkdir(md.target, { recursive: true });
    await mkdir(join(md.dir, "l"), { recursive: true });
    await mkdir(join(md.dir, "empty"), { recursive: true });
    const fuseMounts: string[] = [];
    const writeState = () => md.writeState({ version: 1, pid: process.pid, target: md.target, image: this.#opts.source.name, fuseMounts, startedAt: new Date().toISOString() });
    await writeState();
    try {
      const image = await this.layers.resolveImage(this.#opts.source, {
        ...(this.#opts.platform ? { platform: this.#opts.platform } : {}),
        sociV1: this.#opts.sociV1 ?? false,
        ...(this.#opts.indexDigest ? { indexDigest: this.#opts.indexDigest } : {}),
        ...(this.#opts.repository ? { repository: this.#opts.repository } : {}),
        ...(this.#opts.store ? { store: this.#opts.store } : {}),
      });
      this.image = image;
      log?.(`resolved ${image.manifestDescriptor.digest} (${image.platform}, ${image.layers.length} layers, SOCI index ${image.sociIndex?.digest ?? "none"}) at ${ms()}`);
      if (image.noIndexReason) log?.(`note: every layer is downloaded and unpacked: ${image.noIndexReason}`);
      const noIndex = image.sociIndex === undefined;
      // Lazy mounts first (fast), then unpacks, at most 3 downloads at once.
      const results: LayerMountInfo[] = new Array(image.layers.length);
      let next = 0;
      const worker = async () => {
        while (next < image.layers.length) {
          const n = next++;
          const layer = image.layers[n];
          const ref = { source: this.#opts.source, repository: this.#opts.repository, layer, noIndex };
          const dir = md.lowerDir(n);
          const info = await this.layers.mountOrUnpack(ref, dir);
          if (info.mode === "lazy") {
            fuseMounts.push(dir);
            await writeState();
          } else {
            await rm(dir, { recursive: true, force: true });
            await symlink(info.dir, dir);
          }
          results[n] = info;
          log?.(`layer ${n} ${info.digest}: ${info.mode}${info.reason ? ` (${info.reason})` : ""}`);
        }
      };
      await Promise.all([worker(), worker(), worker()]);
      this.infos.push(...results);
      const lowers = results.map((_, n) => `l/${n}`).reverse();
      while (lowers.length < 2) lowers.push("empty");
      await mountOverlay(md.target, lowers, md.dir);
      log?.(`overlay mounted at ${md.target} at ${ms()}`);
    } catch (e) {
      await this.#teardown().catch((e2) => log?.(`cleanup after a failed start: ${(e2 as Error).message}`));
      this.#resolveDone();
      throw e;
    }
    this.#state = "ready";
    void this.writeStatus(); // the readiness reply need not wait for it; --stats waits for the file
    // Also what keeps a daemon whose layers are all unpacked alive (no FUSE readers then), and how it
    // notices a target unmounted behind its back (plain umount, umount -l): then it stops too.
    this.#timer = setInterval(() => {
      if (this.#state === "ready" && !isMountpoint(md.target)) {
        log?.(`${md.target} was unmounted by someone else: stopping`);
        void this.stop().catch((e) => log?.(`stop failed: ${(e as Error).message}`));
        return;
      }
      void this.writeStatus();
    }, this.#opts.statusIntervalMs ?? 1000);
  }

  /** Overlay, then FUSE mounts, then the state dir. Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#state = "stopping";
      if (this.#timer) clearInterval(this.#timer);
      await this.writeStatus();
      try {
        await this.#teardown();
      } finally {
        this.#resolveDone();
      }
    })();
    return this.#stopping;
  }

  async #teardown(): Promise<void> {
    await unmountOverlay(this.md.target);
    await this.layers.close();
    // A FUSE mount the manager no longer knows about (failed start) must not be walked by rm.
    for (const n of await readdir(join(this.md.dir, "l")).catch(() => [] as string[])) {
      const p = join(this.md.dir, "l", n);
      if (isMountpoint(p)) await unmount(p);
    }
    await rm(this.md.dir, { recursive: true, force: true });
  }
}

/** Mounts the image (see the module header); resolves once the target is ready. */
export async function mountImage(opts: MountImageOptions): Promise<ImageMount> {
  const m = new ImageMount(opts);
  await m.start();
  return m;
}
