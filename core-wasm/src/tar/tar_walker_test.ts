import { test } from "node:test";
import assert from "node:assert/strict";
import { FormatError } from "../errors.ts";
import { TarWalker, type TarEntry, type TarSummary } from "./mod.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

interface HeaderFields {
  name?: string;
  mode?: string;
  uid?: string;
  gid?: string;
  size?: string | Uint8Array;
  mtime?: string;
  typeflag?: string;
  linkname?: string;
  magic?: string;
  version?: string;
  uname?: string;
  gname?: string;
  devmajor?: string;
  devminor?: string;
  prefix?: string;
  checksum?: "unsigned" | "signed" | "bad";
}

/** One header block, field by field (offsets as in _header.ts). */
function header(f: HeaderFields): Uint8Array {
  const b = new Uint8Array(512);
  const put = (off: number, v: string | Uint8Array) => b.set(typeof v === "string" ? enc.encode(v) : v, off);
  put(0, f.name ?? "file"); //                     name     0/100
  put(100, f.mode ?? "0000644\0"); //              mode     100/8
  put(108, f.uid ?? "0000000\0"); //               uid      108/8
  put(116, f.gid ?? "0000000\0"); //               gid      116/8
  put(124, f.size ?? "00000000000\0"); //          size     124/12
  put(136, f.mtime ?? "14524770400\0"); //         mtime    136/12 (1700000000)
  put(156, f.typeflag ?? "0"); //                  typeflag 156/1
  put(157, f.linkname ?? ""); //                   linkname 157/100
  put(257, f.magic ?? "ustar\0"); //               magic    257/6
  put(263, f.version ?? "00"); //                  version  263/2
  put(265, f.uname ?? ""); //                      uname    265/32
  put(297, f.gname ?? ""); //                      gname    297/32
  put(329, f.devmajor ?? "0000000\0"); //          devmajor 329/8
  put(337, f.devminor ?? "0000000\0"); //          devminor 337/8
  put(345, f.prefix ?? ""); //                     prefix   345/155
  b.fill(0x20, 148, 156); //                       chksum   148/8, counted as spaces
  let sum = 0;
  for (const c of b) sum += f.checksum === "signed" ? (c < 128 ? c : c - 256) : c;
  if (f.checksum === "bad") sum += 1;
  put(148, sum.toString(8).padStart(6, "0") + "\0 ");
  return b;
}

const octal = (n: number, width: number) => n.toString(8).padStart(width - 1, "0") + "\0";

