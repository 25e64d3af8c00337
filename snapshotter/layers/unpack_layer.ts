/**
 * Local unpack of one layer (snapshotter §5 step 5): the blob is streamed
 * from its source (registry or layout) and checked against its digest and
 * size while it is decompressed (gzip: node:zlib; zstd: the `zstd` tool;
 * plain tar as is) into a temp tar file; only a blob that verified to its
 * last byte is listed and extracted (`_extract.ts`: safe names, whiteouts in
 * overlay form). The result is built in `<dest>.tmp-<random>/fs` and renamed
 * to `dest`, so `dest` exists only complete; an existing `dest` is reused.
 * With `diffId` (the image config's ID for the layer), the tar written is
 * also hashed and must match it, as containerd checks when it unpacks.
 *
 * Not here: the lazy path (layer_manager.ts), reading the image config
 * (resolve_image.ts).
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, rename, rm, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { FailedPreconditionError, FormatError, SociError } from "../../core-wasm/src/errors.ts";
import type { Descriptor } from "../../core-wasm/src/oci/mod.ts";
import { extractTar, listTar, type ExtractSummary } from "./_extract.ts";

export interface UnpackResult {
  dir: string;
  /** True when `dir` already held this layer. */
  reused: boolean;
  summary?: ExtractSummary;
}

export interface UnpackOptions {
  privileged?: boolean;
  log?: (line: string) => void;
  /** Called with the compressed bytes received so far. */
  onProgress?: (compressedBytes: number) => void;
  /** `sha256:…` the uncompressed tar must hash to (the config's diff ID); unchecked when absent. */
  diffId?: string;
}

type Compression = "gzip" | "zstd" | "none";

export function compressionOf(mediaType: string): Compression {
  if (/(\+|\.)gzip$/.test(mediaType)) return "gzip";
  if (/(\+|\.)zstd$/.test(mediaType)) return "zstd";
  if (/\.tar$/.test(mediaType) || /diff\.tar$/.test(mediaType)) return "none";
  throw new FailedPreconditionError(`Cannot unpack layer: media type ${JSON.stringify(mediaType)} is not a tar layer`);
}

function zstdStream(): Transform & { done: Promise<void> } {
  const p = spawn("zstd", ["-d", "-c", "-q"], { stdio: ["pipe", "pipe", "pipe"] });
  let err = "";
  p.stderr.on("data", (c) => (err += c));
  const t = new Transform({
    transform(chunk, _enc, cb) {
      if (!p.stdin.write(chunk)) p.stdin.once("drain", () => cb());
      else cb();
    },
    flush(cb) {
      p.stdin.end();
      p.once("close", (code) => cb(code === 0 ? null : new SociError(`Cannot decompress zstd layer: zstd exited ${code}: ${err.trim()}`)));
    },
  }) as Transform & { done: Promise<void> };
  p.stdout.on("data", (c) => t.push(c));
  p.once("error", (e) => t.destroy(new SociError(`Cannot decompress zstd layer: ${e.message}`, { cause: e, hint: "Install zstd" })));
  t.once("close", () => p.kill());
  return t;
}

/**
 * Unpacks `layer` (bytes from `blob`, which must verify digest and size as
 * it ends — `ImageSource.openBlob` does) into `dest`. Resolves when `dest`
 * holds the complete layer. Throws FormatError for a blob that does not match
 * its descriptor, a malformed or hostile tar; SociError for tool failures.
 * Nothing is left at `dest` or beside it on failure.
 */
export async function unpackLayer(layer: Descriptor, blob: AsyncIterable<Uint8Array>, dest: string, opts: UnpackOptions = {}): Promise<UnpackResult> {
  if (await stat(dest).catch(() => null)) return { dir: dest, reused: true };
  const compression = compressionOf(layer.mediaType);
  const work = join(dirname(dest), `.tmp-${randomBytes(6).toString("hex")}`);
  await mkdir(work, { recursive: true, mode: 0o700 });
  try {
    const tarPath = join(work, "layer.tar");
    let received = 0;
    const counted = Readable.from(
      (async function* () {
        for await (const c of blob) {
          received += c.length;
          opts.onProgress?.(received);
          yield c;
        }
      })(),
    );
    const out = createWriteStream(tarPath);
    const tarHash = createHash("sha256");
    const hashed = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        tarHash.update(chunk);
        cb(null, chunk);
      },
    });
    if (compression === "gzip") await pipeline(counted, createGunzip(), hashed, out);
    else if (compression === "zstd") await pipeline(counted, zstdStream(), hashed, out);
    else await pipeline(counted, hashed, out);
    const tarDigest = `sha256:${tarHash.digest("hex")}`;
    if (opts.diffId !== undefined && tarDigest !== opts.diffId) {
      throw new FormatError(`Cannot unpack layer ${layer.digest}: its uncompressed content is ${tarDigest}, but the image config's diff ID for it is ${opts.diffId}`, { source: layer.digest }, {
        hint: "The image is inconsistent (its config does not describe this layer); rebuild or re-push it",
      });
    }
    const entries = await listTar(tarPath, layer.digest);
    const fs = join(work, "fs");
    await mkdir(fs, { mode: 0o755 });
    const summary = await extractTar(tarPath, entries, fs, { privileged: opts.privileged ?? process.getuid?.() === 0, source: layer.digest, log: opts.log });
    await rm(tarPath, { force: true });
    for (const s of summary.skipped) opts.log?.(`layer ${layer.digest}: skipped ${s}`);
    await rename(fs, dest).catch(async (e) => {
      if ((e as NodeJS.ErrnoException).code === "ENOTEMPTY" || (e as NodeJS.ErrnoException).code === "EEXIST") return; // another unpack won the race
      throw e;
    });
    return { dir: dest, reused: false, summary };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
