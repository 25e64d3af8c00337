/**
 * The two doors every image travels through: `ImageSource` (read a root,
 * manifests and blobs) and `ImageSink` (write verified blobs, then a root).
 * OCI layouts, archives and, later, a registry client implement them, so the
 * convert logic never knows where bytes live.
 *
 * Everything read is checked against its descriptor: `readBlob` before it
 * returns, `openBlob` as the last chunk is delivered (a mismatch throws from
 * the iteration, so a consumer that reached the end has verified bytes).
 * A consumer that hashes the blob anyway (the zTOC builder) may open it with
 * `{ verify: false }`: sizes are still checked, the digest is then the
 * consumer's job — one SHA-256 pass per blob instead of two.
 *
 * Local sources may say where a blob's bytes lie (`blobLocation`) and local
 * sinks may take a blob from there (`putBlobFrom`: a hard link or a kernel
 * copy), so a layer already verified in this run is not read and hashed again
 * on its way to the output.
 *
 * Not here: the implementations (layout.ts, archive.ts).
 */
import { concatBytes, Sha256 } from "../bytes/mod.ts";
import { FormatError } from "../errors.ts";
import type { Descriptor } from "./model.ts";

/** Options of `ImageSource.openBlob`. */
export interface OpenBlobOptions {
  /**
   * false: skip the digest check (sizes are still checked); the caller
   * hashes the bytes and must compare the digest itself. Default true.
   */
  verify?: boolean;
}

/** Options of `ImageSink.putBlob`/`putBlobFrom`. */
export interface PutBlobOptions {
  /**
   * The bytes were checked against `desc` earlier in this run: store them
   * without hashing again (sizes are still checked). Default false.
   */
  verified?: boolean;
}

/** A blob stored as a byte range of a local file. */
export interface BlobLocation {
  path: string;
  offset: number;
  size: number;
}

/** The document an image location points at. */
export interface ImageRoot {
  /** Descriptor of the root document (its platform, when the location gave one). */
  descriptor: Descriptor;
  /** The root document bytes (digest and size match `descriptor`). */
  bytes: Uint8Array;
  kind: "manifest" | "index";
  /** True when the bytes were put together by the source (a reduced index), not read from a blob. */
  synthesized: boolean;
}

export interface ImageSource {
  /** For messages: the location as the user wrote it. */
  readonly name: string;
  /** The root document (formats §8.10 for layouts). NotFoundError when there is none (or no such tag). */
  resolveRoot(): Promise<ImageRoot>;
  /** True when the blob (or manifest) can be read. */
  hasBlob(digest: string): Promise<boolean>;
  /**
   * The whole blob, verified against `desc`. NotFoundError when missing,
   * FormatError when larger than `maxSize` (checked before reading) or when
   * digest/size differ.
   */
  readBlob(desc: Descriptor, maxSize?: number): Promise<Uint8Array>;
  /** The blob as chunks, verified at the end (see the module header). Chunks are owned by the caller. */
  openBlob(desc: Descriptor, opts?: OpenBlobOptions): AsyncIterable<Uint8Array>;
  /** Where the blob's bytes lie in a local file; null when not stored so (or absent). Optional. */
  blobLocation?(desc: Descriptor): Promise<BlobLocation | null>;
  close(): Promise<void>;
}

export interface ImageSink {
  hasBlob(digest: string): Promise<boolean>;
  /**
   * Stores a blob under `desc.digest` after checking digest and size; a blob
   * already present is skipped without reading `data`. FormatError on
   * mismatch; nothing partial is left behind.
   */
  putBlob(desc: Descriptor, data: Uint8Array | AsyncIterable<Uint8Array>, opts?: PutBlobOptions): Promise<void>;
  /**
   * Optional: stores a blob from a local file range, as `putBlob` would (a
   * layout may hard-link or copy it in the kernel when `verified`).
   */
  putBlobFrom?(desc: Descriptor, from: BlobLocation, opts?: PutBlobOptions): Promise<void>;
  /** Names the image the sink holds (written by `commit`); `tag` adds the ref-name annotation. */
  setRoot(desc: Descriptor, tag?: string): Promise<void>;
  /** Makes everything visible at once (index.json, or the archive renamed into place). */
  commit(): Promise<void>;
  /** Drops what `commit` would have published; safe to call after a failure. */
  abort(): Promise<void>;
}

/**
 * Wraps chunks so that the digest and size of `desc` are checked: too many
 * bytes fail as soon as they arrive, a short stream or a wrong digest at the
 * end. `source` names the blob's home in errors. With `verify: false` only
 * the sizes are checked.
 */
export async function* verifyChunks(chunks: AsyncIterable<Uint8Array>, desc: Descriptor, source: string, opts: OpenBlobOptions = {}): AsyncGenerator<Uint8Array> {
  if (opts.verify === false) {
    yield* checkSizes(chunks, desc, source);
    return;
  }
  const h = new Sha256();
  for await (const c of chunks) {
    if (h.size + c.length > desc.size) throw tooLong(desc, source);
    h.update(c);
    if (h.size === desc.size) checkEnd(h, desc, source);
    yield c;
  }
  if (h.size !== desc.size) throw wrongSize(desc, h.size, source);
  if (desc.size === 0) checkEnd(h, desc, source);
}

async function* checkSizes(chunks: AsyncIterable<Uint8Array>, desc: Descriptor, source: string): AsyncGenerator<Uint8Array> {
  let n = 0;
  for await (const c of chunks) {
    if (n + c.length > desc.size) throw tooLong(desc, source);
    n += c.length;
    yield c;
  }
  if (n !== desc.size) throw wrongSize(desc, n, source);
}

function tooLong(desc: Descriptor, source: string): FormatError {
  return new FormatError(`Cannot read blob ${desc.digest}: it is longer than its descriptor size ${desc.size}`, { source });
}

function wrongSize(desc: Descriptor, size: number, source: string): FormatError {
  return new FormatError(`Cannot read blob ${desc.digest}: it is ${size} bytes, its descriptor says ${desc.size}`, { source });
}

function checkEnd(h: Sha256, desc: Descriptor, source: string): void {
  const got = h.digest();
  if (got !== desc.digest) throw new FormatError(`Cannot read blob ${desc.digest}: its content has digest ${got}`, { source });
}

/** Collects chunks into one buffer. */
export async function collectChunks(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of chunks) parts.push(c);
  return concatBytes(parts);
}