/** A PAX record "<len> <key>=<value>\n". */
function record(key: string, value: string | Uint8Array): Uint8Array {
  const v = typeof value === "string" ? enc.encode(value) : value;
  const base = enc.encode(key).length + v.length + 3;
  let len = base + String(base).length;
  if (String(len).length !== String(base).length) len = base + String(len).length;
  return concat(enc.encode(`${len} ${key}=`), v, enc.encode("\n"));
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** `data` followed by zero padding to a block boundary. */
function body(data: Uint8Array | string): Uint8Array {
  const d = typeof data === "string" ? enc.encode(data) : data;
  return concat(d, new Uint8Array((512 - (d.length % 512)) % 512));
}

/** A pseudo-entry ('x', 'g', 'L', 'K') with its padded body. */
function special(typeflag: string, data: Uint8Array | string): Uint8Array {
  const d = typeof data === "string" ? enc.encode(data) : data;
  return concat(header({ name: "././@Meta", typeflag, size: octal(d.length, 12) }), body(d));
}

const END = new Uint8Array(1024);

function walk(archive: Uint8Array, chunkSize = archive.length || 1): { entries: TarEntry[]; summary: TarSummary } {
  const entries: TarEntry[] = [];
  const w = new TarWalker({ onEntry: (e) => entries.push(e), source: "test.tar" });
  for (let i = 0; i < archive.length; i += chunkSize) w.push(archive.subarray(i, i + chunkSize), i);
  return { entries, summary: w.finish() };
}

function rejects(archive: Uint8Array, pattern: RegExp): void {
  assert.throws(() => walk(archive), (e: unknown) => e instanceof FormatError && pattern.test(e.message));
}

test("TarWalker lists a USTAR file with its data offset and ends after two zero blocks", () => {
  const archive = concat(header({ name: "a.txt", size: octal(5, 12) }), body("hello"), END, new Uint8Array(512));
  const { entries, summary } = walk(archive);
  assert.equal(entries.length, 1);
  assert.equal(dec.decode(entries[0].name), "a.txt");
  assert.equal(entries[0].size, 5);
  assert.equal(entries[0].dataOffset, 512);
  assert.equal(entries[0].headerOffset, 0);
  assert.equal(entries[0].mode, 0o644);
  assert.equal(entries[0].mtime, 1700000000);
  assert.deepEqual(summary, { archiveSize: 2048, hasEndMarker: true, trailingBytes: 512 });
});

test("TarWalker gives the same entries whatever the chunk size", () => {
  const archive = concat(
    special("x", concat(record("path", "long/" + "p".repeat(200)), record("mtime", "1.5"))),
    header({ name: "short", size: octal(700, 12) }), body(new Uint8Array(700)),
    header({ name: "dir/", typeflag: "5" }), END,
  );
  const whole = walk(archive);
  for (const size of [1, 7, 511, 512, 513, 4096]) assert.deepEqual(walk(archive, size), whole, `chunk size ${size}`);
  assert.equal(whole.entries[0].dataOffset, 1536); // PAX header + one block of records + header
  assert.equal(whole.entries[1].dataOffset, 1536 + 1024 + 512);
});

test("TarWalker applies PAX path, linkpath, size, uid, gid, names and mtime, and keeps every record", () => {
  const pax = concat(
    record("path", "from-pax"), record("linkpath", "target"), record("size", "3"), record("uid", "4294967294"),
    record("gid", "70000"), record("uname", "u"), record("gname", "g"), record("mtime", "1700000000.123456789"),
    record("SCHILY.xattr.security.capability", new Uint8Array([1, 0, 0, 2, 0xff])),
  );
  const { entries } = walk(concat(special("x", pax), header({ name: "ignored", size: octal(999, 12) }), body("abc"), END));
  const e = entries[0];
  assert.equal(dec.decode(e.name), "from-pax");
  assert.equal(dec.decode(e.linkname), "target");
  assert.equal(e.size, 3);
  assert.equal(e.physicalSize, 3);
  assert.equal(e.uid, 4294967294);
  assert.equal(e.gid, 70000);
  assert.equal(dec.decode(e.uname), "u");
  assert.equal(dec.decode(e.gname), "g");
  assert.deepEqual([e.mtime, e.mtimeNanos], [1700000000, 123456789]);
  assert.equal(e.paxRecords.length, 9);
  assert.deepEqual(e.paxRecords[8].value, new Uint8Array([1, 0, 0, 2, 0xff]));
  assert.equal(e.headerOffset, 0);
  assert.equal(e.dataOffset, 1536);
});

test("TarWalker lets the last duplicate PAX record win and keeps empty values without applying them", () => {
  const pax = concat(record("path", "first"), record("uname", ""), record("path", "second"));
  const { entries } = walk(concat(special("x", pax), header({ name: "hdr", uname: "root" }), END));
  assert.equal(dec.decode(entries[0].name), "second");
  assert.equal(dec.decode(entries[0].uname), "root");
  assert.deepEqual(entries[0].paxRecords.map((r) => [dec.decode(r.key), dec.decode(r.value)]), [["path", "second"], ["uname", ""]]);
});

test("TarWalker lets a GNU long name override PAX path and leaves no record for it", () => {
  const archive = concat(
    special("x", record("path", "pax-name")),
    special("L", "gnu-long-name\0junk"),
    special("K", "gnu-long-link"),
    header({ name: "short", typeflag: "2", linkname: "l", magic: "ustar ", version: " \0" }), END,
  );
  const { entries } = walk(archive);
  assert.equal(dec.decode(entries[0].name), "gnu-long-name");
  assert.equal(dec.decode(entries[0].linkname), "gnu-long-link");
  assert.deepEqual(entries[0].paxRecords.map((r) => dec.decode(r.key)), ["path"]);
  assert.equal(entries[0].dataOffset, 7 * 512); // three pseudo-entries of two blocks, then the header
});

test("TarWalker gives header-only types no data area whatever their size says", () => {
  const archive = concat(
    header({ name: "link", typeflag: "2", linkname: "t", size: octal(100, 12) }),
    header({ name: "next", size: octal(1, 12) }), body("x"), END,
  );
  const { entries } = walk(archive);
  assert.equal(entries[0].size, 100);
  assert.equal(entries[0].physicalSize, 0);
  assert.equal(entries[0].dataOffset, 512);
  assert.equal(entries[1].dataOffset, 1024);
});

test("TarWalker turns typeflag NUL into a directory for a trailing slash and a file otherwise", () => {
  const archive = concat(
    header({ name: "old-dir/", typeflag: "\0", size: octal(512, 12) }),
    header({ name: "old-file", typeflag: "\0", size: octal(1, 12) }), body("y"), END,
  );
  const { entries } = walk(archive);
  assert.equal(entries[0].typeflag, 0x35);
  assert.equal(entries[0].dataOffset, 512); // a directory has no data area
  assert.equal(entries[1].typeflag, 0x30);
  assert.equal(entries[1].dataOffset, 1024);
});

test("TarWalker joins a USTAR prefix and ignores it in V7 and GNU headers", () => {
  const ustar = walk(concat(header({ name: "base", prefix: "some/dir" }), END)).entries[0];
  assert.equal(dec.decode(ustar.name), "some/dir/base");
  const v7 = walk(concat(header({ name: "base", magic: "\0\0\0\0\0\0", version: "\0\0", uname: "ignored", prefix: "x" }), END)).entries[0];
  assert.equal(dec.decode(v7.name), "base");
  assert.equal(v7.uname.length, 0);
  const gnu = walk(concat(header({ name: "base", magic: "ustar ", version: " \0", uname: "root" }), END)).entries[0];
  assert.equal(dec.decode(gnu.name), "base");
  assert.equal(dec.decode(gnu.uname), "root");
});

test("TarWalker reads base-256 numbers and negative times", () => {
  const size = new Uint8Array(12);
  size[0] = 0x80; //                  base-256 marker, positive
  size[11] = 3; //                    value 3
  const mtime = new Uint8Array(12).fill(0xff); // base-256 −1
  const { entries } = walk(concat(header({ name: "b", size }), body("abc"), END));
  assert.equal(entries[0].size, 3);
  const h = header({ name: "neg" });
  h.set(mtime, 136);
  fixChecksum(h);
  assert.equal(walk(concat(h, END)).entries[0].mtime, -1);
});

function fixChecksum(h: Uint8Array): void {
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const c of h) sum += c;
  h.set(enc.encode(sum.toString(8).padStart(6, "0") + "\0 "), 148);
}

