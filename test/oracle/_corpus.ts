/**
 * The generated oracle corpus: gzip streams that exercise every block kind
 * and framing case (stored, fixed, Huffman-only, RLE, levels 1 and 9,
 * sync-flushed empty stored blocks, pigz, multi-member, empty and 1-byte
 * input) and the cached realistic layer (scripts/make_realistic_layer.sh).
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import zlib from "node:zlib";
import { xorshiftBytes } from "../fakes/pseudo_random.ts";

export const ROOT = process.env.SOCI_REPO_ROOT ?? process.cwd();
export const FIXTURES = join(ROOT, "test", "fixtures", "upstream");

/** Deterministic pseudo-random bytes (xorshift32). */
export const randomBytes = (n: number, seed: number): Uint8Array => xorshiftBytes(n, seed);

/** Mixed data: tar text, random, runs, short-period patterns. */
export function sampleData(): Uint8Array {
  const tar = zlib.gunzipSync(readFileSync(join(FIXTURES, "inputs", "layer-a.tar.gz")));
  const runs = new Uint8Array(70000);
  for (let i = 0; i < runs.length; i++) runs[i] = i % 5000 < 2500 ? 0x41 : (i % 7) + (i % 3);
  return Buffer.concat([tar, randomBytes(100000, 7), runs, tar.subarray(1000, 90000)]);
}

export function crc32(b: Uint8Array): number {
  let c = ~0;
  for (let i = 0; i < b.length; i++) {
    c ^= b[i];
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return ~c >>> 0;
}

/** A gzip member around raw deflate bytes (10-byte header, no flags). */
export function wrapGzip(raw: Uint8Array, data: Uint8Array): Uint8Array {
  const head = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
  const tail = Buffer.alloc(8);
  tail.writeUInt32LE(crc32(data), 0);
  tail.writeUInt32LE(data.length >>> 0, 4);
  return Buffer.concat([head, raw, tail]);
}

/** Raw deflate of `parts`, each ended by a sync flush (an empty stored block). */
export function syncFlushed(parts: Uint8Array[]): Uint8Array {
  const raws = parts.map((p) => zlib.deflateRawSync(p, { finishFlush: zlib.constants.Z_SYNC_FLUSH }));
  return Buffer.concat([...raws, Buffer.from([3, 0])]);
}

export function pigz(data: Uint8Array, args: string[] = []): Uint8Array {
  return execFileSync("pigz", ["-c", ...args], { input: data, maxBuffer: 1 << 30 });
}

export interface CorpusCase {
  name: string;
  gz: Uint8Array;
}

export function corpus(): CorpusCase[] {
  const data = sampleData();
  const C = zlib.constants;
  const small = data.subarray(0, 200000);
  const parts = [small.subarray(0, 1000), small.subarray(1000, 1000), small.subarray(1000, 70000), small.subarray(70000)];
  return [
    { name: "stored only (level 0)", gz: zlib.gzipSync(data, { level: 0 }) },
    { name: "fixed Huffman only (Z_FIXED)", gz: zlib.gzipSync(data, { strategy: C.Z_FIXED }) },
    { name: "Huffman only (Z_HUFFMAN_ONLY)", gz: zlib.gzipSync(data, { strategy: C.Z_HUFFMAN_ONLY }) },
    { name: "RLE (Z_RLE)", gz: zlib.gzipSync(data, { strategy: C.Z_RLE }) },
    { name: "level 1", gz: zlib.gzipSync(data, { level: 1 }) },
    { name: "level 9", gz: zlib.gzipSync(data, { level: 9 }) },
    { name: "level 9 small memLevel", gz: zlib.gzipSync(data, { level: 9, memLevel: 1, windowBits: 9 }) },
    { name: "sync-flushed (empty stored blocks)", gz: wrapGzip(syncFlushed(parts), small) },
    { name: "pigz", gz: pigz(data) },
    { name: "pigz -i -b 32", gz: pigz(data, ["-i", "-b", "32"]) },
    { name: "multi-member with an empty member", gz: Buffer.concat([zlib.gzipSync(small.subarray(0, 5000)), zlib.gzipSync(new Uint8Array(0)), zlib.gzipSync(small.subarray(5000))]) },
    { name: "empty input", gz: zlib.gzipSync(new Uint8Array(0)) },
    { name: "1-byte input", gz: zlib.gzipSync(new Uint8Array([42])) },
    { name: "header with FEXTRA, FNAME, FCOMMENT, FHCRC", gz: withAllHeaderFields(small.subarray(0, 30000)) },
  ];
}

/** A member whose header sets every optional field, with a correct CRC16. */
export function withAllHeaderFields(data: Uint8Array): Uint8Array {
  const head = Buffer.concat([
    Buffer.from([0x1f, 0x8b, 8, 4 | 8 | 16 | 2, 1, 2, 3, 4, 0, 3]),
    Buffer.from([5, 0, 1, 2, 3, 4, 5]),
    Buffer.from("name.tar\0comment here\0", "latin1"),
  ]);
  const hcrc = Buffer.alloc(2);
  hcrc.writeUInt16LE(crc32(head) & 0xffff);
  const plain = wrapGzip(zlib.deflateRawSync(data), data);
  return Buffer.concat([head, hcrc, plain.subarray(10)]);
}

/** The realistic layer, built by scripts/make_realistic_layer.sh if missing. */
export function realisticLayer(): Uint8Array {
  const p = join(ROOT, ".build", "fixtures", "realistic-layer.tar.gz");
  if (!existsSync(p)) execFileSync(join(ROOT, "scripts", "make_realistic_layer.sh"), { stdio: "inherit" });
  return readFileSync(p);
}
