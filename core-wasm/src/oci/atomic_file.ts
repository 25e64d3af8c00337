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
import { dirname, join } from "node:path";

export const TEMP_PREFIX = ".tmp-";

/** A fresh temp path in the directory of `target`. */
export function tempPathFor(target: string): string {
  return join(dirname(target), `${TEMP_PREFIX}${randomBytes(6).toString("hex")}`);
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
