/**
 * Image archives: reading `oci-archive` (a tar of an OCI layout) and
 * `docker-archive` (`docker save`), and writing `oci-archive`.
 *
 * Reading indexes the tar once (member offsets) and then reads members in
 * place by byte range, so layers are never copied out.
 *
 * A docker-archive is presented as one Docker schema-2 image: its manifest is
 * synthesised from `manifest.json` (config and layer digests computed from
 * the member bytes once at open; a layer starting with the gzip magic is
 * `…diff.tar.gzip`, otherwise `…diff.tar`) and encoded with the Go encoder,
 * so the same archive always gives the same manifest digest.
 *
 * Writing streams a tar to a `.tmp-*` file beside the target (headers, then
 * each blob as it is produced, hashed on the way; `index.json` last) and
 * renames it into place on commit; any failure removes the temp file.
 *
 * Not here: directories (layout.ts).
 */
import { open, rm, rename } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import { Sha256, sha256Digest } from "../bytes/mod.ts";
import { FormatError, NotFoundError } from "../errors.ts";
import { encodeTarHeader, tarPadding } from "../tar/mod.ts";
import { removeStaleStaging, stagingPathFor } from "./atomic_file.ts";
import { encodeIndex, encodeManifest } from "./go_json.ts";
import { verifyChunks, type BlobLocation, type ImageRoot, type ImageSink, type ImageSource, type OpenBlobOptions, type PutBlobOptions } from "./image_source.ts";
import { blobPath, LayoutSource, OCI_LAYOUT_BYTES, OCI_LAYOUT_FILE } from "./layout.ts";
import { fileRange, TarFiles } from "./_layout_files.ts";
import { ANNOTATION_REF_NAME, MEDIA_TYPE_DOCKER_CONFIG, MEDIA_TYPE_DOCKER_LAYER, MEDIA_TYPE_DOCKER_LAYER_GZIP, MEDIA_TYPE_DOCKER_MANIFEST, MEDIA_TYPE_OCI_INDEX } from "./media_types.ts";
import { MAX_CONFIG_SIZE, MAX_MANIFEST_SIZE, type Descriptor, type Manifest } from "./model.ts";

/** An `oci-archive:FILE[:TAG]` source. NotFoundError/FormatError as for layouts. */
export async function openOciArchive(path: string, tag?: string): Promise<LayoutSource> {
  const files = await TarFiles.index(path);
  const src = new LayoutSource(`oci-archive:${path}${tag ? ":" + tag : ""}`, files, tag);
  await src.checkLayout();
  return src;
}

/** A `docker-archive:FILE[:REF]` source (read only). */
export class DockerArchiveSource implements ImageSource {
  readonly #files: TarFiles;
  readonly #blobs: Map<string, string>;
  readonly #manifest: Uint8Array;
  readonly #manifestDesc: Descriptor;

  private constructor(readonly name: string, files: TarFiles, blobs: Map<string, string>, manifest: Uint8Array) {
    this.#files = files;
    this.#blobs = blobs;
    this.#manifest = manifest;
    this.#manifestDesc = { mediaType: MEDIA_TYPE_DOCKER_MANIFEST, digest: sha256Digest(manifest), size: manifest.length };
  }

