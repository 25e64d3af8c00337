// LayerFs on hand-written TOCs (hostile names, replacement, hardlinks,
// whiteouts, reads) and on the TOCs of the real `sample` and `tricky`
// fixture layers (built with buildZtoc) read through a LayerReader over the
// gunzipped tar bytes.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { before, describe, test } from "node:test";
import { FormatError } from "../../core-wasm/src/errors.ts";
import type { TocEntry, TocEntryType } from "../../core-wasm/src/ztoc/mod.ts";
import { makeRdev, S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, type FuseDirEntry } from "../fuse/mod.ts";
import { BytesLayerReader, ensureFixtureImages, loadFixtureLayers, type FixtureLayer } from "../../test/fakes/layer_fixture.ts";
import { parseModTime } from "./_mod_time.ts";
import { LayerFs } from "./mod.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const DIGEST = "sha256:" + "ab".repeat(32);

function e(name: string | Uint8Array, type: TocEntryType, extra: Partial<TocEntry> = {}): TocEntry {
  return {
    name: typeof name === "string" ? enc.encode(name) : name, type, uncompressedOffset: 0, uncompressedSize: 0,
    linkname: new Uint8Array(0), mode: type === "dir" ? 0o755 : 0o644, uid: 0, gid: 0, uname: new Uint8Array(0),
    gname: new Uint8Array(0), modTime: enc.encode("2023-11-14T22:13:20Z"), devmajor: 0, devminor: 0, xattrs: [], ...extra,
  };
}
const link = (name: string, type: "hardlink" | "symlink", target: string) => e(name, type, { linkname: enc.encode(target), mode: 0o777 });
const file = (name: string | Uint8Array, offset: number, size: number, extra: Partial<TocEntry> = {}) => e(name, "reg", { uncompressedOffset: offset, uncompressedSize: size, ...extra });

/** Hand-written TOCs over bytes that are not a tar: the §8.6 header check is off (tested on real layers below). */
function build(toc: TocEntry[], bytes = new Uint8Array(1 << 16)): { fs: LayerFs; reader: BytesLayerReader; logs: string[]; reads: number[] } {
  const reader = new BytesLayerReader(bytes);
  const logs: string[] = [];
  const reads: number[] = [];
  const fs = new LayerFs(toc, reader, { layerDigest: DIGEST, log: (l) => logs.push(l), onRead: (n) => reads.push(n), verifyHeaders: false });
  return { fs, reader, logs, reads };
}

function at(fs: LayerFs, path: string | Uint8Array): number {
  const id = fs.resolvePath(path);
  assert.notEqual(id, null, `${typeof path === "string" ? path : dec.decode(path)} exists`);
  return id!;
}

function names(fs: LayerFs, path: string): string[] {
  return [...fs.readdir(at(fs, path), 0, 0, false) as Iterable<FuseDirEntry>].map((d) => dec.decode(d.name));
}

async function readAll(fs: LayerFs, id: number): Promise<Uint8Array> {
  const size = fs.getattr(id).size;
  const chunks: Uint8Array[] = [];
  for (let off = 0; off < size; off += 1 << 20) chunks.push((await fs.read(id, 0, off, 1 << 20)).slice());
  return Buffer.concat(chunks);
}

describe("parseModTime()", () => {
  test("reads Go RFC 3339 text: fractions, zones, pre-epoch and far years", () => {
    assert.deepEqual(parseModTime(enc.encode("2023-11-14T22:13:20.123456789Z")), { sec: 1700000000, nsec: 123456789 });
    assert.deepEqual(parseModTime(enc.encode("2023-11-14T22:13:20.5Z")), { sec: 1700000000, nsec: 500000000 });
    assert.deepEqual(parseModTime(enc.encode("1969-12-31T23:59:59Z")), { sec: -1, nsec: 0 });
    assert.deepEqual(parseModTime(enc.encode("2023-11-15T00:13:20+02:00")), { sec: 1700000000, nsec: 0 });
    assert.deepEqual(parseModTime(enc.encode("2300-01-01T00:00:00Z")), { sec: 10413792000, nsec: 0 });
    assert.deepEqual(parseModTime(enc.encode("0000-01-01T00:00:00Z")), { sec: -62167219200, nsec: 0 });
    for (const bad of ["", "yesterday", "2023-13-01T00:00:00Z", "2023-11-14 22:13:20Z", "2023-11-14T22:13:20"]) {
      assert.equal(parseModTime(enc.encode(bad)), null, bad);
    }
  });
});

