// Cross-checks TarWalker against an independent reader, Python's tarfile, on
// archives Python writes in PAX, GNU and USTAR formats: long names and links,
// hardlinks, symlinks, devices, fifos, xattr records, non-UTF-8 names. Also
// reads our writer's output with tarfile. Skipped (with the reason) when
// python3 is missing; under CI=true that is a failure.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import process from "node:process";
import { spawnSync } from "node:child_process";
import { TarWalker, writeTar, type TarEntry } from "./mod.ts";

const python = spawnSync("python3", ["-c", "import tarfile"], { encoding: "utf8" });
const skip = python.status === 0 ? false : "python3 with tarfile is not available";
if (skip && process.env.CI === "true") throw new Error(`tar cross-check needs ${skip}`);

/** Python helper: `make` writes an archive, `list` lists one; both speak JSON on stdout. */
const SCRIPT = String.raw`
import base64, io, json, os, sys, tarfile

def fsbytes(s):
    return os.fsencode(s) if isinstance(s, str) else s

def make(fmt):
    buf = io.BytesIO()
    tf = tarfile.open(fileobj=buf, mode="w", format=fmt, encoding="utf-8", errors="surrogateescape")
    def add(name, type=tarfile.REGTYPE, data=b"", **kw):
        ti = tarfile.TarInfo(name)
        ti.type = type
        ti.size = len(data)
        ti.mtime = 1700000000
        for k, v in kw.items():
            setattr(ti, k, v)
        tf.addfile(ti, io.BytesIO(data) if type == tarfile.REGTYPE else None)
    add("./", tarfile.DIRTYPE, mode=0o755)
    add("./etc/hostname", data=b"box\n", uid=1000, gid=1000, uname="user", gname="grp", mode=0o640)
    long = fmt != tarfile.USTAR_FORMAT
    add("./" + "d" * 120 + "/" + "long-file-name-" + "x" * (110 if long else 20), data=b"L" * 1500)
    add("./link", tarfile.SYMTYPE, linkname="../" + "t" * (150 if long else 50))
    add("./hard", tarfile.LNKTYPE, linkname="./etc/hostname")
    add("./dev/null", tarfile.CHRTYPE, devmajor=1, devminor=3, mode=0o666)
    add("./dev/sda", tarfile.BLKTYPE, devmajor=8, devminor=0)
    add("./fifo", tarfile.FIFOTYPE)
    add("./caf\udce9-latin1", data=b"non-utf8 name")
    if long:
        add("./big-ids", data=b"ids", uid=3000000, gid=2097152)
    add("./empty", data=b"")
    if fmt == tarfile.PAX_FORMAT:
        add("./xattr", data=b"x", pax_headers={"SCHILY.xattr.user.test": "value", "mtime": "1700000000.25"})
    tf.close()
    return buf.getvalue()

def listing(data):
    out = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:", encoding="utf-8", errors="surrogateescape") as tf:
        for ti in tf:
            out.append({
                "name": fsbytes(ti.name).hex(), "size": ti.size, "offset_data": ti.offset_data,
                "mode": ti.mode, "linkname": fsbytes(ti.linkname).hex(), "type": ti.type.decode("latin1"),
                "uid": ti.uid, "gid": ti.gid, "uname": ti.uname, "devmajor": ti.devmajor, "devminor": ti.devminor,
            })
    return out

if sys.argv[1] == "make":
    fmt = {"pax": tarfile.PAX_FORMAT, "gnu": tarfile.GNU_FORMAT, "ustar": tarfile.USTAR_FORMAT}[sys.argv[2]]
    data = make(fmt)
    print(json.dumps({"tar": base64.b64encode(data).decode(), "entries": listing(data)}))
else:
    print(json.dumps({"entries": listing(base64.b64decode(sys.stdin.read()))}))
`;

interface PyEntry {
  name: string; size: number; offset_data: number; mode: number; linkname: string; type: string;
  uid: number; gid: number; uname: string; devmajor: number; devminor: number;
}

