/**
 * A registry repository as an `ImageSource` and an `ImageSink` (oci's two
 * doors), so `convert`, `copy`, `pull` and `verify` treat a registry like a
 * layout (real-components §1.2, formats §7.4).
 *
 * Reading: the root is the manifest or index the reference names (tag, else
 * `latest`; a digest wins). Manifests are fetched through the manifests
 * endpoint (chosen by media type, or because the root listed the digest);
 * everything else streams from the blobs endpoint, resumed after drops and
 * verified at the end (blobs.ts). No blob is staged on disk.
 *
 * Writing, in the only order a registry accepts and so that a failure never
 * leaves a partial image tagged:
 *
 *   1. `putBlob` of a blob starts its upload in the background (at most
 *      `maxConcurrentUploads` at once): skipped when the repository has it,
 *      mounted from `mountFrom` repositories of the same registry, else
 *      streamed (chunked above 8 MiB) straight from the source's stream;
 *   2. `putBlob` of a manifest or index only keeps its bytes (they are small);
 *   3. `commit` waits for every upload, then PUTs the manifests by digest,
 *      children before parents (push_order.ts), and the root LAST — under the
 *      tag when there is one. Until that final PUT nothing new is tagged.
 *
 * An upload that must restart (a retryable failure mid-stream) needs the
 * bytes again: `reopen` gives a fresh stream; without it a single-use stream
 * fails clearly instead of being replayed.
 *
 * Not here: the HTTP operations (client.ts and below), what to copy (copy_image.ts).
 */
import { FormatError, NotFoundError, RegistryError, SociError } from "../errors.ts";
import {
  formatReference,
  isIndexMediaType,
  isManifestMediaType,
  MAX_MANIFEST_SIZE,
  parseIndex,
  sniffManifestKind,
  verifyChunks,
  type Descriptor,
  type ImageRoot,
  type ImageSink,
  type ImageSource,
  type Reference,
} from "../oci/mod.ts";
import type { Repository } from "./client.ts";
import { manifestReferences, pushOrder } from "./push_order.ts";
import { Limiter } from "./retry.ts";

const is404 = (e: unknown) => e instanceof RegistryError && e.details.status === 404;
const isManifestType = (mediaType: string) => isManifestMediaType(mediaType) || isIndexMediaType(mediaType);

/** The tag or digest a reference resolves through: digest, else tag, else `latest`. */
export function referenceTarget(ref: Reference): string {
  return ref.digest ?? ref.tag ?? "latest";
}

/** A counting semaphore whose slot is held for the life of a stream. */
class Slots {
  #free: number;
  #waiting: (() => void)[] = [];
  constructor(n: number) {
    this.#free = n;
  }
  async acquire(): Promise<void> {
    if (this.#free > 0) this.#free--;
    else await new Promise<void>((r) => this.#waiting.push(r));
  }
  release(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#free++;
  }
}

export interface RegistrySourceOptions {
  /** Blob streams open at once (default 3; `--max-concurrent-downloads`). */
  maxConcurrentDownloads?: number;
}

/** Reads one image from a registry repository (see the module header). */
export class RegistryImageSource implements ImageSource {
  readonly name: string;
  readonly #manifests = new Map<string, Promise<Uint8Array>>();
  readonly #known = new Set<string>();
  readonly #present = new Map<string, Promise<boolean>>();
  readonly #slots: Slots;

  constructor(readonly repo: Repository, readonly ref: Reference, opts: RegistrySourceOptions = {}) {
    this.name = formatReference(ref);
    this.#slots = new Slots(Math.max(1, opts.maxConcurrentDownloads ?? 3));
  }

  /**
   * The manifest or index the reference names. NotFoundError (cause: the
   * RegistryError) when the registry has no such tag or digest; RegistryError
   * for other failures.
   */
  async resolveRoot(): Promise<ImageRoot> {
    const target = referenceTarget(this.ref);
    let fetched;
    try {
      fetched = await this.repo.getManifest(target);
    } catch (e) {
      if (!is404(e)) throw e;
      throw new NotFoundError(`Cannot find image ${this.name}: the registry has no manifest ${JSON.stringify(target)}`, {
        hint: "Check the repository name and the tag or digest",
        cause: e,
      });
    }
    const { descriptor, bytes } = fetched;
    this.#remember(descriptor.digest, bytes);
    const kind = isIndexMediaType(descriptor.mediaType) ? "index" : isManifestMediaType(descriptor.mediaType) ? "manifest" : sniffManifestKind(bytes, `manifest ${descriptor.digest}`);
    if (kind === "index") {
      for (const d of parseIndex(bytes, `image index ${descriptor.digest}`).manifests) if (isManifestType(d.mediaType)) this.#known.add(d.digest);
    }
    return { descriptor, bytes, kind, synthesized: false };
  }

  #remember(digest: string, bytes: Uint8Array): void {
    this.#known.add(digest);
    this.#manifests.set(digest, Promise.resolve(bytes));
    this.#present.set(digest, Promise.resolve(true));
  }

  /** True when the repository has the blob or manifest (HEAD; answers are cached). */
  hasBlob(digest: string): Promise<boolean> {
    let p = this.#present.get(digest);
    if (p === undefined) {
      p = this.#probe(digest);
      p.catch(() => this.#present.delete(digest));
      this.#present.set(digest, p);
    }
    return p;
  }

  async #probe(digest: string): Promise<boolean> {
    const asManifest = async () => {
      try {
        await this.repo.resolve(digest);
        return true;
      } catch (e) {
        if (is404(e)) return false;
        throw e;
      }
    };
    if (this.#known.has(digest)) return asManifest();
    return (await this.repo.statBlob(digest)) !== undefined || asManifest();
  }

  #manifestBytes(desc: Descriptor): Promise<Uint8Array> {
    let p = this.#manifests.get(desc.digest);
    if (p === undefined) {
      p = this.repo.getManifest(desc.digest).then((m) => m.bytes);
      p.catch(() => this.#manifests.delete(desc.digest));
      this.#manifests.set(desc.digest, p);
    }
    return p;
  }

  #isManifest(desc: Descriptor): boolean {
    return isManifestType(desc.mediaType) || this.#known.has(desc.digest);
  }

  #notFound(desc: Descriptor, e: unknown): SociError {
    return new NotFoundError(`Cannot read blob ${desc.digest}: it is not in ${this.name}`, { cause: e });
  }

