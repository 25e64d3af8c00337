/**
 * The CLI's local content store: an OCI image layout at `<root>/content`
 * holding zTOCs, prefetch artifacts, SOCI indexes and their `{}` config, plus the artifact
 * records at `<root>/artifacts.json` (artifact_records.ts). The root is
 * `--store`, else `$XDG_DATA_HOME/soci`, else `~/.local/share/soci`, created
 * with mode 0700.
 *
 * Crash safety: blobs are written through the layout writer (temp file,
 * verify, rename) before the records naming them; the records file and the
 * layout's `index.json` (which lists the stored SOCI indexes so the layout is
 * self-describing) are replaced atomically. A `kill -9` at any point leaves
 * either the old or the new records, maybe plus unreferenced complete blobs
 * and `.tmp-*` files; opening removes the temp files, and records whose
 * blobs are missing are ignored when read. Concurrent writers in several
 * processes are not serialised: the last record write wins.
 *
 * Not here: what goes into records (soci/store_records.ts).
 */
import { homedir } from "node:os";
import { mkdir, open, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { FormatError, NotFoundError } from "../errors.ts";
import {
  blobPath,
  encodeIndex,
  LayoutSource,
  MEDIA_TYPE_OCI_INDEX,
  MEDIA_TYPE_OCI_MANIFEST,
  OciLayoutWriter,
  removeStrayTemps,
  writeFileAtomic,
  type BlobLocation,
  type Descriptor,
  type ImageSource,
  type PutBlobOptions,
} from "../oci/mod.ts";
import { decodeRecords, encodeRecords, type IndexRecord, type PrefetchRecord, type Records, type ZtocRecord } from "./artifact_records.ts";

export const RECORDS_FILE = "artifacts.json";
export const CONTENT_DIR = "content";

/** The default store root from the environment (XDG base directories). */
export function defaultStoreRoot(env: Record<string, string | undefined> = process.env): string {
  if (env.XDG_DATA_HOME) return join(env.XDG_DATA_HOME, "soci");
  return join(env.HOME || homedir(), ".local", "share", "soci");
}

export interface IndexFilter {
  /** Only indexes recorded for this image ref. */
  imageRef?: string;
  /** Only these platforms (`os/arch[/variant]`). */
  platforms?: readonly string[];
  manifestDigest?: string;
}

export class LocalStore {
  readonly #writer: OciLayoutWriter;
  readonly #reader: LayoutSource;

  private constructor(readonly root: string, writer: OciLayoutWriter, reader: LayoutSource) {
    this.#writer = writer;
    this.#reader = reader;
  }

  /** Opens (creating if needed) the store at `root` (default: `defaultStoreRoot()`), cleaning stray temp files. */
  static async open(root: string = defaultStoreRoot()): Promise<LocalStore> {
    await mkdir(root, { recursive: true, mode: 0o700 });
    await removeStrayTemps(root);
    const content = join(root, CONTENT_DIR);
    const writer = await OciLayoutWriter.open(content);
    if ((await stat(join(content, "index.json")).catch(() => null)) === null) {
      await writeFileAtomic(join(content, "index.json"), encodeIndex({ schemaVersion: 2, mediaType: MEDIA_TYPE_OCI_INDEX, manifests: [] }));
    }
    return new LocalStore(root, writer, await LayoutSource.openDir(content));
  }

  /** The content layout as an image source (blob reads are verified). */
  get content(): ImageSource {
    return this.#reader;
  }

  hasBlob(digest: string): Promise<boolean> {
    return this.#writer.hasBlob(digest);
  }

  /** Stores a blob (verified; skipped if present). */
  putBlob(desc: Descriptor, data: Uint8Array | AsyncIterable<Uint8Array>, opts?: PutBlobOptions): Promise<void> {
    return this.#writer.putBlob(desc, data, opts);
  }

  /** Stores a blob from a local file (hard link or kernel copy when `verified`; skipped if present). */
  putBlobFrom(desc: Descriptor, from: BlobLocation, opts?: PutBlobOptions): Promise<void> {
    return this.#writer.putBlobFrom(desc, from, opts);
  }

  /** A stored blob whose size is known from the file; NotFoundError when absent. */
  async readBlob(digest: string, maxSize = 256 << 20): Promise<Uint8Array> {
    const st = await stat(join(this.root, CONTENT_DIR, blobPath(digest))).catch(() => null);
    if (st === null) throw new NotFoundError(`Cannot read ${digest}: it is not in the local store ${this.root}`);
    return this.#reader.readBlob({ mediaType: "", digest, size: st.size }, maxSize);
  }

  async readRecords(): Promise<Records> {
    const path = join(this.root, RECORDS_FILE);
    const st = await stat(path).catch(() => null);
    if (st === null) return { indexes: [], ztocs: [], prefetches: [] };
    const fh = await open(path, "r");
    try {
      return decodeRecords(new Uint8Array(await fh.readFile()));
    } catch (e) {
      if (e instanceof FormatError) {
        throw new FormatError(`Cannot read the records of the local store ${this.root}`, {}, { cause: e, hint: `Move ${path} aside; the blobs stay, their records are lost` });
      }
      throw e;
    } finally {
      await fh.close();
    }
  }

  async #writeRecords(r: Records): Promise<void> {
    // A prefetch record lives as long as the index listing it (replaced or removed).
    const live = new Set(r.indexes.map((x) => x.digest));
    r.prefetches = r.prefetches.filter((p) => live.has(p.indexDigest));
    await writeFileAtomic(join(this.root, RECORDS_FILE), encodeRecords(r), 0o600);
    const manifests: Descriptor[] = r.indexes.map((x) => ({ mediaType: MEDIA_TYPE_OCI_MANIFEST, digest: x.digest, size: x.size }));
    await writeFileAtomic(join(this.root, CONTENT_DIR, "index.json"), encodeIndex({ schemaVersion: 2, mediaType: MEDIA_TYPE_OCI_INDEX, manifests }));
  }

  /**
   * Adds index, zTOC and prefetch records (replacing records with the same
   * digest; an index record is also keyed by manifest digest + platform +
   * version, so re-creating replaces; a prefetch record by digest + layer +
   * index). Prefetch records of indexes no longer recorded are dropped. The
   * blobs must already be stored: NotFoundError otherwise.
   */
  async addRecords(add: { indexes?: IndexRecord[]; ztocs?: ZtocRecord[]; prefetches?: PrefetchRecord[] }): Promise<void> {
    for (const x of [...(add.indexes ?? []), ...(add.ztocs ?? []), ...(add.prefetches ?? [])]) {
      if (!(await this.hasBlob(x.digest))) throw new NotFoundError(`Cannot record ${x.digest}: its blob is not in the local store`);
    }
    const r = await this.readRecords();
    for (const z of add.ztocs ?? []) {
      r.ztocs = r.ztocs.filter((x) => !(x.digest === z.digest && x.layerDigest === z.layerDigest));
      r.ztocs.push(z);
    }
    for (const i of add.indexes ?? []) {
      r.indexes = r.indexes.filter((x) => x.digest !== i.digest && !(x.manifestDigest === i.manifestDigest && x.platform === i.platform && x.manifestVersion === i.manifestVersion && x.imageRef === i.imageRef));
      r.indexes.push(i);
    }
    for (const p of add.prefetches ?? []) {
      r.prefetches = r.prefetches.filter((x) => !(x.digest === p.digest && x.layerDigest === p.layerDigest && x.indexDigest === p.indexDigest));
      r.prefetches.push(p);
    }
    await this.#writeRecords(r);
  }

  /** Index records whose blobs exist, newest first. */
  async listIndexes(filter: IndexFilter = {}): Promise<IndexRecord[]> {
    const r = await this.readRecords();
    const out: IndexRecord[] = [];
    for (const x of r.indexes) {
      if (filter.imageRef !== undefined && x.imageRef !== filter.imageRef) continue;
      if (filter.manifestDigest !== undefined && x.manifestDigest !== filter.manifestDigest) continue;
      if (filter.platforms && filter.platforms.length > 0 && !filter.platforms.includes(x.platform)) continue;
      if (await this.hasBlob(x.digest)) out.push(x);
    }
    return out.sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0));
  }

  /** zTOC records whose blobs exist, newest first. */
  async listZtocs(filter: { ztocDigest?: string; layerDigest?: string; imageRef?: string } = {}): Promise<ZtocRecord[]> {
    const r = await this.readRecords();
    const out: ZtocRecord[] = [];
    for (const x of r.ztocs) {
      if (filter.ztocDigest !== undefined && x.digest !== filter.ztocDigest) continue;
      if (filter.layerDigest !== undefined && x.layerDigest !== filter.layerDigest) continue;
      if (filter.imageRef !== undefined && x.imageRef !== filter.imageRef) continue;
      if (await this.hasBlob(x.digest)) out.push(x);
    }
    return out.sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0));
  }

  /** Prefetch artifact records whose blobs exist, newest first. */
  async listPrefetches(filter: { digest?: string; layerDigest?: string } = {}): Promise<PrefetchRecord[]> {
    const r = await this.readRecords();
    const out: PrefetchRecord[] = [];
    for (const x of r.prefetches) {
      if (filter.digest !== undefined && x.digest !== filter.digest) continue;
      if (filter.layerDigest !== undefined && x.layerDigest !== filter.layerDigest) continue;
      if (await this.hasBlob(x.digest)) out.push(x);
    }
    return out.sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0));
  }

  /** A zTOC recorded for this layer and span size whose blob is present (formats §9.7), or null. */
  async findZtoc(layerDigest: string, spanSize: number): Promise<Uint8Array | null> {
    const hit = (await this.listZtocs({ layerDigest })).find((z) => z.spanSize === spanSize);
    return hit === undefined ? null : this.readBlob(hit.digest);
  }

  /**
   * Removes index records and their blobs; returns the digests removed.
   * NotFoundError for a digest with no index record (nothing is removed then).
   * The prefetch records of the removed indexes go with them; zTOC records
   * and blobs, and prefetch blobs, stay (as upstream keeps zTOCs).
   */
  async removeIndexes(digests: readonly string[]): Promise<string[]> {
    const r = await this.readRecords();
    for (const d of digests) if (!r.indexes.some((x) => x.digest === d)) throw new NotFoundError(`Cannot remove index ${d}: the local store has no such index`);
    const gone = new Set(digests);
    r.indexes = r.indexes.filter((x) => !gone.has(x.digest));
    await this.#writeRecords(r);
    for (const d of gone) await rm(join(this.root, CONTENT_DIR, blobPath(d)), { force: true });
    return [...gone];
  }
}