test("TarWalker accepts a checksum computed with signed bytes", () => {
  const { entries } = walk(concat(header({ name: "caf\u00e9", checksum: "signed" }), END));
  assert.equal(dec.decode(entries[0].name), "caf\u00e9");
});

test("TarWalker lists '../' and absolute names verbatim", () => {
  const { entries } = walk(concat(header({ name: "../../etc/shadow" }), header({ name: "/abs" }), END));
  assert.deepEqual(entries.map((e) => dec.decode(e.name)), ["../../etc/shadow", "/abs"]);
});

test("TarWalker reports a PAX global header as its own entry and carries on", () => {
  const archive = concat(special("g", record("comment", "hi")), header({ name: "after" }), END);
  const { entries } = walk(archive);
  assert.equal(entries[0].typeflag, 0x67);
  assert.equal(dec.decode(entries[0].paxRecords[0].key), "comment");
  assert.equal(dec.decode(entries[1].name), "after");
  assert.equal(entries[1].paxRecords.length, 0);
});

test("TarWalker folds GNU sparse 0.0 records into GNU.sparse.map and reports the logical size", () => {
  const pax = concat(
    record("GNU.sparse.size", "10000"), record("GNU.sparse.numblocks", "2"),
    record("GNU.sparse.offset", "0"), record("GNU.sparse.numbytes", "5"),
    record("GNU.sparse.offset", "9000"), record("GNU.sparse.numbytes", "5"),
  );
  const { entries } = walk(concat(special("x", pax), header({ name: "sparse", size: octal(10, 12) }), body("0123456789"), END));
  assert.equal(entries[0].size, 10000);
  assert.equal(entries[0].physicalSize, 10);
  const map = entries[0].paxRecords.find((r) => dec.decode(r.key) === "GNU.sparse.map");
  assert.equal(dec.decode(map!.value), "0,5,9000,5");
  assert.ok(!entries[0].paxRecords.some((r) => dec.decode(r.key) === "GNU.sparse.offset"));
  assert.deepEqual(entries[0].sparse, [{ offset: 0, length: 5 }, { offset: 9000, length: 5 }]);
});

test("TarWalker puts the data of a PAX 1.0 sparse file after its map and uses GNU.sparse.name", () => {
  const pax = concat(record("GNU.sparse.major", "1"), record("GNU.sparse.minor", "0"), record("GNU.sparse.name", "real-name"), record("GNU.sparse.realsize", "1048576"));
  const map = body("1\n4096\n3\n");
  const archive = concat(special("x", pax), header({ name: "GNUSparseFile.0/real-name", size: octal(512 + 3, 12) }), map, body("abc"), END);
  const { entries } = walk(archive);
  assert.equal(dec.decode(entries[0].name), "real-name");
  assert.equal(entries[0].size, 1048576);
  assert.equal(entries[0].dataOffset, 1024 + 512 + 512);
  assert.deepEqual(entries[0].sparse, [{ offset: 4096, length: 3 }]);
});

test("TarWalker ends cleanly at a block boundary, after one zero block, or inside padding", () => {
  assert.deepEqual(walk(new Uint8Array(0)).summary, { archiveSize: 0, hasEndMarker: false, trailingBytes: 0 });
  const one = concat(header({ name: "a" }), new Uint8Array(512));
  assert.equal(walk(one).summary.archiveSize, 1024);
  const padded = concat(header({ name: "a", size: octal(1, 12) }), enc.encode("x"), new Uint8Array(10));
  assert.deepEqual(walk(padded).summary, { archiveSize: 523, hasEndMarker: false, trailingBytes: 0 });
});