  async readBlob(desc: Descriptor, maxSize = MAX_MANIFEST_SIZE): Promise<Uint8Array> {
    if (desc.size > maxSize) {
      throw new FormatError(`Cannot read blob ${desc.digest}: its descriptor size ${desc.size} is more than the limit of ${maxSize}`, { source: this.name });
    }
    try {
      if (this.#isManifest(desc)) {
        const bytes = await this.#manifestBytes(desc);
        if (bytes.length !== desc.size) throw new FormatError(`Cannot read manifest ${desc.digest}: it is ${bytes.length} bytes, its descriptor says ${desc.size}`, { source: this.name });
        return bytes;
      }
      return await this.repo.readBlob(desc, maxSize);
    } catch (e) {
      throw is404(e) ? this.#notFound(desc, e) : e;
    }
  }

  openBlob(desc: Descriptor): AsyncIterable<Uint8Array> {
    if (this.#isManifest(desc)) {
      const self = this;
      return verifyChunks((async function* () { yield await self.readBlob(desc); })(), desc, this.name);
    }
    return this.#stream(desc);
  }

  async *#stream(desc: Descriptor): AsyncGenerator<Uint8Array> {
    await this.#slots.acquire();
    try {
      yield* this.repo.fetchBlob(desc);
    } catch (e) {
      throw is404(e) ? this.#notFound(desc, e) : e;
    } finally {
      this.#slots.release();
    }
  }

  async close(): Promise<void> {}
}

/** What the sink did with one item, for progress lines. */
export interface SinkEvent {
  kind: "blob" | "manifest" | "root";
  descriptor: Descriptor;
  /** blob: skipped (present), mounted or uploaded; manifest/root: pushed (root: under `tag`). */
  result: "exists" | "mounted" | "uploaded" | "pushed";
  tag?: string;
}

export interface RegistrySinkOptions {
  /** Repositories of the same registry that may hold the blobs (cross-repository mount). */
  mountFrom?: readonly string[];
  /** Uploads running at once (default 3; `--max-concurrent-uploads`). */
  maxConcurrentUploads?: number;
  /** A fresh stream of a blob, for restarting an upload after a retryable failure. */
  reopen?: (desc: Descriptor) => AsyncIterable<Uint8Array>;
  onEvent?: (e: SinkEvent) => void;
}

/** Writes one image into a registry repository (see the module header). */
export class RegistryImageSink implements ImageSink {
  readonly name: string;
  readonly #uploads = new Map<string, Promise<void>>();
  readonly #manifests = new Map<string, { desc: Descriptor; bytes: Uint8Array }>();
  readonly #limiter: Limiter;
  #root: { desc: Descriptor; tag?: string } | null = null;
  #error: unknown = undefined;
  #aborted = false;

  constructor(readonly repo: Repository, readonly ref: Reference, readonly options: RegistrySinkOptions = {}) {
    this.name = formatReference(ref);
    this.#limiter = new Limiter(Math.max(1, options.maxConcurrentUploads ?? 3));
  }

