/**
 * The mount daemon's state directory (snapshotter §12 in spirit):
 *
 *   <root>/mounts/<id>/state.json   pid, target, lower dirs (written at start)
 *   <root>/mounts/<id>/status.json  per-layer figures, rewritten ~every second
 *   <root>/mounts/<id>/l/<n>        layer n's lower dir: a FUSE mountpoint, or a
 *                                   symlink to <root>/layers/<hex>/fs (unpacked)
 *   <root>/mounts/<id>/empty        bottom lower dir of one-layer images
 *   <root>/logs/<id>.log            the detached daemon's output
 *
 * `<id>` = the first 16 hex of sha256(absolute target dir), so a later mount
 * or umount of the same dir finds it. Overlay gets `l/<n>` relative to the
 * mount dir (short options: 128 layers ≈ 700 bytes, far below 4096).
 * Every JSON file is written atomically (temp + rename, no fsync: see writeJson).
 *
 * Not here: what the daemon does (daemon.ts).
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { randomBytes } from "node:crypto";
import { rename, rm, writeFile } from "node:fs/promises";
import type { LayerStats } from "../layers/mod.ts";

export interface MountState {
  version: 1;
  pid: number;
  target: string;
  image: string;
  /** Absolute FUSE mountpoints this daemon serves. */
  fuseMounts: string[];
  startedAt: string;
}

export interface MountStatus {
  version: 1;
  pid: number;
  state: "starting" | "ready" | "stopping";
  target: string;
  image: string;
  platform: string;
  manifestDigest: string;
  sociIndex: { digest: string; version: string } | null;
  /** Why nothing is lazy (no SOCI index), when so. */
  note?: string;
  backgroundFetch: boolean;
  /** `soci mount --prefetch` (absent in files written before it existed). */
  prefetch?: boolean;
  updatedAt: string;
  layers: LayerStats[];
}

/** The default state root: /var/lib/soci-ts/mounts as root, else $XDG_DATA_HOME/soci/mounts (~/.local/share/soci/mounts). */
export function defaultMountRoot(env: Record<string, string | undefined> = process.env): string {
  if (process.getuid?.() === 0) return "/var/lib/soci-ts/mounts";
  const xdg = env.XDG_DATA_HOME;
  if (xdg && xdg.startsWith("/")) return join(xdg, "soci", "mounts");
  return join(env.HOME || homedir(), ".local", "share", "soci", "mounts");
}

export class MountDir {
  readonly root: string;
  readonly target: string;
  readonly id: string;
  readonly dir: string;

  constructor(root: string, target: string) {
    this.root = resolve(root);
    this.target = resolve(target);
    this.id = createHash("sha256").update(this.target).digest("hex").slice(0, 16);
    this.dir = join(this.root, "mounts", this.id);
  }

  get statePath(): string {
    return join(this.dir, "state.json");
  }
  get statusPath(): string {
    return join(this.dir, "status.json");
  }
  get logPath(): string {
    return join(this.root, "logs", `${this.id}.log`);
  }
  lowerDir(n: number): string {
    return join(this.dir, "l", String(n));
  }

  async readState(): Promise<MountState | null> {
    return readStateAt(this.dir);
  }
  async readStatus(): Promise<MountStatus | null> {
    return readJson<MountStatus>(this.statusPath);
  }
  writeState(s: MountState): Promise<void> {
    return writeJson(this.statePath, s);
  }
  writeStatus(s: MountStatus): Promise<void> {
    return writeJson(this.statusPath, s);
  }
}

/** The state.json of the mount dir `dir`, or null. */
export function readStateAt(dir: string): Promise<MountState | null> {
  return readJson<MountState>(join(dir, "state.json"));
}

/**
 * temp + rename: readers never see half a file. No fsync: these files only
 * matter while the machine is up (a daemon killed -9 leaves them complete;
 * after a reboot there are no mounts to clean), and an fsync per second would
 * cost more than it protects.
 */
async function writeJson(path: string, value: unknown): Promise<void> {
  const tmp = `${path}.tmp-${randomBytes(4).toString("hex")}`;
  try {
    await writeFile(tmp, JSON.stringify(value, null, 2) + "\n");
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

async function readJson<T>(path: string): Promise<T | null> {
  try {
    return JSON.parse(await readFile(path, "utf8")) as T;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    if (e instanceof SyntaxError) return null; // never half-written (atomic), so only a foreign file
    throw e;
  }
}

/**
 * Whether process `pid` runs: it exists (signal 0) and is not a zombie — a
 * detached daemon killed with -9 stays a zombie when no init reaps it (as in
 * containers), and must count as dead.
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return true; // no procfs: trust the signal
  }
}
