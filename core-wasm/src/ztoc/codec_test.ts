import { test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { utf8 } from "../bytes/mod.ts";
import { FormatError } from "../errors.ts";
import { decodeZtoc, encodeZtoc, type TocEntry, type Ztoc } from "./mod.ts";

function entry(over: Partial<TocEntry> = {}): TocEntry {
  return {
    name: utf8("./f"), type: "reg", uncompressedOffset: 512, uncompressedSize: 3, linkname: new Uint8Array(0), mode: 0o100644,
    uid: 4294967294, gid: 0, uname: new Uint8Array(0), gname: utf8("root"), modTime: utf8("2023-11-14T22:13:20Z"),
    devmajor: 0, devminor: 0, xattrs: [], ...over,
  };
}

function ztoc(over: Partial<Ztoc> = {}): Ztoc {
  return {
    version: "0.9", buildToolIdentifier: "AWS SOCI CLI v0.2", compressedArchiveSize: 100, uncompressedArchiveSize: 2048,
    toc: [entry()], compressionAlgorithm: "gzip", maxSpanId: 0, spanDigests: ["sha256:" + "a".repeat(64)], zinfo: new Uint8Array([1, 2, 3]), ...over,
  };
}

test("encodeZtoc() and decodeZtoc() round-trip binary names, values and uint32 ids", () => {
  const z = ztoc({
    toc: [entry({ name: new Uint8Array([0x2e, 0x2f, 0xe9, 0xff]), xattrs: [{ key: utf8("SCHILY.xattr.security.capability"), value: new Uint8Array([1, 0, 0, 0xff]) }] })],
    compressionAlgorithm: "uncompressed", maxSpanId: 2, spanDigests: ["a", "b", "c"].map((c) => "sha256:" + c.repeat(64)),
  });
  assert.deepEqual(decodeZtoc(encodeZtoc(z)), z);
});

test("encodeZtoc() writes PAX records sorted by key bytes", () => {
  const unsorted = ztoc({ toc: [entry({ xattrs: [{ key: utf8("path"), value: utf8("p") }, { key: utf8("Z"), value: utf8("z") }, { key: utf8("mtime"), value: utf8("1") }] })] });
  const keys = decodeZtoc(encodeZtoc(unsorted)).toc[0].xattrs.map((x) => new TextDecoder().decode(x.key));
  assert.deepEqual(keys, ["Z", "mtime", "path"]);
});

test("encodeZtoc() elides max_span_id 0 and the gzip algorithm as flatbuffers defaults", () => {
  const one = encodeZtoc(ztoc());
  const two = encodeZtoc(ztoc({ maxSpanId: 1, spanDigests: ["sha256:" + "a".repeat(64), "sha256:" + "b".repeat(64)] }));
  const unc = encodeZtoc(ztoc({ compressionAlgorithm: "uncompressed" }));
  // A present int32 field costs 4 bytes plus alignment; the int8 algorithm 1 byte plus alignment.
  assert.ok(two.length - one.length >= 4 + 72);
  assert.ok(unc.length > one.length);
  assert.equal(decodeZtoc(one).maxSpanId, 0);
  assert.equal(decodeZtoc(one).compressionAlgorithm, "gzip");
});

test("encodeZtoc() refuses values the schema cannot hold", () => {
  assert.throws(() => encodeZtoc(ztoc({ maxSpanId: 2 ** 31 })), RangeError);
  assert.throws(() => encodeZtoc(ztoc({ toc: [entry({ uncompressedSize: 2 ** 60 })] })), RangeError);
  assert.throws(() => encodeZtoc(ztoc({ compressionAlgorithm: "zstd" as "gzip" })), RangeError);
});

function mutated(f: (b: Uint8Array, v: DataView) => void): Uint8Array {
  const b = encodeZtoc(ztoc());
  f(b, new DataView(b.buffer, b.byteOffset, b.byteLength));
  return b;
}

/** Absolute position of field `slot` of the table at `table`. */
function fieldPos(v: DataView, table: number, slot: number): number {
  const vtable = table - v.getInt32(table, true);
  return table + v.getUint16(vtable + 4 + 2 * slot, true);
}

/** Position of the root table and its vtable in a blob. */
function rootTable(b: Uint8Array, v: DataView): { table: number; vtable: number } {
  const table = v.getUint32(0, true);
  return { table, vtable: table - v.getInt32(table, true) };
}

test("decodeZtoc() rejects truncated blobs and garbage", () => {
  const good = encodeZtoc(ztoc());
  for (const n of [0, 3, 8, good.length >> 1, good.length - 1]) {
    assert.throws(() => decodeZtoc(good.subarray(0, n)), FormatError, `first ${n} bytes`);
  }
  assert.throws(() => decodeZtoc(new Uint8Array(64).fill(0xff)), FormatError);
});

test("decodeZtoc() rejects a root offset or vtable outside the buffer", () => {
  assert.throws(() => decodeZtoc(mutated((_b, v) => v.setUint32(0, 1 << 30, true))), FormatError); // root uoffset
  assert.throws(() => decodeZtoc(mutated((b, v) => v.setInt32(rootTable(b, v).table, -(1 << 30), true))), FormatError); // vtable soffset
  assert.throws(() => decodeZtoc(mutated((b, v) => v.setUint16(rootTable(b, v).vtable, 3, true))), FormatError); // odd vtable size
  assert.throws(() => decodeZtoc(mutated((b, v) => v.setUint16(rootTable(b, v).vtable + 2, 0xfff0, true))), FormatError); // table size past the end
});

test("decodeZtoc() rejects a field offset that overruns its table", () => {
  assert.throws(() => decodeZtoc(mutated((b, v) => v.setUint16(rootTable(b, v).vtable + 4, 0xfff0, true))), FormatError); // slot 0 (version)
});

test("decodeZtoc() rejects a string whose length runs past the buffer", () => {
  const b = encodeZtoc(ztoc());
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const { table, vtable } = rootTable(b, v);
  const versionField = table + v.getUint16(vtable + 4, true);
  const versionString = versionField + v.getUint32(versionField, true);
  v.setUint32(versionString, 0x7fffffff, true); // string length
  assert.throws(() => decodeZtoc(b), /Cannot decode zTOC/);
});

test("decodeZtoc() rejects an unknown compression algorithm, type or digest", () => {
  const withAlgorithm = (code: number) => {
    const b = encodeZtoc(ztoc({ compressionAlgorithm: "uncompressed" }));
    const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
    const infoField = fieldPos(v, v.getUint32(0, true), 5); // root slot 5: compression_info
    b[fieldPos(v, infoField + v.getUint32(infoField, true), 0)] = code; // its slot 0: the int8 algorithm
    return b;
  };
  assert.throws(() => decodeZtoc(withAlgorithm(3)), /unexpected compression algorithm 3/);
  const badType = encodeZtoc(ztoc({ toc: [entry({ name: utf8("sock") })] }));
  badType.set(utf8("xyz"), Buffer.from(badType).indexOf("reg"));
  assert.throws(() => decodeZtoc(badType), /unknown type "xyz"/);
  const badDigest = encodeZtoc(ztoc({ spanDigests: ["sha256:" + "g".repeat(64)] }));
  assert.throws(() => decodeZtoc(badDigest), /not a sha256 digest/);
});

test("decodeZtoc() rejects sizes beyond 2^53 and negative offsets", () => {
  const b = encodeZtoc(ztoc({ compressedArchiveSize: 0x1234567 }));
  const at = Buffer.from(b).indexOf(Buffer.from([0x67, 0x45, 0x23, 0x01, 0, 0, 0, 0]));
  new DataView(b.buffer).setBigInt64(at, 1n << 60n, true);
  assert.throws(() => decodeZtoc(b), /beyond 2\^53/);
  const neg = encodeZtoc(ztoc({ compressedArchiveSize: 0x1234567 }));
  new DataView(neg.buffer).setBigInt64(at, -5n, true);
  assert.throws(() => decodeZtoc(neg), /negative/);
});

test("decodeZtoc() names the source in its error", () => {
  assert.throws(() => decodeZtoc(new Uint8Array(2), "sha256:abc"), (e: unknown) => e instanceof FormatError && /sha256:abc/.test(e.message));
});