  /**
   * Indexes the archive and synthesises the manifest. With several images in
   * `manifest.json`, `ref` must name one of their `RepoTags`. Throws
   * NotFoundError for a missing archive, image or member and FormatError for a
   * malformed `manifest.json`.
   */
  static async open(path: string, ref?: string): Promise<DockerArchiveSource> {
    const name = `docker-archive:${path}${ref ? ":" + ref : ""}`;
    const files = await TarFiles.index(path);
    if ((await files.size("manifest.json")) === null) {
      throw new NotFoundError(`Cannot open ${name}: it has no manifest.json`, { hint: "Pass a tarball written by `docker save`" });
    }
    const doc = `manifest.json of ${path}`;
    let list: unknown;
    try {
      list = JSON.parse(new TextDecoder().decode(await files.read("manifest.json", MAX_MANIFEST_SIZE)));
    } catch (e) {
      throw new FormatError(`Cannot parse ${doc}: not valid JSON`, {}, { cause: e });
    }
    if (!Array.isArray(list) || list.length === 0) throw new FormatError(`Cannot parse ${doc}: expected a non-empty list of images`);
    let image = list[0] as Record<string, unknown>;
    if (list.length > 1 || ref !== undefined) {
      const found = list.find((x) => Array.isArray((x as Record<string, unknown>)?.RepoTags) && ((x as Record<string, string[]>).RepoTags).some((t) => t === ref || t.endsWith("/" + ref)));
      if (found === undefined) {
        throw new NotFoundError(`Cannot find image ${JSON.stringify(ref ?? "")} in ${name}: the archive holds ${list.length} images`, { hint: "Append :REPO:TAG naming one of its RepoTags" });
      }
      image = found as Record<string, unknown>;
    }
    if (typeof image?.Config !== "string" || !Array.isArray(image.Layers) || image.Layers.some((l) => typeof l !== "string")) {
      throw new FormatError(`Cannot parse ${doc}: an image needs a string Config and a list of string Layers`);
    }
    const blobs = new Map<string, string>();
    const describe = async (member: string, mediaType: string): Promise<Descriptor> => {
      const h = new Sha256();
      let first: Uint8Array | null = null;
      for await (const c of files.stream(member)) {
        if (first === null && c.length > 0) first = c.subarray(0, 2);
        h.update(c);
      }
      const digest = h.digest();
      blobs.set(digest, member);
      const gz = first !== null && first.length === 2 && first[0] === 0x1f && first[1] === 0x8b;
      return { mediaType: mediaType === "layer" ? (gz ? MEDIA_TYPE_DOCKER_LAYER_GZIP : MEDIA_TYPE_DOCKER_LAYER) : mediaType, digest, size: h.size };
    };
    const config = await describe(image.Config, MEDIA_TYPE_DOCKER_CONFIG);
    const layers: Descriptor[] = [];
    for (const l of image.Layers as string[]) layers.push(await describe(l, "layer"));
    const m: Manifest = { schemaVersion: 2, mediaType: MEDIA_TYPE_DOCKER_MANIFEST, config, layers };
    return new DockerArchiveSource(name, files, blobs, encodeManifest(m));
  }

