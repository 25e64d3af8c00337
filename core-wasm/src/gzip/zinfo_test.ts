import { test } from "node:test";
import assert from "node:assert/strict";
import { FormatError } from "../errors.ts";
import { decodeTarZinfo, decodeZinfo, encodeTarZinfo, encodeZinfo, type Checkpoint } from "./mod.ts";

function cp(inOff: number, out: number, bits: number, fill: number): Checkpoint {
  return { in: inOff, out, bits, window: new Uint8Array(32768).fill(fill) };
}

test("encodeZinfo() writes the v2 layout: N, span, then in/out/bits/window records", () => {
  const blob = encodeZinfo({ spanSize: 65536, checkpoints: [cp(10, 0, 0, 0), cp(31438, 91614, 4, 7)] });
  assert.equal(blob.length, 12 + 2 * 32785);
  const dv = new DataView(blob.buffer);
  assert.equal(dv.getInt32(0, true), 2);
  assert.equal(dv.getBigInt64(4, true), 65536n);
  assert.equal(dv.getBigInt64(12 + 32785, true), 31438n); // in before out
  assert.equal(dv.getBigInt64(20 + 32785, true), 91614n);
  assert.equal(blob[28 + 32785], 4);
  assert.equal(blob[29 + 32785], 7);
});

test("decodeZinfo() round-trips v2 and reads v1 with the implied checkpoint 0", () => {
  const cps = [cp(10, 0, 0, 0), cp(500, 70000, 3, 9)];
  const v2 = decodeZinfo(encodeZinfo({ spanSize: 65536, checkpoints: cps }));
  assert.equal(v2.version, 2);
  assert.deepEqual(v2.checkpoints, cps);
  const v1blob = encodeZinfo({ spanSize: 65536, checkpoints: cps, version: 1 });
  assert.equal(v1blob.length, 12 + 32785);
  const v1 = decodeZinfo(v1blob);
  assert.equal(v1.version, 1);
  assert.deepEqual(v1.checkpoints, cps);
  assert.deepEqual(encodeZinfo({ ...v1, version: 1 }), v1blob);
});

test("decodeZinfo() accepts the 12-byte edge cases: N=0 is v2, N=1 is v1", () => {
  const b = new Uint8Array(12);
  assert.deepEqual(decodeZinfo(b), { version: 2, spanSize: 0, checkpoints: [] });
  b[0] = 1;
  const z = decodeZinfo(b);
  assert.equal(z.version, 1);
  assert.deepEqual(z.checkpoints.map((c) => [c.in, c.out, c.bits]), [[10, 0, 0]]);
});

test("decodeZinfo() rejects a blob of neither known length, a short blob, negative N and bad bits", () => {
  assert.throws(() => decodeZinfo(new Uint8Array(11)), FormatError);
  const blob = encodeZinfo({ spanSize: 1, checkpoints: [cp(10, 0, 0, 0)] });
  assert.throws(() => decodeZinfo(blob.subarray(0, blob.length - 1)), FormatError);
  const neg = new Uint8Array(12);
  new DataView(neg.buffer).setInt32(0, -1, true);
  assert.throws(() => decodeZinfo(neg), FormatError);
  const bad = blob.slice();
  bad[28] = 8; // bits field of record 0
  assert.throws(() => decodeZinfo(bad), /bits 8/);
});

test("encodeTarZinfo() reproduces the 48-byte upstream TarZinfo of formats §5", () => {
  const hex = "140000000000000000000a001c0018000c0004000a00000000f005000000000000000100000000000000000002000000";
  const got = encodeTarZinfo(65536, 389120);
  assert.equal(Buffer.from(got).toString("hex"), hex);
  assert.deepEqual(decodeTarZinfo(got), { version: 2, spanSize: 65536, size: 389120 });
});

test("decodeTarZinfo() rejects truncated and out-of-bounds buffers", () => {
  const got = encodeTarZinfo(65536, 389120);
  assert.throws(() => decodeTarZinfo(got.subarray(0, 4)), FormatError);
  const bad = got.slice();
  bad[0] = 200; // root offset past the end
  assert.throws(() => decodeTarZinfo(bad), FormatError);
});
