/**
 * Build aside, rename into place, clean up on error (STYLE §7, §9 ex. 7):
 * `writeFileAtomic` writes a temp file beside the target, syncs it and renames
 * it over the target, so readers see the old or the new file, never a part.
 * Temp names start with `.tmp-` so an opener can remove strays a crash left.
 *
 * Not here: blob verification (layout.ts).
 */
import { randomBytes } from "node:crypto";
import { open, readdir, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import process from "node:process";

export const TEMP_PREFIX = ".tmp-";

/** A fresh temp path in the directory of `target`. */
export function tempPathFor(target: string): string {
  return join(dirname(target), `${TEMP_PREFIX}${randomBytes(6).toString("hex")}`);
}

/**
 * A staging path beside an image destination, `.tmp-<name>.<pid>.<random>`:
 * the pid lets a later writer of the same destination remove what a killed
 * one left (`removeStaleStaging`) without touching a live writer's.
 */
export function stagingPathFor(target: string): string {
  return join(dirname(target), `${TEMP_PREFIX}${basename(target)}.${process.pid}.${randomBytes(6).toString("hex")}`);
}

/** Removes staging files/directories for `target` whose writer process is gone. */
export async function removeStaleStaging(target: string): Promise<void> {
  const prefix = `${TEMP_PREFIX}${basename(target)}.`;
  let names: string[];
  try {
    names = await readdir(dirname(target));
  } catch {
    return; // no parent yet: nothing to clean
  }
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const m = /^(\d+)\.[0-9a-f]{12}$/.exec(name.slice(prefix.length));
    if (m === null || processAlive(Number(m[1]))) continue;
    await rm(join(dirname(target), name), { recursive: true, force: true });
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"; // exists, owned by someone else
  }
}

/** Replaces `target` with `bytes` atomically; `mode` applies to a new file. */
export async function writeFileAtomic(target: string, bytes: Uint8Array, mode = 0o644): Promise<void> {
  const tmp = tempPathFor(target);
  try {
    const fh = await open(tmp, "wx", mode);
    try {
      await fh.writeFile(bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, target);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/** Removes `.tmp-*` files left in `dir` by an interrupted writer; missing dir is fine. */
export async function removeStrayTemps(dir: string): Promise<number> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return 0; // nothing there yet
  }
  let n = 0;
  for (const name of names) {
    if (!name.startsWith(TEMP_PREFIX)) continue;
    await rm(join(dir, name), { force: true, recursive: true });
    n++;
  }
  return n;
}
