/**
 * The merged root: a read-only overlayfs of the layer dirs (snapshotter §6,
 * §16.1). Only lower dirs, top layer first, no upper/work dir, so the mount
 * is read-only by construction. Overlay needs two lower dirs without an
 * upper, so a one-layer image gets an empty bottom dir (chosen over a bind
 * mount: whiteout devices of that single layer stay hidden, and there is one
 * code path). Lower dirs are passed relative to `cwd` (the mount's state
 * dir) to stay far below the 4096-byte option limit; mount(2) resolves them
 * against the mounting process's cwd, so `mount` runs with that cwd.
 *
 * Not here: the layers themselves (layers/), FUSE (fuse/).
 */
import { spawn } from "node:child_process";
import { SociError } from "../../core-wasm/src/errors.ts";
import { isMountpoint } from "../fuse/mod.ts";

/** The mount(2) data limit is one page. */
const MAX_OPTIONS = 4096;

function run(cmd: string, args: string[], cwd?: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], ...(cwd ? { cwd } : {}) });
    let output = "";
    p.stdout.on("data", (c) => (output += c));
    p.stderr.on("data", (c) => (output += c));
    p.once("error", (e) => resolve({ code: null, output: e.message }));
    p.once("close", (code) => resolve({ code, output: output.trim() }));
  });
}

/**
 * Mounts overlay at `target` with `lowers` (relative to `cwd`, top first; at
 * least two). Throws SociError with mount's output on failure.
 */
export async function mountOverlay(target: string, lowers: string[], cwd: string): Promise<void> {
  if (lowers.length < 2) throw new RangeError("overlay needs at least two lower dirs");
  const options = `ro,lowerdir=${lowers.join(":")}`;
  if (options.length >= MAX_OPTIONS) {
    throw new SociError(`Cannot mount overlay at "${target}": ${lowers.length} layers make a ${options.length}-byte option string (limit ${MAX_OPTIONS})`);
  }
  const r = await run("mount", ["-t", "overlay", "overlay", "-o", options, target], cwd);
  if (r.code !== 0) {
    throw new SociError(`Cannot mount overlay at "${target}": mount exited ${r.code}: ${r.output}`, {
      hint: "Mounting needs root and overlayfs (modprobe overlay); the target must be a directory",
    });
  }
}

/** Unmounts the overlay at `target` (lazily when busy). No-op when it is not a mount point. */
export async function unmountOverlay(target: string): Promise<void> {
  if (!isMountpoint(target)) return;
  const first = await run("umount", [target]);
  if (first.code === 0 || !isMountpoint(target)) return;
  const lazy = await run("umount", ["-l", target]);
  if (lazy.code === 0 || !isMountpoint(target)) return;
  throw new SociError(`Cannot unmount "${target}": ${first.output}; ${lazy.output}`, { hint: `Run: umount -l ${target}` });
}