describe("LayerFs tree from a TOC", () => {
  test("cleans names, creates implicit parents 0755, counts directory links", () => {
    const { fs } = build([
      e("./", "dir", { mode: 0o700, uid: 5 }), file("./a/./b//c.txt", 0, 3), file("/abs/x", 0, 1), e("a/d/", "dir"),
    ]);
    const root = fs.getattr(1);
    assert.equal(root.mode, S_IFDIR | 0o700, "./ sets the root's attributes");
    assert.equal(root.uid, 5);
    assert.equal(root.nlink, 4, "root: 2 + a + abs");
    assert.deepEqual(names(fs, ""), [".", "..", "a", "abs"]);
    const a = fs.getattr(at(fs, "a"));
    assert.equal(a.mode, S_IFDIR | 0o755);
    assert.equal(a.mtimeSec, 0, "implicit parents have mtime 0");
    assert.equal(a.nlink, 4, "a: 2 + b + d");
    assert.equal(fs.getattr(at(fs, "a/b/c.txt")).size, 3);
    assert.equal(fs.getattr(at(fs, "abs/x")).size, 1);
    assert.equal(fs.lookup(1, enc.encode("a"))!.nodeid, at(fs, "a"));
    assert.equal(fs.lookup(1, enc.encode("nope")), null);
  });

  test("hostile names are skipped with a log line and never escape the root", () => {
    const { fs, logs } = build([
      file("../x", 0, 1), file("a/../../etc/passwd", 0, 1), file("ok/../y", 0, 1), file("fine", 0, 1),
      link("sym", "symlink", "/etc"), file("sym/shadow", 0, 1), file("f", 0, 1), file("f/under-file", 0, 1),
      file(new Uint8Array([0x61, 0, 0x62]), 0, 1), file("z".repeat(256), 0, 1), file("./", 0, 1),
    ]);
    assert.deepEqual(names(fs, ""), [".", "..", "f", "fine", "sym"]);
    assert.equal(fs.resolvePath("etc"), null);
    assert.equal((fs.getattr(at(fs, "sym")).mode & S_IFMT), S_IFLNK, "the symlink stays a symlink");
    assert.equal(logs.length, 8, logs.join("\n"));
    assert.match(logs.join("\n"), /"\.\.\/x".*"\.\." component/);
    assert.match(logs.join("\n"), /"sym\/shadow".*parent "sym" is not a directory/);
    assert.match(logs.join("\n"), /NUL byte/);
    assert.match(logs.join("\n"), /256 bytes long/);
    assert.match(logs.join("\n"), /cannot replace the root/);
    for (const l of logs) assert.ok(l.includes(DIGEST), "each line names the layer");
  });

  test("later entries replace earlier ones; a dir entry over a dir keeps its children", () => {
    const { fs } = build([
      file("dup", 0, 1), file("dup", 10, 2, { mode: 0o600 }),
      file("d/child", 0, 1), e("d/", "dir", { mode: 0o700 }),
      file("t", 0, 1), e("t/", "dir"), file("t/in", 0, 1),
      e("u/", "dir"), e("u/sub/", "dir"), file("u", 0, 4),
    ]);
    const dup = fs.getattr(at(fs, "dup"));
    assert.deepEqual([dup.size, dup.mode], [2, S_IFREG | 0o600]);
    assert.equal(fs.getattr(at(fs, "d")).mode, S_IFDIR | 0o700);
    assert.deepEqual(names(fs, "d"), [".", "..", "child"]);
    assert.equal(fs.getattr(at(fs, "t")).mode & S_IFMT, S_IFDIR, "file replaced by a directory");
    assert.equal(fs.getattr(at(fs, "u")).mode & S_IFMT, S_IFREG, "directory replaced by a file");
    assert.equal(fs.getattr(1).nlink, 4, "root: 2 + d + t (u is a file now)");
    const ids = new Set([at(fs, "dup"), at(fs, "d"), at(fs, "t"), at(fs, "u"), 1]);
    assert.equal(ids.size, 5, "ids are distinct");
    assert.ok(at(fs, "u") > at(fs, "u") - 1 && fs.getattr(at(fs, "u")).ino === at(fs, "u") + 3);
  });

  test("hardlinks share one node; nlink counts names; bad targets are a FormatError", () => {
    const { fs } = build([file("t", 100, 5), link("h1", "hardlink", "t"), link("x/h2", "hardlink", "./t"), link("h3", "hardlink", "/t")]);
    const ids = ["t", "h1", "x/h2", "h3"].map((p) => at(fs, p));
    assert.equal(new Set(ids).size, 1);
    assert.equal(fs.getattr(ids[0]).nlink, 4);
    const replaced = build([file("t", 0, 1), link("h", "hardlink", "t"), file("h", 0, 2)]).fs;
    assert.equal(replaced.getattr(at(replaced, "t")).nlink, 1, "replacing a link name drops a link");
    assert.throws(() => build([link("h", "hardlink", "missing")]), (err: unknown) => err instanceof FormatError && /"h" is a hardlink to "missing", which is not an earlier entry/.test(err.message));
    assert.throws(() => build([e("d/", "dir"), link("h", "hardlink", "d")]), /hardlink to the directory "d"/);
    assert.throws(() => build([link("h", "hardlink", "../t")]), FormatError);
    assert.throws(() => build([file("f", -1, 1)]), /offset -1/);
    const sparse = { key: enc.encode("GNU.sparse.major"), value: enc.encode("1") };
    assert.throws(() => build([file("s.bin", 512, 4096, { xattrs: [sparse] })]), (err: unknown) => err instanceof FormatError && /"s.bin" is a PAX sparse file/.test(err.message));
  });

  test("symlinks, devices and fifos carry their attributes", () => {
    const { fs } = build([
      e("s", "symlink", { linkname: enc.encode("target/path"), mode: 0o644 }), e("c", "char", { devmajor: 4095, devminor: 1048575, mode: 0o600 }),
      e("b", "block", { devmajor: 7, devminor: 1, mode: 0o660, gid: 6 }), e("p", "fifo"),
      file("sx", 0, 1, { mode: 0o107755, modTime: enc.encode("2023-11-14T22:13:20.000000001Z") }),
    ]);
    const s = fs.getattr(at(fs, "s"));
    assert.deepEqual([s.mode, s.size], [S_IFLNK | 0o777, 11], "symlinks are 0777 as on Linux, whatever the tar mode");
    assert.equal(dec.decode(fs.readlink(at(fs, "s"))), "target/path");
    assert.throws(() => fs.readlink(at(fs, "c")), /EINVAL|errno 22/);
    assert.deepEqual([fs.getattr(at(fs, "c")).mode, fs.getattr(at(fs, "c")).rdev], [S_IFCHR | 0o600, makeRdev(4095, 1048575)]);
    assert.deepEqual([fs.getattr(at(fs, "b")).mode, fs.getattr(at(fs, "b")).rdev, fs.getattr(at(fs, "b")).gid], [S_IFBLK | 0o660, makeRdev(7, 1), 6]);
    assert.equal(fs.getattr(at(fs, "p")).mode, S_IFIFO | 0o644);
    const sx = fs.getattr(at(fs, "sx"));
    assert.deepEqual([sx.mode, sx.mtimeSec, sx.mtimeNsec], [S_IFREG | 0o7755, 1700000000, 1], "type bits in mode are ignored, special bits kept");
  });

  test("whiteouts become 0:0 char devices, opaque markers mark the directory, .wh. names vanish", () => {
    const { fs } = build([
      file("d/.wh.gone", 0, 0, { mode: 0, modTime: enc.encode("2020-01-01T00:00:00Z") }), file("d/.wh.kept", 0, 0), file("d/kept", 0, 1),
      file("o/.wh..wh..opq", 0, 0), file("o/new", 0, 1), e("d/.wh.dir", "dir"), file("d/.wh.", 0, 0),
    ]);
    assert.deepEqual(names(fs, "d"), [".", "..", "dir", "gone", "kept"]);
    const gone = fs.lookup(at(fs, "d"), enc.encode("gone"))!;
    assert.equal(gone.attr.mode, S_IFCHR, "no permission bits");
    assert.deepEqual([gone.attr.rdev, gone.attr.size, gone.attr.uid, gone.attr.gid, gone.attr.nlink, gone.attr.mtimeSec], [0, 0, 0, 0, 1, 1577836800]);
    assert.equal(fs.getattr(at(fs, "d/kept")).mode & S_IFMT, S_IFREG, "a real entry beats its whiteout");
    assert.equal(fs.getattr(at(fs, "d/dir")).mode, S_IFCHR);
    assert.equal(fs.getattr(at(fs, "d")).nlink, 2, "the whited-out .wh.dir directory no longer counts");
    for (const n of [".wh.gone", ".wh.kept", ".wh..wh..opq", ".wh."]) assert.equal(fs.lookup(at(fs, "d"), enc.encode(n)), null, n);
    assert.deepEqual(names(fs, "o"), [".", "..", "new"]);
    assert.equal(dec.decode(fs.getxattr(at(fs, "o"), enc.encode("trusted.overlay.opaque"))!), "y");
    assert.deepEqual(fs.listxattr(at(fs, "o")).map((n) => dec.decode(n)), ["trusted.overlay.opaque"]);
    assert.equal(fs.getxattr(at(fs, "d"), enc.encode("trusted.overlay.opaque")), null);
    const user = new LayerFs([file("o/.wh..wh..opq", 0, 0)], new BytesLayerReader(new Uint8Array(0)), { layerDigest: DIGEST, opaqueXattr: "both" });
    assert.deepEqual(user.listxattr(at(user, "o")).map((n) => dec.decode(n)), ["trusted.overlay.opaque", "user.overlay.opaque"]);
  });

  test("xattrs come from SCHILY.xattr.* PAX records only", () => {
    const x = (k: string, v: Uint8Array | string) => ({ key: enc.encode(k), value: typeof v === "string" ? enc.encode(v) : v });
    const { fs } = build([file("f", 0, 1, { xattrs: [x("SCHILY.xattr.security.capability", new Uint8Array([1, 0, 0, 2])), x("SCHILY.xattr.user.e", ""), x("mtime", "1.5"), x("LIBARCHIVE.xattr.user.la", "eA==")] })]);
    const id = at(fs, "f");
    assert.deepEqual(fs.listxattr(id).map((n) => dec.decode(n)), ["security.capability", "user.e"]);
    assert.deepEqual(fs.getxattr(id, enc.encode("security.capability")), new Uint8Array([1, 0, 0, 2]));
    assert.deepEqual(fs.getxattr(id, enc.encode("user.e")), new Uint8Array(0));
    assert.equal(fs.getxattr(id, enc.encode("user.la")), null);
    assert.equal(fs.getxattr(id, enc.encode("security.selinux")), null);
  });

  test("reads are clamped to the file, zero-size files never reach the reader, reader errors propagate", async () => {
    const bytes = new Uint8Array(1000).map((_, i) => i & 0xff);
    const { fs, reader, reads } = build([file("f", 100, 50), file("empty", 200, 0), e("d/", "dir")], bytes);
    const f = at(fs, "f");
    assert.deepEqual(fs.open(f, 0), { fh: 0, keepCache: true });
    assert.deepEqual(await fs.read(f, 0, 0, 4096), bytes.subarray(100, 150));
    assert.deepEqual(await fs.read(f, 0, 40, 20), bytes.subarray(140, 150));
    assert.equal((await fs.read(f, 0, 50, 10)).length, 0);
    assert.deepEqual(reader.calls, [{ offset: 100, length: 50 }, { offset: 140, length: 10 }]);
    assert.deepEqual(reads, [50, 10]);
    assert.equal((await fs.read(at(fs, "empty"), 0, 0, 4096)).length, 0);
    assert.equal(reader.calls.length, 2, "no reader call for an empty file");
    assert.throws(() => fs.open(at(fs, "d"), 0), /errno 5|EIO/);
    reader.fail = new Error("span fetch failed");
    await assert.rejects(fs.read(f, 0, 0, 10), /span fetch failed/);
    assert.match(dec.decode(fs.stateJson()), /"error":"span fetch failed"/, "recorded for the state file");
  });

  test("the §8.7 state directory: found by name in the root only, never listed, JSON with fetch stats", async () => {
    let fetched = 250;
    const fs = new LayerFs([file(".soci-snapshotter/x", 0, 1), file("a", 0, 1), e("d/", "dir")], new BytesLayerReader(new Uint8Array(8)), { layerDigest: DIGEST, verifyHeaders: false, fetchStats: () => ({ size: 1000, fetchedSize: fetched }) });
    assert.deepEqual(names(fs, ""), [".", "..", "a", "d"], "not listed; a real entry of that name is shadowed, in listings too");
    const d = fs.lookup(1, enc.encode(".soci-snapshotter"))!;
    assert.deepEqual([d.attr.ino, d.attr.mode, d.attr.uid], [1, S_IFDIR | 0o500, 0]);
    assert.deepEqual(names(fs, ".soci-snapshotter"), [".", "..", `${DIGEST}.json`]);
    assert.equal(fs.lookup(at(fs, "d"), enc.encode(".soci-snapshotter")), null, "only in the root");
    const f = fs.lookup(d.nodeid, enc.encode(`${DIGEST}.json`))!;
    assert.deepEqual([f.attr.ino, f.attr.mode], [2, S_IFREG | 0o400]);
    assert.deepEqual(fs.open(f.nodeid, 0), { fh: 0, directIo: true });
    const want = `{"digest":"${DIGEST}","size":1000,"fetchedSize":250,"fetchedPercent":25}\n`;
    assert.equal(dec.decode(await fs.read(f.nodeid, 0, 0, 4096)), want);
    assert.equal(f.attr.size, want.length);
    fetched = 1000;
    assert.match(dec.decode(await fs.read(f.nodeid, 0, 0, 4096)), /"fetchedPercent":100/);
    assert.equal(fs.fileCount, 5, "root, the shadowed .soci-snapshotter dir and its file, a, d");
  });

  test("readdir: . and .., byte order, cookies continue; statfs; 35k entries stay cheap", (t) => {
    const { fs } = build([file("b", 0, 5000), file("B", 0, 1), file("a\xff", 0, 1), e("dir/", "dir"), file("dir/x", 0, 1)]);
    const all = [...fs.readdir(1, 0, 0, true) as Iterable<FuseDirEntry>];
    assert.deepEqual(all.map((d) => d.name.length > 0 && dec.decode(d.name)), [".", "..", "B", "a\xff", "b", "dir"]);
    assert.deepEqual(all.map((d) => d.nextOffset), [1, 2, 3, 4, 5, 6]);
    assert.equal(all[1].entry.nodeid, 1, "root's .. is itself");
    assert.equal(all[5].entry.attr.mode & S_IFMT, S_IFDIR, "dirent type from mode");
    assert.deepEqual([...fs.readdir(1, 0, 4, false) as Iterable<FuseDirEntry>].map((d) => dec.decode(d.name)), ["b", "dir"]);
    assert.equal([...fs.readdir(at(fs, "dir"), 0, 0, false) as Iterable<FuseDirEntry>][1].entry.nodeid, 1);
    assert.deepEqual(fs.statfs(), { blocks: 2, bfree: 0, bavail: 0, files: 6, ffree: 0, bsize: 4096, namelen: 255, frsize: 4096 });
    assert.equal(fs.totalSize, 5003);
    const big: TocEntry[] = [];
    for (let i = 0; i < 35_000; i++) big.push(file(`usr/share/d${i % 100}/f${i}`, 0, 10));
    const heap = process.memoryUsage().heapUsed;
    const t0 = performance.now();
    const bigFs = new LayerFs(big, new BytesLayerReader(new Uint8Array(10)), { layerDigest: DIGEST });
    const ms = performance.now() - t0;
    const perEntry = (process.memoryUsage().heapUsed - heap) / 35_000;
    assert.equal(bigFs.fileCount, 35_000 + 100 + 3);
    t.diagnostic(`35,000-entry TOC: tree built in ${ms.toFixed(0)} ms, ~${perEntry.toFixed(0)} heap bytes per entry`);
    assert.ok(ms < 2000, `built in ${ms.toFixed(0)} ms`);
    assert.ok(perEntry < 1024, `${perEntry.toFixed(0)} bytes per entry`);
  });
});

