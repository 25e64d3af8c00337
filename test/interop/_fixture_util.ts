// Helpers for the fixture cross-checks (fixture_ztoc_test.ts) and the hostile
// layer tests: building/reading the fixture images (scripts/fixtures/), the
// independent tar listing oracle (tar_listing.py), GNU tar extraction, and
// re-implementations — from formats §4.1, §4.5, §5, §9.2 and RFC 1952, not
// from our own code — of what the zTOC must contain. ROOT, the fixture paths,
// the fixtures.json types and sha256 come from test/fakes/fixture_facts.ts,
// shared with the e2e helpers (test/e2e/_soci_cli.ts).
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { IMAGES_DIR, readFixtures, ROOT, type Fixtures } from "../fakes/fixture_facts.ts";
import zlib from "node:zlib";

export { IMAGES_DIR, readFixtures, ROOT, sha256 } from "../fakes/fixture_facts.ts";
export type { Fixtures, ImageFacts, LayerFacts, ManifestFacts } from "../fakes/fixture_facts.ts";
const MAKE_FIXTURES = join(ROOT, "scripts", "make_fixtures.sh");
const ORACLE = join(ROOT, "scripts", "fixtures", "tar_listing.py");

export const SYNTHETIC_IMAGES = ["sample", "tricky", "gnu-sparse", "big-layer", "multiarch", "docker-schema2"];
export const DEBIAN_IMAGES = ["debian-minbase", "debian-python"];

// ---------------------------------------------------------------- fixtures.json

/** Builds (or finds cached) fixture images with scripts/make_fixtures.sh; returns fixtures.json. */
export function ensureFixtures(names: string[]): Fixtures {
  if (names.length > 0) {
    execFileSync(MAKE_FIXTURES, names, { cwd: ROOT, stdio: ["ignore", "ignore", "inherit"], timeout: 20 * 60_000 });
  }
  return readFixtures();
}

export function debianImagesPresent(): string[] {
  return DEBIAN_IMAGES.filter((n) => existsSync(join(IMAGES_DIR, n, "index.json")));
}

export function blobPath(image: string, digest: string): string {
  return join(IMAGES_DIR, image, "blobs", "sha256", digest.slice("sha256:".length));
}

// ---------------------------------------------------------------- layer policy (formats §9.2)

export type LayerPolicy =
  | { kind: "gzip" }
  | { kind: "uncompressed" }
  | { kind: "skip"; reason: string }
  | { kind: "not-a-layer" };

const DOCKER_LAYER = /^application\/vnd\.docker\.image\.rootfs\.(foreign\.)?diff\.tar(\.(.+))?$/;
const OCI_LAYER = /^application\/vnd\.oci\.image\.layer\.(nondistributable\.)?v1\.tar((\+[^+]+)*)$/;

/** What formats §9.2 does with a layer of this media type (containerd's rules). */
export function layerPolicy(mediaType: string): LayerPolicy {
  const docker = DOCKER_LAYER.exec(mediaType);
  if (docker !== null) {
    const ext = docker[3];
    if (ext === undefined) return { kind: "uncompressed" }; // "unknown" compression, read as a plain tar
    if (ext === "gzip") return { kind: "gzip" };
    if (ext === "zstd") return { kind: "skip", reason: "zstd compression is not indexable" };
    return { kind: "skip", reason: `unsupported compression ${JSON.stringify(ext)}` };
  }
  const oci = OCI_LAYER.exec(mediaType);
  if (oci === null) return { kind: "not-a-layer" };
  const suffixes = oci[2].split("+").filter((s) => s !== "").sort();
  const last = suffixes.at(-1);
  if (last === undefined) {
    return oci[1] === undefined ? { kind: "uncompressed" } : { kind: "skip", reason: "non-distributable uncompressed layer" };
  }
  if (last === "gzip") return { kind: "gzip" };
  if (last === "zstd") return { kind: "skip", reason: "zstd compression is not indexable" };
  return { kind: "skip", reason: `unsupported compression ${JSON.stringify(last)}` };
}

// ---------------------------------------------------------------- the tar listing oracle

export interface OracleEntry {
  name: string;
  name_b64: string;
  type: string | null;
  typeflag: string;
  size: number;
  header_offset: number;
  data_offset: number;
  data_size: number;
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  linkname: string;
  linkname_b64: string;
  devmajor: number;
  devminor: number;
  mod_time: string;
  pax: Array<[string, string]>;
  sparse?: Array<[number, number]>;
  warnings?: string[];
}
export interface OracleListing {
  summary: { compression: string; gzip_members: number; uncompressed_size: number; diff_id: string; archive_size: number; entries: number };
  entries: OracleEntry[];
}

