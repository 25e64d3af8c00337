/**
 * The kernel as a WebAssembly component (core-wasm/wit/core.wit): builds it
 * with scripts/build_component.mjs (asc → jco embed → jco new → jco
 * transpile), loads the transpiled bindings in this process and checks them
 * against node:zlib. A `result::err` of `gunzip` surfaces in jco's JS
 * bindings as a thrown ComponentError whose `payload` is the WIT string.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import zlib from "node:zlib";
import { xorshiftBytes } from "../fakes/pseudo_random.ts";

const root = process.env.SOCI_REPO_ROOT ?? process.cwd();

interface InflateInterface {
  crc32(data: Uint8Array): number;
  gunzip(data: Uint8Array): Uint8Array;
}

let loaded: Promise<{ inflate: InflateInterface; component: string }> | undefined;

/** Builds (or reuses) the component and imports its bindings once per process. */
function component(): Promise<{ inflate: InflateInterface; component: string }> {
  loaded ??= (async () => {
    const { buildComponent } = await import(pathToFileURL(join(root, "scripts", "build_component.mjs")).href);
    const built = await buildComponent();
    const mod = await import(pathToFileURL(built.entry).href);
    return { inflate: mod.inflate as InflateInterface, component: built.component as string };
  })();
  return loaded;
}

const pseudoRandom = xorshiftBytes;

function text(n: number): Uint8Array {
  const words = ["layer", "span", "checkpoint", "zTOC", "digest", "blob", "index", "\n", "usr/lib/", "0644 "];
  const parts: string[] = [];
  let len = 0;
  for (let i = 0; len < n; i++) {
    const w = words[(i * 7 + (i >> 3)) % words.length];
    parts.push(w);
    len += w.length;
  }
  return new TextEncoder().encode(parts.join("")).subarray(0, n);
}

/** The err payload of a `result` that the bindings threw as a ComponentError. */
function errPayload(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    const payload = (e as { payload?: unknown }).payload;
    assert.equal(typeof payload, "string", `expected a ComponentError with a string payload, got ${e}`);
    return payload as string;
  }
  assert.fail("expected gunzip to return the error variant");
}

test("the component's WIT exports soci:core/inflate@0.1.0 with crc32 and gunzip", async () => {
  const { component: path } = await component();
  const jco = await import("@bytecodealliance/jco");
  const wit: string = await jco.componentWit(readFileSync(path));
  assert.match(wit, /export soci:core\/inflate@0\.1\.0;/);
  const bytes = readFileSync(path);
  // A component binary: magic, then layer 1 (not a core module's version 1).
  assert.deepEqual([...bytes.subarray(0, 8)], [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00]);
});