  async resolveRoot(): Promise<ImageRoot> {
    return { descriptor: this.#manifestDesc, bytes: this.#manifest, kind: "manifest", synthesized: true };
  }

  async hasBlob(digest: string): Promise<boolean> {
    return digest === this.#manifestDesc.digest || this.#blobs.has(digest);
  }

  async readBlob(desc: Descriptor, maxSize = MAX_CONFIG_SIZE): Promise<Uint8Array> {
    if (desc.digest === this.#manifestDesc.digest) return this.#manifest;
    const member = this.#member(desc);
    const bytes = await this.#files.read(member, maxSize);
    const got = sha256Digest(bytes);
    if (got !== desc.digest || bytes.length !== desc.size) throw new FormatError(`Cannot read blob ${desc.digest}: its content has digest ${got}`, { source: this.name });
    return bytes;
  }

  openBlob(desc: Descriptor, opts?: OpenBlobOptions): AsyncIterable<Uint8Array> {
    if (desc.digest === this.#manifestDesc.digest) {
      const m = this.#manifest;
      return verifyChunks((async function* () { yield m; })(), desc, this.name, opts);
    }
    let member: string;
    try {
      member = this.#member(desc);
    } catch (e) {
      return (async function* () { throw e; })();
    }
    return verifyChunks(this.#files.stream(member), desc, this.name, opts);
  }

  async blobLocation(desc: Descriptor): Promise<BlobLocation | null> {
    const member = this.#blobs.get(desc.digest);
    return member === undefined ? null : this.#files.location(member);
  }

  #member(desc: Descriptor): string {
    const m = this.#blobs.get(desc.digest);
    if (m === undefined) throw new NotFoundError(`Cannot read blob ${desc.digest}: it is not in ${this.name}`);
    return m;
  }

  async close(): Promise<void> {}
}

/** Streams an OCI layout as a tar into a temp file; `commit` renames it to `path`. */
export class OciArchiveWriter implements ImageSink {
  #fh: FileHandle | null;
  readonly #tmp: string;
  readonly #written = new Set<string>();
  #root: { desc: Descriptor; tag?: string } | null = null;
  #failed = false;

  private constructor(readonly path: string, tmp: string, fh: FileHandle) {
    this.#tmp = tmp;
    this.#fh = fh;
  }

  static async create(path: string): Promise<OciArchiveWriter> {
    await removeStaleStaging(path);
    const tmp = stagingPathFor(path);
    const fh = await open(tmp, "wx", 0o644);
    const w = new OciArchiveWriter(path, tmp, fh);
    await w.#member(OCI_LAYOUT_FILE, OCI_LAYOUT_BYTES);
    for (const dir of ["blobs/", "blobs/sha256/"]) await w.#write(encodeTarHeader({ name: dir, type: "dir", mode: 0o755 }));
    return w;
  }

  async #write(bytes: Uint8Array): Promise<void> {
    if (this.#fh === null) throw new TypeError("OciArchiveWriter used after commit() or abort()");
    await this.#fh.write(bytes);
  }

  async #member(name: string, data: Uint8Array): Promise<void> {
    await this.#write(encodeTarHeader({ name, type: "file", size: data.length, mode: 0o644 }));
    await this.#write(data);
    await this.#write(new Uint8Array(tarPadding(data.length)));
  }

  async hasBlob(digest: string): Promise<boolean> {
    return this.#written.has(digest);
  }

  /** A mismatch poisons the archive: the caller must `abort()` (the tar already holds the bytes). */
  async putBlob(desc: Descriptor, data: Uint8Array | AsyncIterable<Uint8Array>, opts: PutBlobOptions = {}): Promise<void> {
    if (this.#failed) throw new TypeError("OciArchiveWriter.putBlob() after a failed write");
    if (this.#written.has(desc.digest)) return;
    const name = blobPath(desc.digest);
    this.#failed = true;
    await this.#write(encodeTarHeader({ name, type: "file", size: desc.size, mode: 0o644 }));
    // Verified earlier in this run: count the bytes, skip the second SHA-256 pass.
    const h = opts.verified === true ? null : new Sha256();
    let size = 0;
    for await (const c of data instanceof Uint8Array ? [data] : data) {
      if (size + c.length > desc.size) throw new FormatError(`Cannot write blob ${desc.digest}: the data is longer than its size ${desc.size}`);
      h?.update(c);
      size += c.length;
      await this.#write(c);
    }
    if (size !== desc.size) throw new FormatError(`Cannot write blob ${desc.digest}: the data is ${size} bytes, expected ${desc.size}`);
    const got = h?.digest() ?? desc.digest;
    if (got !== desc.digest) throw new FormatError(`Cannot write blob ${desc.digest}: the data has digest ${got}`);
    await this.#write(new Uint8Array(tarPadding(desc.size)));
    this.#written.add(desc.digest);
    this.#failed = false;
  }

  /** Copies the range into the archive (hashed unless `verified`). */
  async putBlobFrom(desc: Descriptor, from: BlobLocation, opts: PutBlobOptions = {}): Promise<void> {
    if (from.size !== desc.size) throw new FormatError(`Cannot write blob ${desc.digest}: the data is ${from.size} bytes, expected ${desc.size}`);
    return this.putBlob(desc, fileRange(from.path, from.offset, from.size), opts);
  }

  async setRoot(desc: Descriptor, tag?: string): Promise<void> {
    this.#root = tag === undefined ? { desc } : { desc, tag };
  }

  async commit(): Promise<void> {
    if (this.#root === null) throw new TypeError("OciArchiveWriter.commit() before setRoot()");
    if (this.#failed) throw new TypeError("OciArchiveWriter.commit() after a failed write");
    const { desc, tag } = this.#root;
    const entry: Descriptor = { mediaType: desc.mediaType, digest: desc.digest, size: desc.size, ...(tag ? { annotations: { [ANNOTATION_REF_NAME]: tag } } : {}) };
    await this.#member("index.json", encodeIndex({ schemaVersion: 2, mediaType: MEDIA_TYPE_OCI_INDEX, manifests: [entry] }));
    await this.#write(new Uint8Array(1024));
    const fh = this.#fh!;
    this.#fh = null;
    try {
      await fh.sync();
      await fh.close();
      await rename(this.#tmp, this.path);
    } catch (e) {
      await rm(this.#tmp, { force: true });
      throw e;
    }
  }

  async abort(): Promise<void> {
    const fh = this.#fh;
    this.#fh = null;
    if (fh !== null) await fh.close().catch(() => undefined); // closing a handle we are discarding: nothing to report
    await rm(this.#tmp, { force: true });
  }
}

