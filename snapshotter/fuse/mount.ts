/**
 * Mounting, serving and unmounting a `ReadOnlyFileSystem` (fuse.md §2, §10).
 *
 * `mountFuse` opens `/dev/fuse`, runs
 * `mount -i -t fuse.<fsname> -o fd=3,rootmode=40000,user_id=…,group_id=…,ro,…`
 * with the device fd passed as the helper's fd 3 (`-i` keeps mount(8) from
 * running the fuse3 helper; `fd=3` names the *child's* fd), waits for it to
 * exit 0, and only then starts the device readers (earlier reads fail EPERM).
 * mount(2) does not wait for INIT: the first access blocks until the server
 * answers it. `FuseMount.stop()` unmounts (`umount`, then lazy `umount -l`,
 * then `fusermount3 -u -z`), which ends the readers with ENODEV, then closes
 * the fd. With `unmountOnSignals` SIGINT/SIGTERM do the same and re-raise.
 *
 * `cleanupStaleMount` removes a mount whose daemon died (every access fails
 * ENOTCONN, fuse.md §10). Never touch a mount this process serves with a
 * *synchronous* fs call from the main thread: it would wait for a reply only
 * the main thread can write.
 *
 * Not here: the protocol (`server.ts`), the device threads (`device.ts`).
 */
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { stat } from "node:fs/promises";
import { resolve } from "node:path";
import { SociError } from "../../core-wasm/src/errors.ts";
import { FuseDevice } from "./device.ts";
import { buildFastReplies, type FastSource } from "./fast_replies.ts";
import type { ReadOnlyFileSystem } from "./file_system.ts";
import { FuseServer, type FuseServerOptions } from "./server.ts";

export interface MountOptions {
  /** Filesystem type suffix: the mount shows as `fuse.<fsname>` ("soci"). */
  fsname?: string;
  /** The mount's source column (`fsname`). */
  source?: string;
  /** Let other users (container processes) in (true). */
  allowOther?: boolean;
  /** Kernel checks mode bits itself; ACCESS is then never sent (true). */
  defaultPermissions?: boolean;
  /** More `-o` options, e.g. "max_read=1048576". */
  extraOptions?: string[];
  /** Device reader threads (4). */
  readers?: number;
  server?: FuseServerOptions;
  /** Unmount on SIGINT/SIGTERM, then re-raise the signal (false; the daemon's main usually owns signals). */
  unmountOnSignals?: boolean;
  /** A static tree: the reader threads answer its LOOKUP, GETATTR, OPEN… themselves (fast_replies.ts), once the mount has been quiet for 100 ms (3 s at most). */
  fast?: FastSource;
  log?: (line: string) => void;
}

interface Ran {
  code: number | null;
  output: string;
}

function run(cmd: string, args: string[], stdio3?: number): Promise<Ran> {
  return new Promise((resolvePromise) => {
    const stdio: (string | number)[] = ["ignore", "pipe", "pipe"];
    if (stdio3 !== undefined) stdio.push(stdio3);
    const p = spawn(cmd, args, { stdio: stdio as ("ignore" | "pipe" | number)[] });
    let output = "";
    p.stdout?.on("data", (b) => (output += b));
    p.stderr?.on("data", (b) => (output += b));
    p.once("error", (e) => resolvePromise({ code: null, output: e.message }));
    p.once("close", (code) => resolvePromise({ code, output: output.trim() }));
  });
}

const NAME_RE = /^[A-Za-z0-9_.-]{1,64}$/;
/** The reader fast-path tables are built after this long without a request (see mountFuse)… */
const FAST_PATH_QUIET_MS = 100;
/** …or this long after the mount at the latest. */
const FAST_PATH_MAX_WAIT_MS = 3000;

export class FuseMount {
  readonly mountpoint: string;
  readonly device: FuseDevice;
  readonly server: FuseServer;
  /** Settles when the connection is gone and the fd is closed. */
  readonly done: Promise<void>;
  #stopping: Promise<void> | null = null;
  #signalHandler: ((sig: NodeJS.Signals) => void) | null = null;

  constructor(mountpoint: string, device: FuseDevice, server: FuseServer, done: Promise<void>) {
    this.mountpoint = mountpoint;
    this.device = device;
    this.server = server;
    this.done = done;
  }

