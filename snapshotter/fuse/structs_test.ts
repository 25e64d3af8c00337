// Struct codecs: layouts against hand-built bytes, and hostile input
// (truncated, oversized fields, missing terminators) rejected with RangeError.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ByteReader } from "../../core-wasm/src/bytes/mod.ts";
import { le, request } from "./_fake_transport_test_util.ts";
import * as S from "./structs.ts";

const r = (b: Uint8Array) => new ByteReader(b);

describe("FUSE struct codecs", () => {
  test("decodeInHeader() reads every fuse_in_header field", () => {
    const b = request(15, 7, new Uint8Array(40), 0x8000_0000_0000_0003n);
    new DataView(b.buffer).setUint16(36, 2, true); // total_extlen
    const h = S.decodeInHeader(r(b));
    assert.deepEqual(h, { len: 80, opcode: 15, unique: 0x8000_0000_0000_0003n, nodeid: 7, uid: 0, gid: 0, pid: 42, totalExtlen: 2 });
  });

  test("decoders reject truncated bodies with RangeError", () => {
    assert.throws(() => S.decodeInHeader(r(new Uint8Array(39))), RangeError);
    assert.throws(() => S.decodeInitIn(r(new Uint8Array(15))), RangeError);
    assert.throws(() => S.decodeGetattrIn(r(new Uint8Array(12))), RangeError);
    assert.throws(() => S.decodeOpenIn(r(new Uint8Array(4))), RangeError);
    assert.throws(() => S.decodeReadIn(r(new Uint8Array(39))), RangeError);
    assert.throws(() => S.decodeReleaseIn(r(new Uint8Array(16))), RangeError);
    assert.throws(() => S.decodeGetxattrIn(r(new Uint8Array(7))), RangeError);
    assert.throws(() => S.decodeAccessIn(r(new Uint8Array(2))), RangeError);
    assert.throws(() => S.decodeForgetIn(r(new Uint8Array(7))), RangeError);
    assert.throws(() => S.decodeInterruptIn(r(new Uint8Array(0))), RangeError);
  });

  test("decodeInitIn() accepts the 16-byte pre-7.36 body with flags2 = 0", () => {
    const i = S.decodeInitIn(r(le(["u32", 7], ["u32", 31], ["u32", 4096], ["u32", 1])));
    assert.deepEqual(i, { major: 7, minor: 31, maxReadahead: 4096, flags: 1, flags2: 0 });
  });

  test("decodeName() needs a NUL and returns the bytes before it", () => {
    const rd = r(new TextEncoder().encode("abc\0rest"));
    assert.equal(new TextDecoder().decode(S.decodeName(rd)), "abc");
    assert.equal(rd.pos, 4);
    assert.throws(() => S.decodeName(r(new TextEncoder().encode("abc"))), /no NUL/);
    assert.equal(S.decodeName(r(new Uint8Array([0]))).length, 0);
  });

  test("decodeBatchForgetIn() bounds count by the body and reads the pairs", () => {
    assert.deepEqual(S.decodeBatchForgetIn(r(le(["u32", 2], ["u32", 0], ["u64", 5], ["u64", 1], ["u64", 6], ["u64", 3]))), [
      { nodeid: 5, nlookup: 1 }, { nodeid: 6, nlookup: 3 },
    ]);
    assert.throws(() => S.decodeBatchForgetIn(r(le(["u32", 3], ["u32", 0], ["u64", 5], ["u64", 1]))), /overruns/);
    assert.throws(() => S.decodeBatchForgetIn(r(le(["u32", 0xffffffff], ["u32", 0]))), /overruns/);
  });

  test("readU64() refuses values beyond 2^53; writeU64() round-trips below it", () => {
    assert.throws(() => S.readU64(r(le(["u64", 1n << 60n]))), /beyond 2\^53/);
    const b = new Uint8Array(8);
    S.writeU64(new DataView(b.buffer), 0, Number.MAX_SAFE_INTEGER);
    assert.equal(S.readU64(r(b)), Number.MAX_SAFE_INTEGER);
  });

  test("writeAttr()/decodeAttr() round-trip every fuse_attr field; blocks default to 4 KiB units", () => {
    const b = new Uint8Array(S.ATTR_SIZE);
    const a = { ino: 9, size: 5000, atimeSec: 1, atimeNsec: 2, mtimeSec: 3, mtimeNsec: 4, ctimeSec: 5, ctimeNsec: 6, mode: 0o100644, nlink: 2, uid: 7, gid: 8, rdev: S.makeRdev(259, 300), blksize: 512 };
    S.writeAttr(new DataView(b.buffer), 0, a);
    assert.deepEqual(S.decodeAttr(r(b)), { ...a, blocks: 16 });
    assert.equal(S.makeRdev(259, 300), (300 & 0xff) | (259 << 8) | ((300 & ~0xff) << 12));
  });

  test("direntSize() pads to 8 bytes; writeDirent() leaves the padding zero", () => {
    assert.deepEqual([1, 8, 9, 16].map(S.direntSize), [32, 32, 40, 40]);
    assert.equal(S.direntplusSize(1), 160);
    const b = new Uint8Array(32);
    S.writeDirent(b, new DataView(b.buffer), 0, 3, 4, 0o040755, new TextEncoder().encode("abc"));
    const rd = r(b);
    assert.deepEqual([S.readU64(rd), S.readU64(rd), rd.u32(), rd.u32()], [3, 4, 3, 4]);
    assert.deepEqual([...rd.take(8)], [97, 98, 99, 0, 0, 0, 0, 0]);
  });

  test("validityOf() splits seconds into sec + nsec", () => {
    assert.deepEqual(S.validityOf(1.5), { sec: 1, nsec: 500_000_000 });
    assert.deepEqual(S.validityOf(0), { sec: 0, nsec: 0 });
  });
});