function py(args: string[], input?: string): { tar?: string; entries: PyEntry[] } {
  const r = spawnSync("python3", ["-c", SCRIPT, ...args], { input, encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`python3 failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

function walk(archive: Uint8Array): TarEntry[] {
  const entries: TarEntry[] = [];
  const w = new TarWalker({ onEntry: (e) => entries.push(e) });
  for (let i = 0; i < archive.length; i += 1000) w.push(archive.subarray(i, i + 1000), i);
  w.finish();
  return entries;
}

function compare(ours: TarEntry[], theirs: PyEntry[], what: string): void {
  assert.equal(ours.length, theirs.length, `${what}: entry count`);
  ours.forEach((e, i) => {
    const p = theirs[i];
    const where = `${what} entry ${i} (${Buffer.from(p.name, "hex").toString("latin1")})`;
    // tarfile strips the trailing '/' of directory names; we keep names raw.
    const name = e.typeflag === 0x35 && e.name.length > 1 && e.name[e.name.length - 1] === 0x2f ? e.name.subarray(0, -1) : e.name;
    assert.equal(hex(name), p.name, `${where}: name`);
    assert.equal(e.size, p.size, `${where}: size`);
    assert.equal(e.dataOffset, p.offset_data, `${where}: data offset`);
    assert.equal(e.mode, p.mode, `${where}: mode`);
    assert.equal(hex(e.linkname), p.linkname, `${where}: linkname`);
    assert.equal(String.fromCharCode(e.typeflag), p.type, `${where}: type`);
    assert.equal(e.uid, p.uid, `${where}: uid`);
    assert.equal(e.gid, p.gid, `${where}: gid`);
    assert.equal(Buffer.from(e.uname).toString("utf8"), p.uname, `${where}: uname`);
    assert.deepEqual([e.devmajor, e.devminor], [p.devmajor, p.devminor], `${where}: devices`);
  });
}

for (const format of ["pax", "gnu", "ustar"] as const) {
  test(`TarWalker agrees with Python's tarfile on a ${format.toUpperCase()} archive`, { skip }, () => {
    const made = py(["make", format]);
    compare(walk(new Uint8Array(Buffer.from(made.tar!, "base64"))), made.entries, format);
  });
}

test("TarWalker keeps PAX xattr records and sub-second mtimes from a Python archive", { skip }, () => {
  const made = py(["make", "pax"]);
  const x = walk(new Uint8Array(Buffer.from(made.tar!, "base64"))).find((e) => Buffer.from(e.name).toString() === "./xattr")!;
  const records = Object.fromEntries(x.paxRecords.map((r) => [Buffer.from(r.key).toString(), Buffer.from(r.value).toString()]));
  assert.equal(records["SCHILY.xattr.user.test"], "value");
  assert.deepEqual([x.mtime, x.mtimeNanos], [1700000000, 250000000]);
});

test("Python's tarfile reads writeTar output the way TarWalker does", { skip }, () => {
  const archive = writeTar([
    { name: "dir/", type: "dir" },
    { name: "dir/file", type: "file", data: new TextEncoder().encode("hello"), uid: 5, uname: "me", mtime: 1700000000 },
    { name: "p/".repeat(90) + "deep", type: "file", data: new Uint8Array(600) },
    { name: "n".repeat(180), type: "symlink", linkname: "t".repeat(130) },
    { name: "dir/hard", type: "hardlink", linkname: "dir/file" },
    { name: "dev", type: "char", devmajor: 4, devminor: 64, mode: 0o620 },
    { name: "fifo", type: "fifo" },
    { name: "big-uid", type: "file", uid: 10_000_000, mtime: 1.5, pax: [["SCHILY.xattr.user.k", new Uint8Array([0, 1, 255])]] },
  ]);
  const theirs = py(["list"], Buffer.from(archive).toString("base64")).entries;
  compare(walk(archive), theirs, "writeTar");
});