test("TarWalker rejects a header with a bad checksum", () => {
  rejects(concat(header({ checksum: "bad" }), END), /checksum mismatch/);
});

test("TarWalker rejects a zero block followed by a non-zero block", () => {
  rejects(concat(new Uint8Array(512), header({ name: "late" }), END), /zero block followed by a non-zero block/);
});

test("TarWalker rejects input that stops inside a header, file data or a PAX body", () => {
  rejects(header({ name: "a" }).subarray(0, 300), /unexpected end/);
  rejects(concat(header({ name: "a", size: octal(600, 12) }), new Uint8Array(100)), /unexpected end/);
  rejects(special("x", record("path", "p")).subarray(0, 520), /unexpected end/);
  rejects(concat(new Uint8Array(512), new Uint8Array(100)), /unexpected end/);
});

test("TarWalker rejects malformed PAX records", () => {
  const cases: Array<[string, Uint8Array]> = [
    ["no length", enc.encode("path=x\n")],
    ["length below 5", enc.encode("3 a=\n")],
    ["length past the body", enc.encode("99 path=x\n")],
    ["no newline", enc.encode("10 path=xy")],
    ["no '='", enc.encode("9 pathxx\n")],
    ["empty key", enc.encode("6 =xy\n")],
    ["NUL in a path value", enc.encode("9 path=\0\n")],
    ["NUL in a key", enc.encode("8 a\0b=c\n")],
    ["non-numeric length", enc.encode("1x path=a\n")],
    ["sparse pair out of order", concat(record("GNU.sparse.numbytes", "1"))],
  ];
  for (const [what, pax] of cases) {
    assert.throws(() => walk(concat(special("x", pax), header({}), END)), FormatError, what);
  }
});

test("TarWalker rejects PAX values that Go's mergePAX refuses", () => {
  for (const [k, v] of [["uid", "12x"], ["size", "-"], ["mtime", "1.5e3"], ["atime", "."], ["gid", "99999999999999999999"]]) {
    assert.throws(() => walk(concat(special("x", record(k, v)), header({}), END)), FormatError, `${k}=${v}`);
  }
});

test("TarWalker bounds PAX and GNU long-name bodies at 1 MiB", () => {
  const big = header({ name: "huge", typeflag: "x", size: octal((1 << 20) + 1, 12) });
  rejects(concat(big, END), /exceeds 1048576/);
  const bigL = header({ name: "huge", typeflag: "L", size: octal(1 << 21, 12) });
  rejects(concat(bigL, END), /exceeds 1048576/);
});

test("TarWalker rejects absurd and negative sizes and invalid octal digits", () => {
  const absurd = new Uint8Array(12).fill(0x7f);
  absurd[0] = 0x80; //                base-256, about 2^87: overflows int64
  rejects(concat(header({ size: absurd }), END), /invalid size/);
  const beyond53 = new Uint8Array(12);
  beyond53[0] = 0x80;
  beyond53[4] = 0x01; //             2^56: valid int64, beyond 2^53
  rejects(concat(header({ size: beyond53 }), END), /beyond 2\^53/);
  const negative = new Uint8Array(12).fill(0xff); // base-256 −1
  rejects(concat(header({ size: negative }), END), /negative size/);
  rejects(concat(header({ mode: "0000948\0" }), END), /invalid mode/);
  rejects(concat(special("x", record("size", "9007199254740993")), header({}), END), /beyond 2\^53/);
});

test("TarWalker rejects a sparse map that overruns the logical size", () => {
  const pax = concat(record("GNU.sparse.size", "10"), record("GNU.sparse.numblocks", "1"), record("GNU.sparse.map", "8,5"));
  rejects(concat(special("x", pax), header({ size: octal(5, 12) }), body("12345"), END), /invalid GNU sparse map/);
});

test("TarWalker refuses chunks that are not contiguous and use after an error", () => {
  const w = new TarWalker({ onEntry: () => {} });
  w.push(new Uint8Array(10), 0);
  assert.throws(() => w.push(new Uint8Array(10), 20), RangeError);
  const bad = new TarWalker({ onEntry: () => {} });
  assert.throws(() => bad.push(header({ checksum: "bad" }), 0), FormatError);
  assert.throws(() => bad.finish(), TypeError);
});

test("TarWalker ignores everything after the end marker", () => {
  const archive = concat(header({ name: "a" }), END, header({ name: "after-end" }));
  const { entries, summary } = walk(archive, 100);
  assert.equal(entries.length, 1);
  assert.deepEqual(summary, { archiveSize: 1536, hasEndMarker: true, trailingBytes: 512 });
});