/** `tar_listing.py --full BLOB`. */
export function tarListing(path: string): OracleListing {
  const out = execFileSync("python3", [ORACLE, "--full", path], { maxBuffer: 1 << 30, timeout: 5 * 60_000 });
  return JSON.parse(out.toString("utf8")) as OracleListing;
}

export const b64 = (s: string): Buffer => Buffer.from(s, "base64");

/** Python's `bytes.decode("utf-8", "backslashreplace")`, to compare with the oracle's display strings. */
export function showBytes(b: Uint8Array): string {
  const strict = new TextDecoder("utf-8", { fatal: true });
  let out = "";
  let i = 0;
  while (i < b.length) {
    const c = b[i];
    const len = c < 0x80 ? 1 : c >= 0xc2 && c < 0xe0 ? 2 : c >= 0xe0 && c < 0xf0 ? 3 : c >= 0xf0 && c < 0xf5 ? 4 : 0;
    if (len > 0 && i + len <= b.length) {
      try {
        out += strict.decode(b.subarray(i, i + len));
        i += len;
        continue;
      } catch {
        // not a valid sequence: escape this byte
      }
    }
    out += "\\x" + c.toString(16).padStart(2, "0");
    i++;
  }
  return out;
}

// ---------------------------------------------------------------- blobs as streams

/** The blob in chunks of cycling, uneven sizes (so nothing depends on chunk boundaries). */
export async function* unevenChunks(b: Uint8Array, sizes: readonly number[] = [65521, 1 << 20, 7, 300_007]): AsyncIterable<Uint8Array> {
  let k = 0;
  for (let i = 0; i < b.length; k++) {
    const n = sizes[k % sizes.length];
    yield b.subarray(i, i + n);
    i += n;
  }
}


// ---------------------------------------------------------------- gzip facts (RFC 1952, formats §4)

/** Length of the gzip member header at `at` (FEXTRA, FNAME, FCOMMENT, FHCRC included). */
export function gzipHeaderLength(blob: Uint8Array, at = 0): number {
  assert.ok(blob[at] === 0x1f && blob[at + 1] === 0x8b && blob[at + 2] === 8, "gzip magic and CM 8");
  const flg = blob[at + 3];
  let p = at + 10;
  if (flg & 4) p += 2 + (blob[p] | (blob[p + 1] << 8));
  if (flg & 8) p = blob.indexOf(0, p) + 1;
  if (flg & 16) p = blob.indexOf(0, p) + 1;
  if (flg & 2) p += 2;
  return p - at;
}

export interface RawCheckpoint {
  in: number;
  out: number;
  bits: number;
  window: Uint8Array;
}

/** The gzip zinfo blob read per formats §4.1 (v2 layout only: we never write v1). */
export function parseGzipZinfo(z: Uint8Array): { spanSize: number; checkpoints: RawCheckpoint[] } {
  const dv = new DataView(z.buffer, z.byteOffset, z.byteLength);
  const n = dv.getInt32(0, true);
  assert.equal(z.length, 12 + 32785 * n, `zinfo blob length for ${n} checkpoints`);
  const spanSize = Number(dv.getBigInt64(4, true));
  const checkpoints: RawCheckpoint[] = [];
  for (let k = 0; k < n; k++) {
    const at = 12 + 32785 * k;
    checkpoints.push({
      in: Number(dv.getBigInt64(at, true)),
      out: Number(dv.getBigInt64(at + 8, true)),
      bits: z[at + 16],
      window: z.subarray(at + 17, at + 17 + 32768),
    });
  }
  return { spanSize, checkpoints };
}

export interface SpanRange {
  cStart: number;
  cEnd: number;
  uStart: number;
  uEnd: number;
}

/** formats §4.5: compressed start in−1 when bits≠0, end = next in (unadjusted) or the blob size; uncompressed ends at U. */
export function gzipSpanRanges(cps: readonly RawCheckpoint[], blobSize: number, archiveSize: number): SpanRange[] {
  return cps.map((cp, i) => ({
    cStart: cp.bits !== 0 ? cp.in - 1 : cp.in,
    cEnd: i + 1 < cps.length ? cps[i + 1].in : blobSize,
    uStart: cp.out,
    uEnd: i + 1 < cps.length ? cps[i + 1].out : archiveSize,
  }));
}

/** The 48-byte TarZinfo flatbuffer of formats §5, from the fixture `layer-a.tar` hex with our values filled in. */
export function expectedTarZinfo(spanSize: number, size: number): Uint8Array {
  const b = Buffer.from("14000000000000000000" + "0a001c0018000c0004000a000000" + "0000000000000000" + "0000000000000000" + "0000000002000000", "hex");
  assert.equal(b.length, 48);
  b.writeBigInt64LE(BigInt(size), 24);
  b.writeBigInt64LE(BigInt(spanSize), 32);
  return new Uint8Array(b);
}

