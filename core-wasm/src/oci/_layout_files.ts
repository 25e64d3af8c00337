/**
 * Read access to the files of an OCI image layout, wherever it lives: a
 * directory, or a tar (oci-archive, docker-archive) indexed once by the tar
 * walker so each member is read in place by byte range.
 *
 * Names are layout-relative with `/` separators (`index.json`,
 * `blobs/sha256/<hex>`); a leading `./` in an archive is dropped. Archive
 * symlinks and hardlinks to other members are followed (docker save uses
 * them for repeated layers).
 */
import { createReadStream } from "node:fs";
import { open, stat } from "node:fs/promises";
import { join } from "node:path";
import { displayText } from "../bytes/mod.ts";
import { FormatError, NotFoundError } from "../errors.ts";
import { TarWalker } from "../tar/mod.ts";

export interface LayoutFiles {
  /** Where the files are, for messages. */
  readonly where: string;
  /** Size of a regular file, or null when it does not exist. */
  size(name: string): Promise<number | null>;
  /** The whole file; NotFoundError when missing, FormatError when larger than `maxSize`. */
  read(name: string, maxSize: number): Promise<Uint8Array>;
  /** The file as chunks. */
  stream(name: string): AsyncIterable<Uint8Array>;
  /** Where a regular file's bytes lie on disk; null when it does not exist. */
  location(name: string): Promise<{ path: string; offset: number; size: number } | null>;
}

const CHUNK = 1 << 20;

/** `size` bytes of the file at `path` from `start`, as 1 MiB chunks (fresh buffers, owned by the caller). */
export async function* fileRange(path: string, start: number, size: number): AsyncGenerator<Uint8Array> {
  if (size === 0) return;
  for await (const c of createReadStream(path, { start, end: start + size - 1, highWaterMark: CHUNK })) {
    yield new Uint8Array((c as Buffer).buffer, (c as Buffer).byteOffset, (c as Buffer).byteLength);
  }
}

export class DirFiles implements LayoutFiles {
  constructor(readonly where: string) {}

  async size(name: string): Promise<number | null> {
    try {
      const st = await stat(join(this.where, name));
      return st.isFile() ? st.size : null;
    } catch {
      return null; // missing or unreadable: callers report "not found"
    }
  }

  async read(name: string, maxSize: number): Promise<Uint8Array> {
    const size = await this.size(name);
    if (size === null) throw new NotFoundError(`Cannot read ${JSON.stringify(name)}: it does not exist in ${this.where}`);
    if (size > maxSize) throw new FormatError(`Cannot read ${JSON.stringify(name)}: it is ${size} bytes, more than the limit of ${maxSize}`, { source: this.where });
    const fh = await open(join(this.where, name), "r");
    try {
      return new Uint8Array(await fh.readFile());
    } finally {
      await fh.close();
    }
  }

  async location(name: string): Promise<{ path: string; offset: number; size: number } | null> {
    const size = await this.size(name);
    return size === null ? null : { path: join(this.where, name), offset: 0, size };
  }

  stream(name: string): AsyncIterable<Uint8Array> {
    const path = join(this.where, name);
    return (async function* () {
      const st = await stat(path).catch(() => null);
      if (st === null || !st.isFile()) throw new NotFoundError(`Cannot read ${JSON.stringify(name)}: it does not exist`);
      yield* fileRange(path, 0, st.size);
    })();
  }
}

interface Member {
  typeflag: number;
  dataOffset: number;
  size: number;
  linkname: string;
}

function cleanName(name: string): string {
  let n = name;
  while (n.startsWith("./")) n = n.slice(2);
  return n.replace(/\/+$/, "");
}

/** The members of a tar file, indexed by one streaming pass. */
export class TarFiles implements LayoutFiles {
  readonly #members: Map<string, Member>;
  private constructor(readonly where: string, members: Map<string, Member>) {
    this.#members = members;
  }

  static async index(path: string): Promise<TarFiles> {
    const members = new Map<string, Member>();
    const walker = new TarWalker({
      source: path,
      onEntry: (e) => {
        const name = cleanName(displayText(e.name));
        members.set(name, { typeflag: e.typeflag, dataOffset: e.dataOffset, size: e.physicalSize, linkname: displayText(e.linkname) });
      },
    });
    let off = 0;
    try {
      for await (const c of createReadStream(path, { highWaterMark: CHUNK })) {
        if (walker.done) break;
        const u = new Uint8Array((c as Buffer).buffer, (c as Buffer).byteOffset, (c as Buffer).byteLength);
        walker.push(u, off);
        off += u.length;
      }
      if (!walker.done) walker.finish();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") throw new NotFoundError(`Cannot open archive ${JSON.stringify(path)}: it does not exist`, { cause: e });
      if (e instanceof FormatError) throw new FormatError(`Cannot read archive ${JSON.stringify(path)}: not a valid tar file`, {}, { cause: e });
      throw e;
    }
    return new TarFiles(path, members);
  }

  /** Follows hard and symbolic links (at most 8 hops) to a regular member. */
  #resolve(name: string): Member | null {
    let n = cleanName(name);
    for (let hop = 0; hop < 8; hop++) {
      const m = this.#members.get(n);
      if (m === undefined) return null;
      if (m.typeflag === 0x30 || m.typeflag === 0x37) return m;
      if (m.typeflag === 0x31) n = cleanName(m.linkname);
      else if (m.typeflag === 0x32) {
        const base = n.includes("/") ? n.slice(0, n.lastIndexOf("/") + 1) : "";
        n = cleanName(m.linkname.startsWith("/") ? m.linkname.slice(1) : normalizeJoin(base, m.linkname));
      } else return null;
    }
    return null;
  }

  async size(name: string): Promise<number | null> {
    return this.#resolve(name)?.size ?? null;
  }

  async read(name: string, maxSize: number): Promise<Uint8Array> {
    const m = this.#resolve(name);
    if (m === null) throw new NotFoundError(`Cannot read ${JSON.stringify(name)}: it is not in archive ${this.where}`);
    if (m.size > maxSize) throw new FormatError(`Cannot read ${JSON.stringify(name)}: it is ${m.size} bytes, more than the limit of ${maxSize}`, { source: this.where });
    const fh = await open(this.where, "r");
    try {
      const out = new Uint8Array(m.size);
      let got = 0;
      while (got < m.size) {
        const { bytesRead } = await fh.read(out, got, m.size - got, m.dataOffset + got);
        if (bytesRead === 0) throw new FormatError(`Cannot read ${JSON.stringify(name)}: the archive is truncated`, { source: this.where });
        got += bytesRead;
      }
      return out;
    } finally {
      await fh.close();
    }
  }

  async location(name: string): Promise<{ path: string; offset: number; size: number } | null> {
    const m = this.#resolve(name);
    return m === null ? null : { path: this.where, offset: m.dataOffset, size: m.size };
  }

  stream(name: string): AsyncIterable<Uint8Array> {
    const m = this.#resolve(name);
    if (m === null) {
      return (async function* (where: string) {
        throw new NotFoundError(`Cannot read ${JSON.stringify(name)}: it is not in archive ${where}`);
      })(this.where);
    }
    return fileRange(this.where, m.dataOffset, m.size);
  }
}

function normalizeJoin(base: string, rel: string): string {
  const out: string[] = [];
  for (const part of (base + rel).split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") out.pop();
    else out.push(part);
  }
  return out.join("/");
}
