/**
 * Fixture layers for the layerfs tests: builds (or finds cached) fixture
 * images with scripts/make_fixtures.sh, reads each layer blob from its OCI
 * layout, decompresses it to the tar (gzip variants with node:zlib, zstd with
 * the `zstd` tool), builds its TOC with `buildZtoc` (gzip layers from the blob
 * itself, others from the tar as an uncompressed layer; `upstreamCompat` so
 * layers our converter would skip — a directory with a size, PAX sparse files
 * — still get a TOC), and offers a `LayerReader` over the tar bytes that
 * counts its calls. Async child processes only, so it is safe next to an
 * in-process FUSE server.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { buildZtoc, type TocEntry } from "../../core-wasm/src/ztoc/mod.ts";
import type { LayerReader } from "../../snapshotter/layerfs/mod.ts";

const ROOT = process.env.SOCI_REPO_ROOT ?? process.cwd();
export const IMAGES_DIR = join(ROOT, ".build", "fixtures", "images");

export interface FixtureLayer {
  image: string;
  index: number;
  digest: string;
  compression: string;
  note: string;
  blobPath: string;
  /** The uncompressed tar. */
  tar: Uint8Array;
  toc: TocEntry[];
  warnings: string[];
}

function run(cmd: string, args: string[], timeoutMs = 20 * 60_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd: ROOT, encoding: "buffer", maxBuffer: 1 << 30, timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(" ")} failed: ${err.message}\n${stderr.toString()}`));
      else resolve(stdout);
    });
  });
}

/** Runs scripts/make_fixtures.sh for `names` (cached: fast when already built). */
export async function ensureFixtureImages(names: string[]): Promise<void> {
  await run("bash", [join(ROOT, "scripts", "make_fixtures.sh"), ...names]);
}

interface LayerFacts { digest: string; compression?: string | null; note?: string }

/** The first manifest's layers of `image`, decompressed, each with its TOC. */
export async function loadFixtureLayers(image: string): Promise<FixtureLayer[]> {
  const facts = JSON.parse(readFileSync(join(IMAGES_DIR, "fixtures.json"), "utf8")) as {
    images: Record<string, { layout: string; manifests: { layers: LayerFacts[] }[] }>;
  };
  const im = facts.images[image];
  if (im === undefined) throw new Error(`fixture image ${image} is not in fixtures.json`);
  const out: FixtureLayer[] = [];
  for (const [index, l] of im.manifests[0].layers.entries()) {
    const blobPath = join(IMAGES_DIR, im.layout, "blobs", "sha256", l.digest.slice("sha256:".length));
    const blob = new Uint8Array(readFileSync(blobPath));
    const compression = l.compression ?? "none";
    const isGzip = compression.startsWith("gzip") || compression.startsWith("pigz");
    const tar = isGzip ? new Uint8Array(gunzipSync(blob)) : compression === "zstd" ? new Uint8Array(await run("zstd", ["-dc", blobPath])) : blob;
    const built = await buildZtoc((async function* () { yield isGzip ? blob : tar; })(), {
      compression: isGzip ? "gzip" : "uncompressed", spanSize: 4 << 20, buildToolIdentifier: "soci-ts test",
      source: l.digest, upstreamCompat: true,
    });
    out.push({ image, index, digest: l.digest, compression, note: l.note ?? "", blobPath, tar, toc: built.ztoc.toc, warnings: built.warnings });
  }
  return out;
}

/** A `LayerReader` over uncompressed bytes; records every call. */
export class BytesLayerReader implements LayerReader {
  readonly calls: { offset: number; length: number }[] = [];
  fail: Error | null = null;

  constructor(readonly bytes: Uint8Array) {}

  read(uncompressedOffset: number, length: number): Promise<Uint8Array> {
    this.calls.push({ offset: uncompressedOffset, length });
    if (this.fail) return Promise.reject(this.fail);
    if (uncompressedOffset < 0 || uncompressedOffset + length > this.bytes.length) {
      return Promise.reject(new RangeError(`read [${uncompressedOffset}, +${length}) beyond the ${this.bytes.length}-byte layer`));
    }
    return Promise.resolve(this.bytes.subarray(uncompressedOffset, uncompressedOffset + length));
  }
}