/**
 * Inflates from a checkpoint with node:zlib alone (raw inflate, the window as
 * dictionary), for at most `compressedBytes` of input: an independent check
 * that (in, bits, window) really is a restart point. A `bits` ≠ 0 start is
 * realigned by shifting the bit stream (zlib's inflatePrime, which Node lacks).
 */
export function inflateFromCheckpoint(blob: Uint8Array, cp: RawCheckpoint, compressedBytes: number, maxOutput: number): Buffer {
  let input: Uint8Array;
  if (cp.bits === 0) {
    input = blob.subarray(cp.in, cp.in + compressedBytes);
  } else {
    const s = cp.in - 1;
    const r = 8 - cp.bits; // bits of byte in−1 that belong to the previous block
    const n = Math.min(compressedBytes, blob.length - s);
    input = new Uint8Array(n);
    for (let k = 0; k < n; k++) input[k] = ((blob[s + k] >> r) | ((s + k + 1 < blob.length ? blob[s + k + 1] : 0) << (8 - r))) & 0xff;
  }
  return zlib.inflateRawSync(input, {
    dictionary: cp.window,
    finishFlush: zlib.constants.Z_SYNC_FLUSH,
    maxOutputLength: maxOutput,
  });
}

// ---------------------------------------------------------------- TOC rules

/**
 * formats §2.5: per entry (sorted by offset), the derived tar header offset —
 * 0 first, then the previous data end rounded up to 512.
 */
export function derivedHeaderOffsets(entries: ReadonlyArray<{ offset: number; size: number }>): number[] {
  const order = entries.map((e, i) => i).sort((a, b) => entries[a].offset - entries[b].offset);
  const out = new Array<number>(entries.length);
  let next = 0;
  for (const i of order) {
    out[i] = next;
    next = Math.ceil((entries[i].offset + entries[i].size) / 512) * 512;
  }
  return out;
}

/** Strips leading "./" and "/" and trailing "/" (the consumer's path cleaning, formats §3.6). */
export function cleanName(b: Uint8Array): string {
  return Buffer.from(b).toString("latin1").replace(/^(\.\/|\/)+/, "").replace(/\/+$/, "");
}

// ---------------------------------------------------------------- GNU tar

export interface GnuTarExtract {
  /** Concatenated `tar -xO` output for every member matching one of the names, in archive order. */
  stdout: Buffer;
  /** Names GNU tar reported as not found (it names members differently from Go). */
  notFound: Set<number>;
}

/**
 * `tar -xO` of exactly these member names (raw bytes, passed NUL-separated
 * and verbatim: no wildcards, no unquoting, no directory recursion; `-P` so
 * absolute and `..` names are not rewritten or refused).
 */
export function gnuTarExtract(tarFile: string, names: readonly Uint8Array[], listFile: string): GnuTarExtract {
  writeFileSync(listFile, Buffer.concat(names.flatMap((n) => [Buffer.from(n), Buffer.alloc(1)])));
  const r = spawnSync("tar", [
    "-x", "-O", "-P", "--no-recursion", "--no-wildcards", "--no-unquote", "--quoting-style=literal",
    "--verbatim-files-from", "--null", "-T", listFile, "-f", tarFile,
  ], { maxBuffer: 2 ** 31 - 1, timeout: 5 * 60_000 });
  assert.equal(r.error, undefined, `tar: ${r.error}`);
  const stderr = r.stderr as Buffer;
  const notFound = new Set<number>();
  let explained = Buffer.from(stderr);
  names.forEach((n, i) => {
    const line = Buffer.concat([Buffer.from("tar: "), Buffer.from(n), Buffer.from(": Not found in archive\n")]);
    const at = explained.indexOf(line);
    if (at >= 0) {
      notFound.add(i);
      explained = Buffer.concat([explained.subarray(0, at), explained.subarray(at + line.length)]);
    }
  });
  const rest = explained.toString("latin1").split("\n").filter((l) =>
    l !== "" && !l.startsWith("tar: Ignoring unknown extended header keyword") && l !== "tar: Exiting with failure status due to previous errors"
  );
  assert.deepEqual(rest, [], "unexpected GNU tar messages");
  assert.equal(r.status, notFound.size > 0 ? 2 : 0, "GNU tar exit status");
  return { stdout: r.stdout as Buffer, notFound };
}

// ---------------------------------------------------------------- misc

/** `n` items spread evenly over `items` (deterministic), always including the first and last. */
export function sampleEvenly<T>(items: readonly T[], n: number): T[] {
  if (items.length <= n) return [...items];
  const out: T[] = [];
  for (let k = 0; k < n; k++) out.push(items[Math.round((k * (items.length - 1)) / (n - 1))]);
  return out;
}
