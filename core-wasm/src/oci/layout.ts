/**
 * OCI image layouts (`oci-layout`, `index.json`, `blobs/sha256/<hex>`):
 * `LayoutSource` reads one from a directory or an indexed tar; `OciLayoutWriter`
 * writes one into a directory.
 *
 * Root resolution (formats §8.10, plus skopeo's `:TAG`): with a tag, the
 * `index.json` entry whose `org.opencontainers.image.ref.name` equals it;
 * otherwise a single entry is the image (an index entry is followed one level,
 * and reduced to its present entries if some are missing), and several
 * entries make `index.json` itself the list, reduced to the entries whose
 * blobs are present (one remaining manifest is used directly).
 *
 * Writing (STYLE §9 ex. 7): each blob goes to a `.tmp-*` file in
 * `blobs/sha256/`, is checked against digest and size while it is written,
 * synced and renamed to its name; a present blob is skipped. `index.json` is
 * replaced atomically on `commit` only, so a failed conversion leaves the old
 * one. Opening a layout for writing removes temp files a crash left behind.
 * `OciLayoutWriter.create` (image destinations) is staged: a directory that
 * does not exist yet is written as a `.tmp-*` sibling and renamed into place
 * on `commit`, so a failed or killed conversion leaves no output path (the
 * next writer of that path removes a killed one's staging directory); into an
 * existing layout, `abort` removes the blobs this writer added.
 *
 * Not here: archives (archive.ts).
 */