  async hasBlob(digest: string): Promise<boolean> {
    if (this.#uploads.has(digest) || this.#manifests.has(digest)) return true;
    return (await this.repo.statBlob(digest)) !== undefined;
  }

  /**
   * Manifests are kept for `commit`; blobs start uploading (see the module
   * header). Throws the first failed upload's error, so a caller stops early;
   * FormatError for a manifest whose bytes do not match `desc`.
   */
  async putBlob(desc: Descriptor, data: Uint8Array | AsyncIterable<Uint8Array>): Promise<void> {
    if (this.#error !== undefined) throw this.#error;
    if (isManifestType(desc.mediaType)) {
      if (this.#manifests.has(desc.digest)) return;
      const bytes = await collect(verifyChunks(data instanceof Uint8Array ? single(data) : data, desc, this.name), MAX_MANIFEST_SIZE, desc);
      this.#manifests.set(desc.digest, { desc, bytes });
      return;
    }
    if (this.#uploads.has(desc.digest)) return;
    const p = this.#limiter.run(() => this.#upload(desc, data));
    p.catch((e) => {
      this.#error ??= e;
    });
    this.#uploads.set(desc.digest, p);
  }

  async #upload(desc: Descriptor, data: Uint8Array | AsyncIterable<Uint8Array>): Promise<void> {
    if (this.#aborted || this.#error !== undefined) return;
    let opened = 0;
    const source = data instanceof Uint8Array ? data : () => {
      // Source streams verify themselves (ImageSource contract); the registry checks the digest again.
      if (opened++ === 0) return data;
      if (this.options.reopen === undefined) {
        throw new RegistryError(`Cannot push blob ${desc.digest} to ${this.name}: the upload failed and its source cannot be read again`, { diagnostics: [], retryable: false }, {
          hint: "Run the command again; blobs already uploaded are skipped",
        });
      }
      return this.options.reopen(desc);
    };
    const result = await this.repo.pushBlob(desc, source, { mountFrom: this.options.mountFrom ?? [] });
    this.options.onEvent?.({ kind: "blob", descriptor: desc, result });
  }

  async setRoot(desc: Descriptor, tag?: string): Promise<void> {
    const t = tag ?? this.ref.tag;
    this.#root = t === undefined ? { desc } : { desc, tag: t };
  }

  /**
   * Waits for the uploads, PUTs manifests children first, then the root (under
   * its tag) last. Throws the first failure; the tag is then untouched.
   */
  async commit(): Promise<void> {
    if (this.#root === null) throw new TypeError("RegistryImageSink.commit() before setRoot()");
    await Promise.allSettled(this.#uploads.values());
    if (this.#error !== undefined) throw this.#error;
    const root = this.#root;
    if (this.ref.digest !== undefined && this.ref.digest !== root.desc.digest) {
      throw new FormatError(`Cannot push image to ${this.name}: the image has digest ${root.desc.digest}`, {}, {
        hint: "Name the destination by tag, or leave the digest out",
      });
    }
    const rootItem = this.#manifests.get(root.desc.digest);
    if (rootItem === undefined) throw new TypeError(`RegistryImageSink.commit(): the root ${root.desc.digest} was never put`);
    const items = [...this.#manifests.values()]
      .filter((m) => m.desc.digest !== root.desc.digest)
      .map((m) => ({ descriptor: m.desc, references: manifestReferences(m.bytes), bytes: m.bytes }));
    for (const it of pushOrder(items)) {
      await this.repo.putManifest(it.bytes, it.descriptor.mediaType);
      this.options.onEvent?.({ kind: "manifest", descriptor: it.descriptor, result: "pushed" });
    }
    await this.repo.putManifest(rootItem.bytes, rootItem.desc.mediaType, root.tag);
    this.options.onEvent?.({ kind: "root", descriptor: rootItem.desc, result: "pushed", ...(root.tag !== undefined ? { tag: root.tag } : {}) });
  }

  /** Stops queued uploads and waits for running ones; nothing is tagged. */
  async abort(): Promise<void> {
    this.#aborted = true;
    this.#root = null;
    await Promise.allSettled(this.#uploads.values());
  }
}

async function* single(b: Uint8Array): AsyncGenerator<Uint8Array> {
  yield b;
}

async function collect(chunks: AsyncIterable<Uint8Array>, max: number, desc: Descriptor): Promise<Uint8Array> {
  if (desc.size > max) throw new FormatError(`Cannot push manifest ${desc.digest}: it is larger than ${max} bytes`);
  const out = new Uint8Array(desc.size);
  let n = 0;
  for await (const c of chunks) {
    out.set(c, n); // verifyChunks has already refused more than desc.size bytes
    n += c.length;
  }
  return out;
}