test("crc32() returns the CRC-32 check value and agrees with zlib.crc32 on larger input", async () => {
  const { inflate } = await component();
  assert.equal(inflate.crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
  assert.equal(inflate.crc32(new Uint8Array(0)), 0);
  const big = pseudoRandom(3_000_001, 11);
  const want = zlibCrc32(big);
  assert.equal(inflate.crc32(big), want);
  assert.equal(inflate.crc32(big.subarray(1, 1 + 1000)), zlibCrc32(big.subarray(1, 1001)));
});

function zlibCrc32(b: Uint8Array): number {
  // node:zlib has crc32() from Node 20.15/22.2; the bitwise loop is the fallback.
  const z = zlib as unknown as { crc32?: (d: Uint8Array) => number };
  if (typeof z.crc32 === "function") return z.crc32(b) >>> 0;
  let c = ~0;
  for (let i = 0; i < b.length; i++) {
    c ^= b[i];
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return ~c >>> 0;
}

test("gunzip() equals node:zlib for single members of several kinds", async () => {
  const { inflate } = await component();
  const cases: [string, Uint8Array][] = [
    ["text level 9", zlib.gzipSync(text(200_000), { level: 9 })],
    ["text level 1", zlib.gzipSync(text(200_000), { level: 1 })],
    ["random (stored blocks)", zlib.gzipSync(pseudoRandom(100_000, 3))],
    ["fixed Huffman, tiny", zlib.gzipSync(new TextEncoder().encode("hello"))],
    ["empty payload", zlib.gzipSync(new Uint8Array(0))],
    ["Huffman only", zlib.gzipSync(text(50_000), { strategy: zlib.constants.Z_HUFFMAN_ONLY })],
    ["RLE", zlib.gzipSync(new Uint8Array(300_000).fill(7), { strategy: zlib.constants.Z_RLE })],
    // Several input chunks (> 1 MiB compressed) and output arena wraps.
    ["3 MiB mixed", zlib.gzipSync(Buffer.concat([pseudoRandom(1_500_000, 5), text(2_000_000)]), { level: 6 })],
  ];
  for (const [name, gz] of cases) {
    const want = zlib.gunzipSync(gz);
    const got = inflate.gunzip(gz);
    assert.equal(got.length, want.length, name);
    assert.ok(Buffer.from(got).equals(want), `${name}: bytes differ`);
  }
});

test("gunzip() decodes every member of a multi-member stream, with header fields and zero padding", async () => {
  const { inflate } = await component();
  const a = text(70_000);
  const b = pseudoRandom(40_000, 9);
  // A member with FEXTRA, FNAME, FCOMMENT and FHCRC (RFC 1952 §2.3), built by hand.
  const body = zlib.deflateRawSync(a.subarray(0, 5000));
  const head = Buffer.from([
    0x1f, 0x8b, // magic
    8, // CM deflate
    4 | 8 | 16 | 2, // FLG: FEXTRA | FNAME | FCOMMENT | FHCRC
    0, 0, 0, 0, // MTIME
    0, 3, // XFL, OS
    4, 0, // XLEN 4
    0x41, 0x42, 0, 0, // FEXTRA: subfield "AB" of length 0
    ...Buffer.from("name.txt\0"), // FNAME
    ...Buffer.from("a comment\0"), // FCOMMENT
  ]);
  const hcrc = Buffer.alloc(2);
  hcrc.writeUInt16LE(zlibCrc32(head) & 0xffff);
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(zlibCrc32(a.subarray(0, 5000)));
  trailer.writeUInt32LE(5000, 4);
  const flagged = Buffer.concat([head, hcrc, body, trailer]);
  const gz = Buffer.concat([zlib.gzipSync(a), zlib.gzipSync(new Uint8Array(0)), flagged, zlib.gzipSync(b, { level: 1 })]);
  const want = zlib.gunzipSync(gz);
  assert.equal(want.length, 70_000 + 5000 + 40_000);
  assert.ok(Buffer.from(inflate.gunzip(gz)).equals(want));
  const padded = Buffer.concat([gz, Buffer.alloc(1000)]);
  assert.ok(Buffer.from(inflate.gunzip(padded)).equals(want));
});

test("gunzip() returns the error variant for corrupt, truncated, empty and trailing-garbage input", async () => {
  const { inflate } = await component();
  const good = zlib.gzipSync(text(100_000));
  const badCrc = Buffer.from(good);
  badCrc[badCrc.length - 8] ^= 1;
  const badIsize = Buffer.from(good);
  badIsize[badIsize.length - 1] ^= 1;
  const badMagic = Buffer.from(good);
  badMagic[1] = 0x8c;
  // A stored-block stream whose first block header is type 3 (reserved).
  const badBlock = Buffer.concat([good.subarray(0, 10), Buffer.from([0x07, 0, 0, 0]), Buffer.alloc(8)]);
  const cases: [string, Uint8Array, RegExp][] = [
    ["CRC mismatch", badCrc, /CRC-32 does not match/],
    ["ISIZE mismatch", badIsize, /ISIZE/],
    ["bad magic", badMagic, /magic/],
    ["block type 3", badBlock, /block type 3/],
    ["truncated body", good.subarray(0, good.length >> 1), /ends inside a deflate stream/],
    ["truncated trailer", good.subarray(0, good.length - 3), /ends inside a gzip trailer/],
    ["truncated header", good.subarray(0, 6), /ends inside a gzip header/],
    ["empty", new Uint8Array(0), /input is empty/],
    ["trailing garbage", Buffer.concat([good, Buffer.from("junk")]), /not a gzip member/],
  ];
  for (const [name, gz, re] of cases) {
    const msg = errPayload(() => inflate.gunzip(gz));
    assert.match(msg, /^Cannot inflate gzip data: .+ \(compressed offset \d+\)$/, name);
    assert.match(msg, re, name);
    // node:zlib refuses these too (it ignores trailing garbage, a policy difference).
    if (name !== "trailing garbage") assert.throws(() => zlib.gunzipSync(gz), Error, name);
  }
  // The instance stays usable after errors (the arena is reset by post-return).
  assert.ok(Buffer.from(inflate.gunzip(good)).equals(zlib.gunzipSync(good)));
});