  /** Unmounts (lazily if busy), waits for the readers to end, closes the device. Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.removeSignalHandlers();
      await unmount(this.mountpoint);
      await this.done;
    })();
    return this.#stopping;
  }

  installSignalHandlers(): void {
    if (this.#signalHandler) return;
    this.#signalHandler = (sig) => {
      void this.stop().finally(() => process.kill(process.pid, sig));
    };
    process.once("SIGINT", this.#signalHandler);
    process.once("SIGTERM", this.#signalHandler);
  }

  removeSignalHandlers(): void {
    if (!this.#signalHandler) return;
    process.off("SIGINT", this.#signalHandler);
    process.off("SIGTERM", this.#signalHandler);
    this.#signalHandler = null;
  }
}

/**
 * Mounts `fs` read-only at `mountpoint` (created if missing) and serves it
 * until `stop()` or an external unmount. Resolves once mount(2) succeeded;
 * the kernel's INIT is answered by the readers right after.
 * Throws `SociError` when the device cannot be opened or the helper fails
 * (its output in the message); nothing stays mounted or open then.
 */
export async function mountFuse(fs: ReadOnlyFileSystem, mountpoint: string, options: MountOptions = {}): Promise<FuseMount> {
  const mp = resolve(mountpoint);
  const fsname = options.fsname ?? "soci";
  const source = options.source ?? fsname;
  if (!NAME_RE.test(fsname) || !NAME_RE.test(source)) throw new TypeError(`fsname and source must match ${NAME_RE}`);
  mkdirSync(mp, { recursive: true });
  let device: FuseDevice;
  try {
    device = FuseDevice.open();
  } catch (e) {
    throw new SociError(`Cannot open /dev/fuse: ${(e as Error).message}`, { cause: e, hint: "Run as root on a host with the fuse module loaded" });
  }
  const opts = [
    "fd=3", "rootmode=40000", `user_id=${process.getuid?.() ?? 0}`, `group_id=${process.getgid?.() ?? 0}`, "ro",
    ...(options.defaultPermissions ?? true ? ["default_permissions"] : []),
    ...(options.allowOther ?? true ? ["allow_other"] : []),
    ...(options.extraOptions ?? []),
  ];
  const r = await run("mount", ["-i", "-t", `fuse.${fsname}`, "-o", opts.join(","), source, mp], device.fd);
  if (r.code !== 0) {
    await device.close();
    throw new SociError(`Cannot mount FUSE filesystem at "${mp}": mount exited ${r.code}: ${r.output}`, { hint: "Mounting needs root (CAP_SYS_ADMIN) and util-linux mount" });
  }
  const log = options.log ?? options.server?.log;
  const server = new FuseServer(fs, { ...options.server, log });
  device.start({ bufferSize: server.readBufferSize, readers: options.readers, log });
  if (options.fast) {
    // Built once the mount has been quiet for a moment (building takes ≈ 25 ms of this thread for
    // 10,000 entries, which a workload paging in its first files should not wait for), or after
    // FAST_PATH_MAX_WAIT_MS in any case; until then the readers hand every request on.
    const src = options.fast;
    const since = performance.now();
    const attempt = (): void => {
      const now = performance.now();
      if (now - device.lastRequestAt < FAST_PATH_QUIET_MS && now - since < FAST_PATH_MAX_WAIT_MS) {
        setTimeout(attempt, FAST_PATH_QUIET_MS).unref();
        return;
      }
      try {
        const t0 = performance.now();
        const tables = buildFastReplies(src, server, fs);
        device.setFast(tables);
        log?.(`fuse: reader fast path for ${mp}: ${tables.lookups.size} names, ${tables.attrAt.length - 1} nodes, built in ${(performance.now() - t0).toFixed(1)} ms`);
      } catch (e) {
        log?.(`fuse: reader fast path off for ${mp}: ${(e as Error).message}`);
      }
    };
    setTimeout(attempt, FAST_PATH_QUIET_MS).unref();
  }
  const done = server.serve(device).then(() => device.close());
  const m = new FuseMount(mp, device, server, done);
  if (options.unmountOnSignals) m.installSignalHandlers();
  return m;
}

/** Unmounts `dir`: `umount`, else `umount -l`, else `fusermount3 -u -z`. Throws when all fail. */
export async function unmount(dir: string): Promise<void> {
  const outputs: string[] = [];
  for (const [cmd, args] of [["umount", [dir]], ["umount", ["-l", dir]], ["fusermount3", ["-u", "-z", dir]]] as const) {
    const r = await run(cmd, [...args]);
    if (r.code === 0) return;
    outputs.push(`${cmd} ${args.join(" ")}: ${r.output}`);
    if (!isMountpoint(dir)) return; // someone else unmounted it meanwhile
  }
  throw new SociError(`Cannot unmount "${dir}": ${outputs.join("; ")}`);
}

/** Decodes the octal escapes (`\040`) of /proc/self/mountinfo fields. */
function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Whether `dir` is a mount point, from /proc/self/mountinfo (never touches the mount). */
export function isMountpoint(dir: string): boolean {
  const target = resolve(dir);
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const f = line.split(" ");
    if (f.length > 4 && unescapeMountField(f[4]) === target) return true;
  }
  return false;
}

/**
 * Removes a mount at `dir` left by a crashed daemon. Result: "none" (not a
 * mount point), "alive" (it answers; left alone unless `force`), "cleaned"
 * (stale or forced, now lazily unmounted). Throws `SociError` when unmounting
 * fails and for stat errors other than ENOTCONN/ECONNABORTED.
 */
export async function cleanupStaleMount(dir: string, options: { force?: boolean } = {}): Promise<"none" | "alive" | "cleaned"> {
  const mp = resolve(dir);
  if (!isMountpoint(mp)) return "none";
  try {
    await stat(mp); // async: safe even if this very process serves the mount
    if (!options.force) return "alive";
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== "ENOTCONN" && code !== "ECONNABORTED") throw new SociError(`Cannot check mount "${mp}": ${(e as Error).message}`, { cause: e });
  }
  for (const [cmd, args] of [["umount", ["-l", mp]], ["fusermount3", ["-u", "-z", mp]]] as const) {
    const r = await run(cmd, [...args]);
    if (r.code === 0 || !isMountpoint(mp)) return "cleaned";
  }
  throw new SociError(`Cannot unmount stale FUSE mount "${mp}"`, { hint: `Run: umount -l ${mp}` });
}