import { constants as fsConstants } from "node:fs";
import { copyFile, link, mkdir, open, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { Sha256, sha256Digest, utf8 } from "../bytes/mod.ts";
import { FormatError, NotFoundError } from "../errors.ts";
import { removeStaleStaging, removeStrayTemps, stagingPathFor, tempPathFor, writeFileAtomic } from "./atomic_file.ts";
import { encodeIndex } from "./go_json.ts";
import { verifyChunks, type BlobLocation, type ImageRoot, type ImageSink, type ImageSource, type OpenBlobOptions, type PutBlobOptions } from "./image_source.ts";
import { DirFiles, fileRange, type LayoutFiles } from "./_layout_files.ts";
import { ANNOTATION_REF_NAME, isIndexMediaType, isImageManifestMediaType, MEDIA_TYPE_OCI_INDEX } from "./media_types.ts";
import { MAX_MANIFEST_SIZE, parseIndex, parseJsonObject, sniffManifestKind, type Descriptor, type Index } from "./model.ts";

export const OCI_LAYOUT_FILE = "oci-layout";
export const OCI_LAYOUT_BYTES = utf8('{"imageLayoutVersion":"1.0.0"}');
const SHA256_RE = /^sha256:([0-9a-f]{64})$/;

/** `blobs/sha256/<hex>` for a sha256 digest; FormatError for anything else (no path tricks). */
export function blobPath(digest: string): string {
  const m = SHA256_RE.exec(digest);
  if (!m) throw new FormatError(`Cannot use digest ${JSON.stringify(digest)}: only sha256:<64 lowercase hex> is supported`);
  return `blobs/sha256/${m[1]}`;
}

/** An image source over layout files (a directory or an indexed archive). */
export class LayoutSource implements ImageSource {
  constructor(readonly name: string, protected readonly files: LayoutFiles, protected readonly tag?: string) {}

  /** A layout directory; FormatError when `oci-layout`/`index.json` are missing or wrong. */
  static async openDir(dir: string, tag?: string): Promise<LayoutSource> {
    const src = new LayoutSource(`oci:${dir}${tag ? ":" + tag : ""}`, new DirFiles(dir), tag);
    await src.checkLayout();
    return src;
  }

  async checkLayout(): Promise<void> {
    if ((await this.files.size(OCI_LAYOUT_FILE)) === null) {
      throw new NotFoundError(`Cannot open OCI image layout ${this.files.where}: it has no ${OCI_LAYOUT_FILE} file`, {
        hint: "Pass the directory of an OCI image layout (skopeo copy … oci:DIR) or an oci-archive tar",
      });
    }
    const o = parseJsonObject(await this.files.read(OCI_LAYOUT_FILE, 4096), `${OCI_LAYOUT_FILE} of ${this.files.where}`);
    if (o.imageLayoutVersion !== "1.0.0") {
      throw new FormatError(`Cannot open OCI image layout ${this.files.where}: imageLayoutVersion is ${JSON.stringify(o.imageLayoutVersion)}, expected "1.0.0"`);
    }
  }

  /** The layout's `index.json`. */
  async readLayoutIndex(): Promise<Index> {
    const bytes = await this.files.read("index.json", MAX_MANIFEST_SIZE);
    return parseIndex(bytes, `index.json of ${this.files.where}`);
  }

  async hasBlob(digest: string): Promise<boolean> {
    if (!SHA256_RE.test(digest)) return false;
    return (await this.files.size(blobPath(digest))) !== null;
  }

  async readBlob(desc: Descriptor, maxSize = Number.MAX_SAFE_INTEGER): Promise<Uint8Array> {
    if (desc.size > maxSize) {
      throw new FormatError(`Cannot read blob ${desc.digest}: its descriptor size ${desc.size} is more than the limit of ${maxSize}`, { source: this.name });
    }
    const path = blobPath(desc.digest);
    const size = await this.files.size(path);
    if (size === null) throw new NotFoundError(`Cannot read blob ${desc.digest}: it is not in ${this.name}`);
    if (size !== desc.size) throw new FormatError(`Cannot read blob ${desc.digest}: it is ${size} bytes, its descriptor says ${desc.size}`, { source: this.name });
    const bytes = await this.files.read(path, maxSize);
    const got = sha256Digest(bytes);
    if (got !== desc.digest) throw new FormatError(`Cannot read blob ${desc.digest}: its content has digest ${got}`, { source: this.name });
    return bytes;
  }

  openBlob(desc: Descriptor, opts?: OpenBlobOptions): AsyncIterable<Uint8Array> {
    let path: string;
    try {
      path = blobPath(desc.digest);
    } catch (e) {
      return (async function* () {
        throw e;
      })();
    }
    const files = this.files;
    const name = this.name;
    return verifyChunks(
      (async function* () {
        if ((await files.size(path)) === null) throw new NotFoundError(`Cannot read blob ${desc.digest}: it is not in ${name}`);
        yield* files.stream(path);
      })(),
      desc,
      name,
      opts,
    );
  }

  async blobLocation(desc: Descriptor): Promise<BlobLocation | null> {
    if (!SHA256_RE.test(desc.digest)) return null;
    return this.files.location(blobPath(desc.digest));
  }

  async resolveRoot(): Promise<ImageRoot> {
    const top = await this.readLayoutIndex();
    let candidates = top.manifests;
    if (this.tag !== undefined) {
      candidates = candidates.filter((d) => d.annotations?.[ANNOTATION_REF_NAME] === this.tag);
      if (candidates.length === 0) {
        const tags = top.manifests.map((d) => d.annotations?.[ANNOTATION_REF_NAME]).filter((t): t is string => t !== undefined);
        throw new NotFoundError(`Cannot find tag ${JSON.stringify(this.tag)} in ${this.files.where}`, {
          hint: tags.length > 0 ? `Tags present: ${tags.map((t) => JSON.stringify(t)).join(", ")}` : "The layout has no tagged images; leave the tag out",
        });
      }
      candidates = candidates.slice(0, 1);
    }
    if (candidates.length === 1) {
      const root = candidates[0];
      if (!(await this.hasBlob(root.digest))) throw new NotFoundError(`Cannot open image ${root.digest}: its manifest is not in ${this.name}`);
      const bytes = await this.readBlob(root, MAX_MANIFEST_SIZE);
      const kind = await this.#kindOf(root, bytes);
      if (kind === "manifest") return { descriptor: root, bytes, kind, synthesized: false };
      const index = parseIndex(bytes, `image index ${root.digest}`);
      return this.#reduced(index, root, bytes);
    }
    return this.#reduced({ schemaVersion: 2, mediaType: MEDIA_TYPE_OCI_INDEX, manifests: candidates }, undefined, undefined);
  }

  async #kindOf(d: Descriptor, bytes: Uint8Array): Promise<"manifest" | "index"> {
    if (isIndexMediaType(d.mediaType)) return "index";
    if (isImageManifestMediaType(d.mediaType)) return "manifest";
    return sniffManifestKind(bytes, `manifest ${d.digest}`);
  }

  /** Drops entries whose blobs are missing (formats §8.10). */
  async #reduced(index: Index, original: Descriptor | undefined, originalBytes: Uint8Array | undefined): Promise<ImageRoot> {
    const present: Descriptor[] = [];
    for (const d of index.manifests) if (await this.hasBlob(d.digest)) present.push(d);
    if (original !== undefined && originalBytes !== undefined && present.length === index.manifests.length) {
      return { descriptor: original, bytes: originalBytes, kind: "index", synthesized: false };
    }
    if (present.length === 0) throw new NotFoundError(`Cannot open image in ${this.name}: none of its manifests are present`);
    if (present.length === 1 && !isIndexMediaType(present[0].mediaType)) {
      const bytes = await this.readBlob(present[0], MAX_MANIFEST_SIZE);
      if ((await this.#kindOf(present[0], bytes)) === "manifest") return { descriptor: present[0], bytes, kind: "manifest", synthesized: false };
    }
    const reduced: Index = { ...index, manifests: present };
    const bytes = encodeIndex(reduced);
    const descriptor: Descriptor = { mediaType: index.mediaType ?? MEDIA_TYPE_OCI_INDEX, digest: sha256Digest(bytes), size: bytes.length };
    return { descriptor, bytes, kind: "index", synthesized: true };
  }

  async close(): Promise<void> {}
}

/** Writes an OCI image layout into a directory (see the module header). */
export class OciLayoutWriter implements ImageSink {
  #root: { desc: Descriptor; tag?: string } | null = null;
  /** Staged writers only: the final directory (`dir` is the staging one until commit). */
  readonly #target: string | null;
  /** Blobs this writer renamed into place (removed again by `abort` when writing into an existing layout). */
  readonly #added: string[] = [];
  #tracking = false;
  private constructor(readonly dir: string, target: string | null = null) {
    this.#target = target;
  }

  /** Creates the directory and `oci-layout` if needed and removes stray temp files. */
  static async open(dir: string): Promise<OciLayoutWriter> {
    await mkdir(join(dir, "blobs", "sha256"), { recursive: true });
    await removeStrayTemps(dir);
    await removeStrayTemps(join(dir, "blobs", "sha256"));
    if ((await stat(join(dir, OCI_LAYOUT_FILE)).catch(() => null)) === null) await writeFileAtomic(join(dir, OCI_LAYOUT_FILE), OCI_LAYOUT_BYTES);
    return new OciLayoutWriter(dir);
  }

  /** A staged writer for an image destination (see the module header). */
  static async create(dir: string): Promise<OciLayoutWriter> {
    if ((await stat(dir).catch(() => null)) !== null) {
      const w = await OciLayoutWriter.open(dir);
      w.#tracking = true;
      return w;
    }
    await removeStaleStaging(dir);
    const stage = stagingPathFor(dir);
    try {
      await OciLayoutWriter.open(stage);
    } catch (e) {
      await rm(stage, { recursive: true, force: true });
      throw e;
    }
    return new OciLayoutWriter(stage, dir);
  }

  async hasBlob(digest: string): Promise<boolean> {
    if (!SHA256_RE.test(digest)) return false;
    const st = await stat(join(this.dir, blobPath(digest))).catch(() => null);
    return st !== null && st.isFile();
  }

  async putBlob(desc: Descriptor, data: Uint8Array | AsyncIterable<Uint8Array>, opts: PutBlobOptions = {}): Promise<void> {
    const target = join(this.dir, blobPath(desc.digest));
    const st = await stat(target).catch(() => null);
    if (st !== null && st.isFile() && st.size === desc.size) return; // content-addressed: already there
    const tmp = tempPathFor(target);
    try {
      const fh = await open(tmp, "wx", 0o644);
      try {
        // Verified earlier in this run: count the bytes, skip the second SHA-256 pass.
        const h = opts.verified === true ? null : new Sha256();
        let size = 0;
        const chunks = data instanceof Uint8Array ? [data] : data;
        for await (const c of chunks) {
          if (size + c.length > desc.size) throw new FormatError(`Cannot write blob ${desc.digest}: the data is longer than its size ${desc.size}`);
          h?.update(c);
          size += c.length;
          await fh.write(c);
        }
        if (size !== desc.size) throw new FormatError(`Cannot write blob ${desc.digest}: the data is ${size} bytes, expected ${desc.size}`);
        const got = h?.digest() ?? desc.digest;
        if (got !== desc.digest) throw new FormatError(`Cannot write blob ${desc.digest}: the data has digest ${got}`);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, target);
      if (this.#tracking) this.#added.push(target);
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
  }

  /**
   * A whole verified file is hard-linked in (same filesystem) or copied by the
   * kernel (copy_file_range/reflink via copyFile); anything else — a byte
   * range of an archive, bytes not verified in this run — goes through
   * `putBlob`, hashed unless verified.
   */
  async putBlobFrom(desc: Descriptor, from: BlobLocation, opts: PutBlobOptions = {}): Promise<void> {
    if (from.size !== desc.size) throw new FormatError(`Cannot write blob ${desc.digest}: the data is ${from.size} bytes, expected ${desc.size}`);
    const whole = from.offset === 0 && (await stat(from.path).catch(() => null))?.size === from.size;
    if (opts.verified !== true || !whole) return this.putBlob(desc, fileRange(from.path, from.offset, from.size), opts);
    const target = join(this.dir, blobPath(desc.digest));
    const st = await stat(target).catch(() => null);
    if (st !== null && st.isFile() && st.size === desc.size) return;
    const tmp = tempPathFor(target);
    try {
      try {
        await link(from.path, tmp);
      } catch {
        // Another filesystem, or links not allowed: a kernel-side copy, synced like a written blob.
        await copyFile(from.path, tmp, fsConstants.COPYFILE_FICLONE);
        const fh = await open(tmp, "r+");
        try {
          await fh.sync();
        } finally {
          await fh.close();
        }
      }
      const got = await stat(tmp);
      if (got.size !== desc.size) throw new FormatError(`Cannot write blob ${desc.digest}: the data is ${got.size} bytes, expected ${desc.size}`);
      await rename(tmp, target);
      if (this.#tracking) this.#added.push(target);
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
  }

  async setRoot(desc: Descriptor, tag?: string): Promise<void> {
    this.#root = tag === undefined ? { desc } : { desc, tag };
  }

  /**
   * Writes `index.json`: with a tag, the entry carrying that tag is replaced
   * (others kept); without, `index.json` lists only the root (formats §8.10).
   */
  async commit(): Promise<void> {
    if (this.#root === null) throw new TypeError("OciLayoutWriter.commit() before setRoot()");
    const { desc, tag } = this.#root;
    let manifests: Descriptor[] = [{ mediaType: desc.mediaType, digest: desc.digest, size: desc.size }];
    if (tag !== undefined) {
      const entry: Descriptor = { ...manifests[0], annotations: { [ANNOTATION_REF_NAME]: tag } };
      const old = await this.#readIndex();
      const i = old.findIndex((d) => d.annotations?.[ANNOTATION_REF_NAME] === tag);
      manifests = [...old];
      if (i >= 0) manifests[i] = entry;
      else manifests.push(entry);
    }
    await writeFileAtomic(join(this.dir, "index.json"), encodeIndex({ schemaVersion: 2, mediaType: MEDIA_TYPE_OCI_INDEX, manifests }));
    this.#added.length = 0;
    if (this.#target !== null) {
      try {
        await rename(this.dir, this.#target);
      } catch (e) {
        await rm(this.dir, { recursive: true, force: true });
        throw e;
      }
    }
  }

  async #readIndex(): Promise<Descriptor[]> {
    const path = join(this.dir, "index.json");
    const st = await stat(path).catch(() => null);
    if (st === null) return [];
    const fh = await open(path, "r");
    try {
      if (st.size > MAX_MANIFEST_SIZE) throw new FormatError(`Cannot read index.json of ${this.dir}: it is larger than ${MAX_MANIFEST_SIZE} bytes`);
      return parseIndex(new Uint8Array(await fh.readFile()), `index.json of ${this.dir}`).manifests;
    } finally {
      await fh.close();
    }
  }

  async abort(): Promise<void> {
    this.#root = null; // index.json is untouched
    if (this.#target !== null) await rm(this.dir, { recursive: true, force: true });
    for (const p of this.#added.splice(0)) await rm(p, { force: true });
  }
}

