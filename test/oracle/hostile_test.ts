// Hostile input: every failure is a FormatError naming what went wrong and
// the compressed offset — never a hang, a crash or wrong output.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import zlib from "node:zlib";
import { FormatError } from "../../core-wasm/src/errors.ts";
import { gunzip, GzipIndexer } from "../../core-wasm/src/gzip/mod.ts";
import { corpus, crc32, FIXTURES, wrapGzip, withAllHeaderFields } from "./_corpus.ts";

function isFormatError(re: RegExp, maxOffset = Infinity) {
  return (e: unknown) => {
    assert.ok(e instanceof FormatError, `expected FormatError, got ${e}`);
    assert.match(e.message, re);
    const off = e.location.compressedOffset;
    assert.ok(off !== undefined && off >= 0 && off <= maxOffset, `offset ${off} within ${maxOffset}`);
    return true;
  };
}

/** LSB-first bit writer for hand-made deflate streams. */
class Bits {
  bytes: number[] = [];
  #acc = 0;
  #n = 0;
  put(value: number, count: number): this {
    for (let i = 0; i < count; i++) this.#bit((value >> i) & 1);
    return this;
  }
  /** A Huffman code, most significant bit first. */
  code(value: number, len: number): this {
    for (let i = len - 1; i >= 0; i--) this.#bit((value >> i) & 1);
    return this;
  }
  #bit(b: number) {
    this.#acc |= b << this.#n;
    if (++this.#n === 8) this.done();
  }
  done(): Uint8Array {
    if (this.#n > 0) this.bytes.push(this.#acc);
    this.#acc = 0;
    this.#n = 0;
    return Uint8Array.from(this.bytes);
  }
}

const layerB = readFileSync(join(FIXTURES, "inputs", "layer-b.tar.gz"));

test("every truncation of small corpus streams is a FormatError at or before the cut", () => {
  const cases = [layerB, ...corpus().filter((c) => c.gz.length < 40000).map((c) => c.gz)];
  const sync = corpus().find((c) => c.name.startsWith("sync"))!.gz;
  cases.push(sync.subarray(0, 3000), withAllHeaderFields(new Uint8Array(100)));
  for (const gz of cases) {
    const step = Math.max(1, Math.floor(gz.length / 700));
    for (let cut = 0; cut < gz.length; cut += step) {
      assert.throws(() => gunzip(gz.subarray(0, cut)), isFormatError(/ends|empty/, cut));
    }
  }
});

test("truncation mid-stored block, mid-header, in the block header and in the trailer name the place", () => {
  const stored = zlib.gzipSync(Buffer.alloc(5000, 1), { level: 0 });
  assert.throws(() => gunzip(stored.subarray(0, 2000)), isFormatError(/inside a deflate stream/, 2000));
  assert.throws(() => gunzip(layerB.subarray(0, 5)), isFormatError(/inside a gzip header/, 5));
  assert.throws(() => gunzip(layerB.subarray(0, 11)), isFormatError(/inside a deflate stream/, 11));
  assert.throws(() => gunzip(layerB.subarray(0, layerB.length - 3)), isFormatError(/inside a gzip trailer/));
});

test("bad CRC-32, bad ISIZE and a bad header CRC16 are FormatErrors", () => {
  const badCrc = Buffer.from(layerB);
  badCrc[badCrc.length - 8] ^= 1;
  assert.throws(() => gunzip(badCrc), isFormatError(/CRC-32/));
  const badSize = Buffer.from(layerB);
  badSize[badSize.length - 1] ^= 0x80;
  assert.throws(() => gunzip(badSize), isFormatError(/ISIZE/));
  const hc = Buffer.from(withAllHeaderFields(new Uint8Array(100)));
  const at = hc.indexOf(0, hc.indexOf(0, 17) + 1) + 1; // after FCOMMENT's terminator
  hc[at] ^= 0xff;
  assert.throws(() => gunzip(hc), isFormatError(/header CRC16/));
  const flags = Buffer.from(layerB);
  flags[3] = 0x20;
  assert.throws(() => gunzip(flags), isFormatError(/reserved flag/));
  const cm = Buffer.from(layerB);
  cm[2] = 7;
  assert.throws(() => gunzip(cm), isFormatError(/compression method/));
});

test("distance too far back, invalid block type and stored LEN/NLEN mismatch are FormatErrors", () => {
  // Fixed block: BFINAL 1, BTYPE 01, then length 3 (code 257 = 0000001) at distance 1 with no history.
  const far = new Bits().put(1, 1).put(1, 2).code(1, 7).code(0, 5).done();
  assert.throws(() => gunzip(wrapGzip(far, new Uint8Array(3))), isFormatError(/distance reaches before/));
  const type3 = new Bits().put(1, 1).put(3, 2).done();
  assert.throws(() => gunzip(wrapGzip(type3, new Uint8Array(0))), isFormatError(/block type 3/, 10));
  const stored = Uint8Array.from([1, 5, 0, 0xfa, 0xfe, 1, 2, 3, 4, 5]);
  assert.throws(() => gunzip(wrapGzip(stored, Uint8Array.from([1, 2, 3, 4, 5]))), isFormatError(/stored block length/));
  // Fixed-Huffman literal/length 286 (11000110) and distance 30 (11110) are invalid.
  const lit286 = new Bits().put(1, 1).put(1, 2).code(0b11000110, 8).done();
  assert.throws(() => gunzip(wrapGzip(lit286, new Uint8Array(0))), isFormatError(/literal\/length symbol/));
  const dist30 = new Bits().put(1, 1).put(1, 2).code(0x30 + 65, 8).code(1, 7).code(30, 5).done();
  assert.throws(() => gunzip(wrapGzip(dist30, new Uint8Array(0))), isFormatError(/distance symbol/));
});

/** Dynamic block header with the given code-length-code lengths (in transmission order). */
function dynamicHeader(hlit: number, hdist: number, clens: number[]): Bits {
  const b = new Bits().put(1, 1).put(2, 2).put(hlit, 5).put(hdist, 5).put(clens.length - 4, 4);
  for (const l of clens) b.put(l, 3);
  return b;
}

test("over-subscribed and incomplete code-length codes, too many codes and bad repeats are FormatErrors", () => {
  const over = dynamicHeader(0, 0, new Array(19).fill(1)).done();
  assert.throws(() => gunzip(wrapGzip(over, new Uint8Array(0))), isFormatError(/code-length code/));
  const incomplete = dynamicHeader(0, 0, [0, 0, 0, 1]).done(); // a lone 1-bit code for symbol 0
  assert.throws(() => gunzip(wrapGzip(incomplete, new Uint8Array(0))), isFormatError(/code-length code/));
  const tooMany = new Bits().put(1, 1).put(2, 2).put(30, 5).put(0, 5).put(0, 4).done();
  assert.throws(() => gunzip(wrapGzip(tooMany, new Uint8Array(0))), isFormatError(/too many/));
  // Code-length code: symbols 16 and 0 get 1 bit each (order 16,17,18,0). A 16 first repeats nothing.
  const rep = dynamicHeader(0, 0, [1, 0, 0, 1]).code(1, 1).put(0, 2).done();
  assert.throws(() => gunzip(wrapGzip(rep, new Uint8Array(0))), isFormatError(/repeat/));
});

test("over-subscribed literal/length lengths and a missing end-of-block code are FormatErrors", () => {
  // Code-length code: symbols 0 and 1 with 1 bit each (positions 3 and 17 of the order).
  const clens = [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
  const over = dynamicHeader(0, 0, clens);
  for (let i = 0; i < 258; i++) over.code(1, 1); // every litlen/dist length 1
  assert.throws(() => gunzip(wrapGzip(over.done(), new Uint8Array(0))), isFormatError(/literal\/length code lengths/));
  const noEob = dynamicHeader(0, 0, clens);
  for (let i = 0; i < 258; i++) noEob.code(0, 1); // every length 0
  assert.throws(() => gunzip(wrapGzip(noEob.done(), new Uint8Array(0))), isFormatError(/end-of-block/));
});

test("flipped bits give a FormatError or exactly zlib's output", () => {
  for (let bit = 0; bit < layerB.length * 8; bit += 3) {
    const bad = Buffer.from(layerB);
    bad[bit >> 3] ^= 1 << (bit & 7);
    let want: Buffer | undefined;
    try {
      want = zlib.gunzipSync(bad);
    } catch {
      want = undefined;
    }
    try {
      const got = gunzip(bad);
      assert.ok(want !== undefined && Buffer.from(got).equals(want), `bit ${bit}: we succeeded where zlib did not agree`);
    } catch (e) {
      assert.ok(e instanceof FormatError, `bit ${bit}: ${e}`);
    }
  }
});

test("trailing garbage after the last member is a FormatError; zero padding is reported", () => {
  assert.throws(() => gunzip(Buffer.concat([layerB, Buffer.from("junk")])), isFormatError(/after the last member/, layerB.length));
  assert.throws(() => gunzip(Buffer.concat([layerB, Buffer.from([0x1f, 0x8b, 8])])), isFormatError(/inside a gzip header/));
  assert.throws(() => gunzip(Buffer.concat([layerB, Buffer.alloc(3)]), { upstreamCompat: true }), isFormatError(/upstream/));
  assert.throws(() => gunzip(new Uint8Array(0)), isFormatError(/empty/));
});

test("a bomb of repeated matches streams in bounded memory and a lying ISIZE is caught", () => {
  const size = 256 << 20;
  const gz = zlib.gzipSync(Buffer.alloc(size), { level: 9 });
  assert.ok(gz.length < 300 * 1024);
  const before = process.memoryUsage().rss;
  const t0 = Date.now();
  let total = 0;
  const ix = new GzipIndexer({ spanSize: 4 << 20 });
  const sink = { data(c: Uint8Array) { total += c.length; }, checkpoint() {} };
  for (let p = 0; p < gz.length; p += 1024) ix.push(gz.subarray(p, p + 1024), sink);
  const sum = ix.finish(sink);
  assert.equal(total, size);
  assert.equal(sum.uncompressedSize, size);
  assert.ok(process.memoryUsage().rss - before < 128 << 20, "no buffering of output");
  assert.ok(Date.now() - t0 < 20000);
  const kb = zlib.gzipSync(Buffer.alloc(1 << 20), { level: 9 });
  assert.ok(kb.length < 2048);
  const lie = Buffer.from(kb);
  lie.writeUInt32LE(0xffffffff, lie.length - 4);
  assert.throws(() => gunzip(lie), isFormatError(/ISIZE/));
  assert.equal(crc32(new Uint8Array(0)), 0);
});