describe("LayerFs over real fixture layers", { timeout: 600_000 }, () => {
  let sample: FixtureLayer[] = [];
  let tricky: FixtureLayer[] = [];
  before(async () => {
    await ensureFixtureImages(["sample", "tricky"]);
    sample = await loadFixtureLayers("sample");
    tricky = await loadFixtureLayers("tricky");
  });

  function mount(l: FixtureLayer): { fs: LayerFs; logs: string[] } {
    const logs: string[] = [];
    return { fs: new LayerFs(l.toc, new BytesLayerReader(l.tar), { layerDigest: l.digest, log: (x) => logs.push(x) }), logs };
  }

  test("every regular file of every layer reads back its tar bytes (sample + tricky)", async () => {
    let files = 0;
    for (const l of [...sample, ...tricky]) {
      if (/PAX sparse/.test(l.note)) {
        assert.throws(() => mount(l), /is a PAX sparse file/);
        continue;
      }
      const { fs } = mount(l);
      for (const t of l.toc) {
        if (t.type !== "reg") continue;
        const id = fs.resolvePath(t.name);
        if (id === null || (fs.getattr(id).mode & S_IFMT) !== S_IFREG || fs.getattr(id).size !== t.uncompressedSize) continue; // replaced or whited out
        const got = await readAll(fs, id);
        const want = l.tar.subarray(t.uncompressedOffset, t.uncompressedOffset + t.uncompressedSize);
        assert.equal(createHash("sha256").update(got).digest("hex"), createHash("sha256").update(want).digest("hex"), `${l.digest} ${dec.decode(t.name)}`);
        files++;
      }
    }
    assert.ok(files > 150, `${files} files compared`);
  });

  test("§8.6 header check: every file of the real layers passes (one header read per file); a zTOC pointing a name at another file's bytes is EIO", async () => {
    const l = tricky[0];
    const reader = new BytesLayerReader(l.tar);
    const checked = new LayerFs(l.toc, reader, { layerDigest: l.digest });
    const regs = l.toc.filter((t) => t.type === "reg" && t.uncompressedSize > 0 && checked.resolvePath(t.name) !== null);
    const first = regs.find((t) => checked.getattr(checked.resolvePath(t.name)!).size === t.uncompressedSize)!;
    const id = checked.resolvePath(first.name)!;
    await checked.read(id, 0, 0, 10);
    await checked.read(id, 0, 0, 10);
    const headerReads = reader.calls.filter((c) => c.offset + c.length === first.uncompressedOffset);
    assert.equal(headerReads.length, 1, "the header region is read once per file");
    assert.equal(reader.calls.length, 3, "header + two data reads");

    // Two regular files swap their offsets and sizes: each name now points at the other's bytes.
    const [a, b] = regs.filter((t) => t.uncompressedSize > 0 && l.toc.filter((u) => u.name === t.name).length === 1).slice(0, 2);
    const lying = l.toc.map((t) => t === a ? { ...t, uncompressedOffset: b.uncompressedOffset, uncompressedSize: b.uncompressedSize }
      : t === b ? { ...t, uncompressedOffset: a.uncompressedOffset, uncompressedSize: a.uncompressedSize } : t);
    const logs: string[] = [];
    const r2 = new BytesLayerReader(l.tar);
    const bad = new LayerFs(lying, r2, { layerDigest: l.digest, log: (x) => logs.push(x) });
    const aid = bad.resolvePath(a.name)!;
    await assert.rejects(bad.read(aid, 0, 0, 4096), /errno 5|EIO/);
    assert.equal(logs.length, 1);
    assert.match(logs[0], /Refusing to serve .* its tar header says name /);
    assert.match(dec.decode(bad.stateJson()), /Refusing to serve/);
    const calls = r2.calls.length;
    await assert.rejects(bad.read(aid, 0, 0, 4096), /errno 5|EIO/);
    assert.equal(r2.calls.length, calls, "a refused file fails at once, without reading again");
    assert.equal(logs.length, 1, "and is logged once");
  });

  test("§8.6 header check: a mode, owner, time or xattr that differs from the header is EIO naming the field; off with verifyHeaders: false", async () => {
    const l = tricky[0];
    const target = l.toc.find((t) => t.type === "reg" && t.uncompressedSize > 0 && new LayerFs(l.toc, new BytesLayerReader(l.tar), { layerDigest: l.digest }).resolvePath(t.name) !== null)!;
    const cases: [Partial<TocEntry>, RegExp][] = [
      [{ mode: target.mode ^ 0o004 }, /mode /],
      [{ uid: target.uid + 1 }, /owner /],
      [{ modTime: enc.encode("2001-01-01T00:00:00Z") }, /mod time /],
      [{ xattrs: [...target.xattrs, { key: enc.encode("SCHILY.xattr.user.extra"), value: enc.encode("x") }].sort((x, y) => Buffer.compare(x.key, y.key)) }, /xattrs /],
      [{ linkname: enc.encode("elsewhere") }, /link name /],
    ];
    for (const [change, why] of cases) {
      const logs: string[] = [];
      const toc = l.toc.map((t) => (t === target ? { ...t, ...change } : t));
      const fs = new LayerFs(toc, new BytesLayerReader(l.tar), { layerDigest: l.digest, log: (x) => logs.push(x) });
      await assert.rejects(fs.read(fs.resolvePath(target.name)!, 0, 0, 16), /errno 5|EIO/, String(why));
      assert.match(logs.join("\n"), why);
      const off = new LayerFs(toc, new BytesLayerReader(l.tar), { layerDigest: l.digest, verifyHeaders: false });
      assert.equal((await off.read(off.resolvePath(target.name)!, 0, 0, 16)).length, Math.min(16, target.uncompressedSize));
    }
    // The same instant written in another zone (upstream writes the builder's local zone) passes.
    const t = parseModTime(target.modTime)!;
    const d = new Date((t.sec - 3600) * 1000);
    const p2 = (n: number) => String(n).padStart(2, "0");
    const zoned = `${d.getUTCFullYear()}-${p2(d.getUTCMonth() + 1)}-${p2(d.getUTCDate())}T${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())}${t.nsec ? "." + String(t.nsec).padStart(9, "0").replace(/0+$/, "") : ""}-01:00`;
    const fs = new LayerFs(l.toc.map((u) => (u === target ? { ...u, modTime: enc.encode(zoned) } : u)), new BytesLayerReader(l.tar), { layerDigest: l.digest });
    assert.equal((await fs.read(fs.resolvePath(target.name)!, 0, 0, 16)).length, Math.min(16, target.uncompressedSize));
  });

  test("§8.6 header check: a file whose data starts too close to the previous entry's end (no room for a header) is EIO without a read", async () => {
    const l = tricky[0];
    const regs = l.toc.filter((u) => u.type === "reg" && u.uncompressedSize > 0);
    const [a, b] = [regs[0], regs[1]];
    // b's data moved to 100 bytes after a's data end: its header region would be negative or tiny.
    const lying = l.toc.map((t) => (t === b ? { ...t, uncompressedOffset: a.uncompressedOffset + a.uncompressedSize + 100 } : t));
    const reader = new BytesLayerReader(l.tar);
    const logs: string[] = [];
    const fs = new LayerFs(lying, reader, { layerDigest: l.digest, log: (x) => logs.push(x) });
    const id = fs.resolvePath(b.name);
    assert.notEqual(id, null);
    await assert.rejects(fs.read(id!, 0, 0, 16), /errno 5|EIO/);
    assert.match(logs.join("\n"), /no room for a header/);
  });

  test("§8.6 header check: a failed header read is EIO for that read only; concurrent first reads share one header read", async () => {
    const l = tricky[0];
    const reader = new BytesLayerReader(l.tar);
    const fs = new LayerFs(l.toc, reader, { layerDigest: l.digest });
    const t = l.toc.find((u) => u.type === "reg" && u.uncompressedSize > 100 && fs.resolvePath(u.name) !== null && fs.getattr(fs.resolvePath(u.name)!).size === u.uncompressedSize)!;
    const id = fs.resolvePath(t.name)!;
    reader.fail = new Error("registry down");
    await assert.rejects(fs.read(id, 0, 0, 10), /registry down/);
    reader.fail = null;
    const before = reader.calls.length;
    const got = await Promise.all([fs.read(id, 0, 0, 10), fs.read(id, 0, 10, 10), fs.read(id, 0, 20, 10)]);
    assert.deepEqual(got.map((g) => g.length), [10, 10, 10]);
    assert.equal(reader.calls.slice(before).filter((c) => c.offset + c.length === t.uncompressedOffset).length, 1, "one header read for three concurrent first reads");
  });

  test("tricky layer 1: names, hardlinks, devices, modes, owners, times, xattrs", async () => {
    const { fs, logs } = mount(tricky[0]);
    assert.deepEqual(logs, []);
    const target = at(fs, "links/target.txt");
    for (const p of ["links/hard-same-dir", "other/hard-across-dirs", "links/hard-dotslash"]) assert.equal(at(fs, p), target, p);
    assert.equal(fs.getattr(target).nlink, 4);
    assert.equal(at(fs, "links/hard-to-long-name"), at(fs, "names/" + "b".repeat(120)));
    assert.equal(fs.getattr(at(fs, "other")).mode, S_IFDIR | 0o750, "late directory entry wins over the implicit one");
    assert.equal(fs.resolvePath("names/header-name-loses"), null);
    assert.notEqual(fs.resolvePath("names/gnu-long-name-wins-over-pax-path-" + "g".repeat(80)), null);
    assert.notEqual(fs.resolvePath(new Uint8Array([...enc.encode("names/raw-latin1-caf"), 0xe9, ...enc.encode(".txt")])), null);
    assert.equal(dec.decode(fs.readlink(at(fs, "links/sym-abs"))), "/links/target.txt");
    assert.equal(fs.getattr(at(fs, "dev/big-minor")).rdev, makeRdev(4095, 1048575));
    assert.equal(fs.getattr(at(fs, "dev/loop-ish")).mode, S_IFBLK | 0o660);
    assert.equal(fs.getattr(at(fs, "dev/fifo")).mode & S_IFMT, S_IFIFO);
    assert.equal(fs.getattr(at(fs, "modes/all-bits")).mode, S_IFREG | 0o7777);
    assert.equal(fs.getattr(at(fs, "modes/sticky-dir")).mode, S_IFDIR | 0o1777);
    assert.equal(fs.getattr(at(fs, "modes/dir-with-size")).size, 0);
    assert.equal(fs.getattr(at(fs, "owners/uid-3000000000")).uid, 3000000000);
    assert.deepEqual([fs.getattr(at(fs, "times/nanoseconds")).mtimeSec, fs.getattr(at(fs, "times/nanoseconds")).mtimeNsec], [1700000000, 123456789]);
    assert.equal(fs.getattr(at(fs, "times/pre-epoch")).mtimeSec, -1);
    assert.equal(fs.getattr(at(fs, "times/year-2100")).mtimeSec, 4102444800);
    assert.equal(dec.decode(fs.getxattr(at(fs, "xattrs"), enc.encode("user.dir"))!), "on a directory");
    assert.equal(fs.getxattr(at(fs, "xattrs/capability"), enc.encode("security.capability"))!.length, 20);
    assert.equal(dec.decode(fs.getxattr(at(fs, "xattrs/duplicate-key"), enc.encode("user.dup"))!), "second");
    assert.equal(dec.decode(await readAll(fs, at(fs, "dup/file.txt"))), "second version: the last entry wins\n");
    assert.equal(dec.decode(await readAll(fs, at(fs, "xattrs/pax-size"))), "12345");
    assert.equal(dec.decode(await readAll(fs, at(fs, "abs/file.txt"))), "absolute name in the archive\n");
    assert.equal(fs.getattr(at(fs, "implicit/a/b")).mode, S_IFDIR | 0o755);
    assert.equal(fs.getattr(at(fs, "late")).mode, S_IFDIR | 0o700);
    assert.equal(fs.getattr(at(fs, "v7/old-dir")).mode & S_IFMT, S_IFDIR);
  });

  test("tricky whiteout layer and sample layer 2: whiteouts and the opaque directory", () => {
    const wh = tricky.find((l) => /whiteouts/.test(l.note))!;
    const { fs } = mount(wh);
    for (const p of ["wh/remove-me.txt", "wh/dir-to-remove", "dup/file.txt"]) {
      const a = fs.getattr(at(fs, p));
      assert.deepEqual([a.mode, a.rdev, a.size], [S_IFCHR, 0, 0], p);
    }
    assert.equal(fs.getattr(at(fs, new Uint8Array([...enc.encode("gnu/latin1-caf"), 0xe9, ...enc.encode(".txt")]))).mode, S_IFCHR);
    assert.deepEqual(names(fs, "opaque"), [".", "..", "new.txt"]);
    assert.deepEqual(fs.getxattr(at(fs, "opaque"), enc.encode("trusted.overlay.opaque")), enc.encode("y"));
    assert.equal(names(fs, "wh").some((n) => n.startsWith(".wh.")), false);
    const top = mount(sample[sample.length - 1]).fs;
    const whiteouts = [...top.readdir(1, 0, 0, false) as Iterable<FuseDirEntry>];
    assert.ok(whiteouts.length >= 2);
    const empty = mount(tricky[tricky.length - 1]).fs;
    assert.deepEqual(names(empty, ""), [".", ".."]);
    assert.equal(empty.fileCount, 1);
  });
});
