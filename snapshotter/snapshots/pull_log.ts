/**
 * The per-image, per-layer record of which pull mode the remote path chose and
 * why (snapshotter §5): `lazy` (FUSE), `unpacked` (downloaded and unpacked by
 * the snapshotter) or `defer` (returned mounts; containerd applies the layer).
 * Kept in memory and written as `<root>/status.json` (temp + rename) on every
 * record and every `flushMs` for `soci snapshotter status`; byte figures of lazy
 * layers are filled in by the daemon from the layer manager when it writes.
 *
 * Not here: the decision (remote.ts).
 */
import { writeFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";

export type PullMode = "lazy" | "unpacked" | "defer";

export interface LayerRecord {
  digest: string;
  chainId: string;
  mode: PullMode;
  reason: string;
  /** Compressed bytes this snapshotter fetched for the layer (lazy: spans so far; unpacked: the blob). */
  bytesFetched: number;
  size: number;
  at: string;
  /** Lazy layers with a prefetch artifact: spans it listed that were present at mount, and what happened (filled by the daemon). */
  prefetchedSpans?: number;
  prefetch?: string;
}

export interface ImageRecord {
  ref: string;
  manifestDigest: string;
  sociIndex: string;
  namespace: string;
  layers: LayerRecord[];
}

export interface StatusDocument {
  pid: number;
  address: string;
  updatedAt: string;
  images: ImageRecord[];
}

export const STATUS_FILE = "status.json";

export class PullLog {
  readonly images = new Map<string, ImageRecord>();
  private dirty = false;
  private timer?: NodeJS.Timeout;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    readonly root: string,
    readonly address: string,
    private readonly refresh: (doc: StatusDocument) => void = () => {},
  ) {}

  record(image: Omit<ImageRecord, "layers">, layer: LayerRecord): void {
    let img = this.images.get(image.manifestDigest);
    if (img === undefined) this.images.set(image.manifestDigest, (img = { ...image, layers: [] }));
    img.sociIndex ||= image.sociIndex;
    const i = img.layers.findIndex((l) => l.digest === layer.digest);
    if (i >= 0) img.layers[i] = layer;
    else img.layers.push(layer);
    this.dirty = true;
    void this.flush();
  }

  document(): StatusDocument {
    const doc: StatusDocument = { pid: process.pid, address: this.address, updatedAt: new Date().toISOString(), images: [...this.images.values()].map((i) => ({ ...i, layers: i.layers.map((l) => ({ ...l })) })) };
    this.refresh(doc);
    return doc;
  }

  /** Writes the status file now (writes are queued one after another). */
  flush(): Promise<void> {
    const write = async () => {
      const path = join(this.root, STATUS_FILE);
      const tmp = `${path}.tmp-${process.pid}`;
      try {
        await writeFile(tmp, JSON.stringify(this.document(), null, 1) + "\n");
        await rename(tmp, path);
        this.dirty = false;
      } catch {
        // Status is advisory: a failed write is retried by the next flush.
        await rm(tmp, { force: true });
      }
    };
    this.writing = this.writing.then(write, write);
    return this.writing;
  }

  /** Rewrites the file every `flushMs` (always: lazy byte counts move without new records). */
  start(flushMs = 1000): void {
    this.timer = setInterval(() => void this.flush(), flushMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }

  get isDirty(): boolean {
    return this.dirty;
  }
}
