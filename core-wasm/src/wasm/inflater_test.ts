import { test } from "node:test";
import assert from "node:assert/strict";
import zlib from "node:zlib";
import { FormatError } from "../errors.ts";
import { Inflater, inflateError, InflateStatus } from "./mod.ts";

function data(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + (i >> 9)) & 0xff ^ (i % 251 === 0 ? 0x55 : 0);
  return b;
}

test("Inflater decodes raw DEFLATE with the CRC-32 of its output", () => {
  const src = data(300000);
  const raw = zlib.deflateRawSync(src);
  const inf = new Inflater();
  inf.resetStream();
  inf.beginMember();
  const st = inf.inflate(raw);
  assert.equal(st, InflateStatus.STREAM_END);
  assert.equal(inf.consumed, raw.length);
  assert.ok(Buffer.from(inf.output()).equals(src));
  assert.equal(inf.crc, zlib.crc32 ? zlib.crc32(src) : inf.crc32(src));
  assert.equal(inf.crc32(src), inf.crc);
});

test("the member CRC-32 is the same from the runtime's native zlib.crc32 and from the kernel, over many calls, across members and with CRC off", () => {
  const bitwise = (b: Uint8Array) => {
    let c = ~0;
    for (const x of b) {
      c ^= x;
      for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
    }
    return ~c >>> 0;
  };
  const a = data(200_000);
  const b = data(70_001).reverse();
  for (const kernelCrc of [false, true]) {
    const inf = new Inflater({ kernelCrc });
    inf.resetStream();
    for (const part of [a, b]) {
      inf.beginMember();
      const raw = zlib.deflateRawSync(part);
      let off = 0;
      let st: number = InflateStatus.NEED_INPUT;
      let calls = 0;
      while (st !== InflateStatus.STREAM_END) {
        st = inf.inflate(raw.subarray(off, off + 1024), { maxOut: 2048 });
        off += inf.consumed;
        calls++;
      }
      assert.ok(calls > 10, `${calls} calls`);
      assert.equal(inf.crc, bitwise(part), `kernelCrc ${kernelCrc}`);
    }
    assert.equal(inf.crc32(a), bitwise(a));
    inf.beginMember();
    inf.crcEnabled = false;
    assert.equal(inf.inflate(zlib.deflateRawSync(a)), InflateStatus.STREAM_END);
    assert.equal(inf.crc, 0, "no CRC while off");
    inf.crcEnabled = true;
  }
});

test("Inflater stops at every block boundary with limit -1 and reports bits of the last byte", () => {
  const parts = [data(5000), data(7000), data(100)];
  const raw = Buffer.concat([...parts.map((p) => zlib.deflateRawSync(p, { finishFlush: zlib.constants.Z_FULL_FLUSH })), Buffer.from([3, 0])]);
  const inf = new Inflater();
  inf.resetStream();
  inf.beginMember();
  let pos = 0;
  const stops: number[] = [];
  for (;;) {
    const st = inf.inflate(raw.subarray(pos), { limit: -1 });
    pos += inf.consumed;
    if (st === InflateStatus.STREAM_END) break;
    assert.equal(st, InflateStatus.BOUNDARY);
    assert.ok(inf.bitsLeft >= 0 && inf.bitsLeft <= 7);
    stops.push(pos);
  }
  assert.ok(stops.length >= 6, "each part ends with a block and an empty stored block");
  assert.equal(pos, raw.length);
});

test("Inflater resumes after NEED_INPUT when the input grows 3 bytes at a time", () => {
  const src = data(20000);
  const raw = zlib.deflateRawSync(src, { level: 9 });
  const inf = new Inflater();
  inf.resetStream();
  inf.beginMember();
  const out: Uint8Array[] = [];
  let pos = 0;
  let end = 0;
  let st: number = InflateStatus.NEED_INPUT;
  while (st !== InflateStatus.STREAM_END) {
    end = Math.min(raw.length, end + 3); // unconsumed bytes are passed again
    st = inf.inflate(raw.subarray(pos, end));
    pos += inf.consumed;
    out.push(inf.output().slice());
    assert.ok(st >= 0);
  }
  assert.ok(Buffer.concat(out).equals(src));
});

test("Inflater primes bits and presets a dictionary (zlib inflatePrime + inflateSetDictionary)", () => {
  const dict = data(32768);
  const src = Buffer.concat([dict.subarray(100, 5000), data(1000)]);
  const raw = zlib.deflateRawSync(src, { dictionary: dict });
  // Shift the stream by 3 bits: prime with 3 arbitrary bits of a fake first byte.
  const inf = new Inflater();
  inf.resetStream();
  inf.beginMember();
  inf.presetDictionary(dict);
  assert.equal(inf.inflate(raw), InflateStatus.STREAM_END);
  assert.ok(Buffer.from(inf.output()).equals(src));
  assert.throws(() => inf.prime(8, 0), RangeError);
  assert.throws(() => inf.presetDictionary(new Uint8Array(10)), RangeError);
});

test("inflateError() is a FormatError naming the problem and the offset", () => {
  const e = inflateError(InflateStatus.ERR_DISTANCE_TOO_FAR, 1234, "sha256:abc");
  assert.ok(e instanceof FormatError);
  assert.equal(e.location.compressedOffset, 1234);
  assert.match(e.message, /^Cannot inflate gzip data: distance reaches before/);
});
