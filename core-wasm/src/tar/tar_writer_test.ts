import { test } from "node:test";
import assert from "node:assert/strict";
import { TarWalker, TarWriter, writeTar, type TarEntry } from "./mod.ts";

const dec = new TextDecoder();

function walk(archive: Uint8Array): TarEntry[] {
  const entries: TarEntry[] = [];
  const w = new TarWalker({ onEntry: (e) => entries.push(e) });
  w.push(archive, 0);
  const s = w.finish();
  assert.equal(s.hasEndMarker, true);
  assert.equal(s.archiveSize, archive.length);
  return entries;
}

test("writeTar() output walks back to the same names, types, sizes and data", () => {
  const data = new Uint8Array(1000).map((_, i) => i);
  const archive = writeTar([
    { name: "file", type: "file", data, mode: 0o600, uid: 7, gid: 8, uname: "u", gname: "g", mtime: 1700000000 },
    { name: "dir/", type: "dir" },
    { name: "sym", type: "symlink", linkname: "file" },
  ]);
  const [f, d, s] = walk(archive);
  assert.equal(dec.decode(f.name), "file");
  assert.equal(f.size, 1000);
  assert.deepEqual(archive.subarray(f.dataOffset, f.dataOffset + 1000), data);
  assert.deepEqual([f.mode, f.uid, f.gid, dec.decode(f.uname), dec.decode(f.gname), f.mtime], [0o600, 7, 8, "u", "g", 1700000000]);
  assert.deepEqual([d.typeflag, d.mode], [0x35, 0o755]);
  assert.deepEqual([s.typeflag, dec.decode(s.linkname)], [0x32, "file"]);
});

test("writeTar() splits a long name into a USTAR prefix and uses PAX only when it must", () => {
  const splittable = "p/".repeat(60) + "name"; // 124 bytes with a '/' near the middle
  const unsplittable = "x".repeat(150);
  const entries = walk(writeTar([
    { name: splittable, type: "file" },
    { name: unsplittable, type: "file" },
    { name: "l", type: "symlink", linkname: "t".repeat(200) },
  ]));
  assert.equal(dec.decode(entries[0].name), splittable);
  assert.equal(entries[0].paxRecords.length, 0);
  assert.equal(dec.decode(entries[1].name), unsplittable);
  assert.deepEqual(entries[1].paxRecords.map((r) => dec.decode(r.key)), ["path"]);
  assert.equal(dec.decode(entries[2].linkname), "t".repeat(200));
});

test("writeTar() stores large ids, fractional times and extra records in PAX", () => {
  const [e] = walk(writeTar([{ name: "f", type: "file", uid: 2 ** 31, mtime: 1.25, pax: [["SCHILY.xattr.user.a", new Uint8Array([0, 255])]] }]));
  assert.equal(e.uid, 2 ** 31);
  assert.deepEqual([e.mtime, e.mtimeNanos], [1, 250000000]);
  assert.deepEqual(e.paxRecords.find((r) => dec.decode(r.key) === "SCHILY.xattr.user.a")!.value, new Uint8Array([0, 255]));
});

test("TarWriter streams data in pieces and pads each entry", () => {
  const parts: Uint8Array[] = [];
  const w = new TarWriter((c) => parts.push(c));
  w.add({ name: "big", type: "file", size: 700 });
  w.writeData(new Uint8Array(300).fill(1));
  w.writeData(new Uint8Array(400).fill(2));
  assert.throws(() => w.writeData(new Uint8Array(1)), RangeError);
  w.add({ name: "after", type: "dir" });
  w.close();
  const archive = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) (archive.set(p, o), (o += p.length));
  const [big, after] = walk(archive);
  assert.equal(big.size, 700);
  assert.equal(after.dataOffset, 512 + 1024 + 512);
});

test("TarWriter refuses a new entry before the previous one's data is complete", () => {
  const w = new TarWriter(() => {});
  w.add({ name: "f", type: "file", size: 10 });
  assert.throws(() => w.add({ name: "g", type: "file" }), TypeError);
  assert.throws(() => w.close(), TypeError);
});
