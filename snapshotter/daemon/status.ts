/**
 * `soci snapshotter status`: reads the daemon's `<root>/status.json`
 * (pull_log.ts) and says whether the daemon that wrote it still runs.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { NotFoundError } from "../../core-wasm/src/errors.ts";
import { STATUS_FILE, type StatusDocument } from "../snapshots/mod.ts";

export async function readSnapshotterStatus(root: string): Promise<StatusDocument & { running: boolean }> {
  let text: string;
  try {
    text = await readFile(join(root, STATUS_FILE), "utf8");
  } catch (e) {
    throw new NotFoundError(`Cannot read snapshotter status in ${JSON.stringify(root)}: ${(e as Error).message}`, { cause: e, hint: "Start the snapshotter with this --root first" });
  }
  const doc = JSON.parse(text) as StatusDocument;
  let running = false;
  try {
    process.kill(doc.pid, 0);
    running = true;
  } catch {
    running = false;
  }
  return { ...doc, running };
}
