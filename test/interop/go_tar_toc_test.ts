// TOC entries against Go's own archive/tar — the reader upstream's zTOC
// builder uses (test/interop/go_tar_toc.go, built with Debian's golang-go, Go
// 1.19 as upstream's golden files). Every field of every entry (raw name,
// type, data offset, size, link target, mode, ids, names, mod_time, devices,
// all PAX records) and the archive size must equal what Go reports, for tars
// from every writer a layer comes from: GNU tar in each of its formats (with
// sparse files, xattrs, long names, devices, odd ids and times), Python's
// tarfile in each of its formats, hand-made headers that exercise Go's merge
// rules, and every layer of the fixture images. Where Go fails, so must we.
// test/interop/fixture_ztoc_test.ts checks the same against our own Python
// reading of Go's rules (scripts/fixtures/tar_listing.py); this one asks Go.
import { before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, chownSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, symlinkSync, linkSync, utimesSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { buildZtoc, type TocEntry } from "../../core-wasm/src/ztoc/mod.ts";
import { blobPath, ensureFixtures, layerPolicy, SYNTHETIC_IMAGES, debianImagesPresent, ROOT } from "./_fixture_util.ts";

let dir = "";
let oracle = "";

before(() => {
  dir = mkdtempSync(join(tmpdir(), "soci-go-tar-"));
  oracle = join(dir, "go_tar_toc");
  // golang-go is a test prerequisite (scripts/setup.mjs): no Go is a failure, not a skip.
  execFileSync("go", ["build", "-o", oracle, join(ROOT, "test", "interop", "go_tar_toc.go")], {
    stdio: ["ignore", "inherit", "inherit"],
    env: { ...process.env, GOCACHE: join(dir, "gocache"), GOPATH: join(dir, "gopath"), GO111MODULE: "off", GOFLAGS: "" },
  });
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
});

interface GoEntry {
  name: string; type: string; offset: number; size: number; linkname: string; mode: number; uid: number; gid: number;
  uname: string; gname: string; mod_time: string; devmajor: number; devminor: number; xattrs: [string, string][];
}
type GoListing = { entries: GoEntry[]; end: number } | { entries: GoEntry[]; error: string; at: number };

function goListing(tarFile: string): GoListing {
  const r = spawnSync(oracle, [tarFile], { encoding: "utf8", maxBuffer: 1 << 30, env: { ...process.env, TZ: "UTC" } });
  assert.equal(r.status, 0, `oracle exited ${r.status}: ${r.stderr}`);
  const entries: GoEntry[] = [];
  for (const line of r.stdout.trim().split("\n")) {
    const o = JSON.parse(line);
    if ("end" in o) return { entries, end: o.end };
    if ("error" in o) return { entries, error: o.error, at: o.at };
    entries.push(o as GoEntry);
  }
  throw new Error("oracle output has no end line");
}

const b64 = (b: Uint8Array): string => Buffer.from(b).toString("base64");

function ourView(e: TocEntry): GoEntry {
  return {
    name: b64(e.name), type: e.type, offset: e.uncompressedOffset, size: e.uncompressedSize, linkname: b64(e.linkname),
    mode: e.mode >>> 0, uid: e.uid, gid: e.gid, uname: b64(e.uname), gname: b64(e.gname),
    mod_time: Buffer.from(e.modTime).toString("latin1"), devmajor: e.devmajor, devminor: e.devminor,
    xattrs: e.xattrs.map((x) => [b64(x.key), b64(x.value)] as [string, string]),
  };
}

async function ourToc(tar: Uint8Array): Promise<{ entries: TocEntry[]; size: number }> {
  async function* one() { yield tar; }
  const built = await buildZtoc(one(), { compression: "uncompressed", spanSize: 1 << 20, buildToolIdentifier: "test", upstreamCompat: true });
  return { entries: built.ztoc.toc, size: built.ztoc.uncompressedArchiveSize };
}

/** Compares our TOC of the plain tar at `tarFile` with Go's; `what` names the case in messages. */
async function compare(tarFile: string, what: string): Promise<number> {
  const go = goListing(tarFile);
  const tar = readFileSync(tarFile);
  if ("error" in go) {
    await assert.rejects(ourToc(tar), `${what}: Go fails (${go.error} at ${go.at}); so must we`);
    return 0;
  }
  const ours = await ourToc(tar);
  assert.equal(ours.entries.length, go.entries.length, `${what}: entry count`);
  go.entries.forEach((g, i) => {
    const name = Buffer.from(g.name, "base64").toString("latin1");
    assert.deepEqual(ourView(ours.entries[i]), g, `${what}: entry ${i} ${JSON.stringify(name)}`);
  });
  assert.equal(ours.size, go.end, `${what}: uncompressed_archive_size`);
  return go.entries.length;
}

// ------------------------------------------------------------------ writers

/** A source tree with what real layers hold, plus the cases writers encode differently. */
function makeTree(root: string): void {
  const p = (...s: string[]) => join(root, ...s);
  mkdirSync(p("etc", "deep", "er"), { recursive: true });
  writeFileSync(p("etc", "hostname"), "soci\n");
  writeFileSync(p("etc", "empty"), "");
  const big = Buffer.alloc(300_000);
  for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 24;
  writeFileSync(p("etc", "big.bin"), big);
  const longDir = p("etc", "deep", "er", "d".repeat(90));
  mkdirSync(longDir);
  writeFileSync(join(longDir, "f".repeat(120)), "long name\n"); // > 100 and > 155+100 with its dir
  symlinkSync("../" + "t".repeat(140), p("etc", "longlink"));
  symlinkSync("hostname", p("etc", "shortlink"));
  linkSync(p("etc", "hostname"), p("etc", "hardlink"));
  execFileSync("mkfifo", [p("etc", "fifo")]);
  execFileSync("mknod", [p("etc", "null"), "c", "1", "3"]);
  execFileSync("mknod", [p("etc", "loop9"), "b", "7", "9"]);
  writeFileSync(p("etc", "suid"), "#!/bin/sh\n");
  chmodSync(p("etc", "suid"), 0o4755);
  mkdirSync(p("tmp"));
  chmodSync(p("tmp"), 0o1777);
  writeFileSync(Buffer.concat([Buffer.from(p("etc") + "/latin1-"), Buffer.from([0xe9, 0xff, 0xfe])]), "not utf-8\n");
  writeFileSync(p("etc", "bigids"), "ids\n");
  chownSync(p("etc", "bigids"), 3_000_000_000, 70_000);
  writeFileSync(p("etc", "frac"), "fractional mtime\n");
  utimesSync(p("etc", "frac"), 1_000_000_000.5, 1_000_000_000.123456);
  writeFileSync(p("etc", "old"), "before 1970\n");
  utimesSync(p("etc", "old"), -100, -100);
  execFileSync("python3", ["-c", "import os,sys; os.setxattr(sys.argv[1], 'user.soci', b'\\x00\\x01 value')", p("etc", "hostname")]);
  // A sparse file: 8 MiB with data at 1 MiB and at the end.
  const fd = openSync(p("etc", "sparse"), "w");
  writeSync(fd, Buffer.from("data in a hole\n"), 0, 15, 1 << 20);
  writeSync(fd, Buffer.from("tail\n"), 0, 5, (8 << 20) - 5);
  closeSync(fd);
}

/** GNU tar formats (formats differ in how they encode long names, big ids, times, sparse files). */
const GNU_TAR_CASES: [string, string[]][] = [
  ["GNU tar --format=gnu", ["--format=gnu"]],
  ["GNU tar --format=oldgnu", ["--format=oldgnu"]],
  ["GNU tar --format=posix --xattrs --sparse (PAX sparse 1.0)", ["--format=posix", "--xattrs", "--xattrs-include=*", "--sparse"]],
  ["GNU tar --format=posix --sparse-version=0.0", ["--format=posix", "--sparse", "--sparse-version=0.0"]],
  ["GNU tar --format=posix --sparse-version=0.1", ["--format=posix", "--sparse", "--sparse-version=0.1"]],
  ["GNU tar --format=ustar", ["--format=ustar"]],
  ["GNU tar --format=v7", ["--format=v7"]],
];

test("GNU tar in every format: our TOC equals Go archive/tar's", async () => {
  const src = join(dir, "tree");
  makeTree(src);
  let n = 0;
  for (const [what, args] of GNU_TAR_CASES) {
    const out = join(dir, "gnu.tar");
    // ustar/v7 cannot hold some entries: tar warns, exits 2 and writes the rest.
    const r = spawnSync("tar", [...args, "-cf", out, "-C", src, "."], { encoding: "utf8" });
    assert.ok(r.status === 0 || (r.status === 2 && /ustar|v7/.test(what)), `${what}: tar exited ${r.status}: ${r.stderr}`);
    n += await compare(out, what);
  }
  // GNU sparse in gnu/oldgnu format is the old 'S' type: Go surfaces it and upstream fails; so do we.
  const sparseOld = join(dir, "sparse-old.tar");
  execFileSync("tar", ["--format=gnu", "--sparse", "-cf", sparseOld, "-C", src, "etc/sparse"]);
  const go = goListing(sparseOld);
  assert.ok("error" in go && /unsupported input tar entry 'S'/.test(go.error));
  n += await compare(sparseOld, "GNU tar --format=gnu --sparse ('S')");
  assert.ok(n > 100, `compared ${n} entries`);
});

const PY_FORMATS = ["GNU_FORMAT", "PAX_FORMAT", "USTAR_FORMAT"];

test("Python tarfile in every format: our TOC equals Go archive/tar's", async () => {
  const src = join(dir, "tree");
  if (!existsSync(src)) makeTree(src);
  for (const fmt of PY_FORMATS) {
    const out = join(dir, `py-${fmt}.tar`);
    execFileSync("python3", ["-c", [
      "import os, sys, tarfile",
      `t = tarfile.open(sys.argv[2], 'w', format=tarfile.${fmt})`,
      "for d, dirs, files in os.walk(sys.argv[1]):",
      "    dirs.sort()",
      "    for n in [d] + sorted(os.path.join(d, f) for f in files):",
      "        try: t.add(n, arcname=os.path.relpath(n, sys.argv[1]), recursive=False)",
      "        except ValueError: pass  # USTAR: name or id too long",
      "t.close()",
    ].join("\n"), src, out]);
    await compare(out, `Python tarfile ${fmt}`);
  }
});

/** Hand-made headers: Go's merge rules and number encodings. */
const PY_ODD = String.raw`
import io, sys, tarfile
out = open(sys.argv[1], 'wb')
def block(name=b'', mode=0o644, uid=0, gid=0, size=0, mtime=0, typ=b'0', link=b'', magic=b'ustar\x0000', uname=b'', gname=b'', dmaj=0, dmin=0, prefix=b'', raw=None):
    h = bytearray(512)
    def put(off, n, v):
        if isinstance(v, int): v = (b'%0*o' % (n - 1, v)) + b'\0'
        h[off:off + len(v)] = v
    put(0, 100, name); put(100, 8, mode); put(108, 8, uid); put(116, 8, gid); put(124, 12, size); put(136, 12, mtime)
    h[156:157] = typ; put(157, 100, link); h[257:265] = magic; put(265, 32, uname); put(297, 32, gname)
    put(329, 8, dmaj); put(337, 8, dmin); put(345, 155, prefix)
    for off, v in (raw or {}).items(): h[off:off + len(v)] = v
    h[148:156] = b' ' * 8
    h[148:156] = b'%06o\0 ' % sum(h)
    return bytes(h)
def data(b): return b + b'\0' * (-len(b) % 512)
def pax(recs, typ=b'x'):
    body = b''
    for k, v in recs:
        r = b' ' + k + b'=' + v + b'\n'
        n = len(r) + 1
        while len(str(n).encode()) + len(r) != n: n += 1
        body += str(n).encode() + r
    return block(b'PaxHeaders/x', size=len(body), typ=typ) + data(body)
def b256(n, width):
    return bytes([0x80]) + n.to_bytes(width - 1, 'big', signed=False) if n >= 0 else (n % (1 << (8 * width))).to_bytes(width, 'big')
w = out.write
w(block(b'olddir/', typ=b'\0', magic=b'\0' * 8))                              # V7 NUL type with a slash: dir
w(block(b'oldfile', typ=b'\0', magic=b'\0' * 8, size=3, uname=b'ignored')); w(data(b'abc'))
w(block(b'file', prefix=b'some/prefix/dir', size=2)); w(data(b'hi'))          # USTAR prefix
w(block(b'typebits', mode=0o100644, size=1)); w(data(b'x'))                 # type bits in mode
w(block(b'dirbits/', mode=0o40755, typ=b'5'))
w(block(b'b256', raw={108: b256(3000000000, 8), 116: b256(70000, 8), 136: b256(-1, 12)}))  # base-256 ids, mtime -1
w(block(b'far', mtime=0o77777777777))                                        # 2038+ octal mtime
w(block(b'dir-with-size/', typ=b'5', size=0))
w(pax([(b'mtime', b'-1.5'), (b'uid', b'4294967296'), (b'gname', b'g\xc3\xa9')])) # PAX fraction before 1970, uid mod 2^32
w(block(b'paxfrac', size=1)); w(data(b'y'))
w(pax([(b'path', b'first'), (b'path', b'second/dup'), (b'comment', b'x')]))   # duplicate key: last wins
w(block(b'short', size=0))
w(pax([(b'path', b''), (b'linkpath', b'')]))                                 # empty values: header fields stay
w(block(b'kept-name', typ=b'2', link=b'kept-link'))
w(pax([(b'path', b'pax/path'), (b'size', b'5')]))
w(block(b'L' * 0, typ=b'L', size=14)); w(data(b'gnu/long/name\0'))          # GNU long name after PAX path
w(block(b'x', size=0)); w(data(b'12345'))
w(block(b'', typ=b'K', size=12)); w(data(b'gnu/longlnk\0'))
w(block(b'hl', typ=b'1', link=b'short'))
w(pax([(b'SCHILY.xattr.user.a', b'\x00bin\xff'), (b'LIBARCHIVE.xattr.user.b', b'dmFs'), (b'atime', b'1.25'), (b'ctime', b'2')]))
w(block(b'xattrs', size=0))
w(block(b'dev', typ=b'3', dmaj=0o7777777, dmin=1))
w(block(b'hdronly-with-size', typ=b'6', size=1000))                          # fifo: no data area whatever size says
w(block(b'after-fifo', size=0))
w(b'\0' * 1024)
out.close()
`;

test("hand-made headers (V7 NUL types, prefix, type bits in mode, base-256, PAX fractions, duplicate and empty PAX values, GNU long names after PAX): our TOC equals Go's", async () => {
  const out = join(dir, "odd.tar");
  execFileSync("python3", ["-c", PY_ODD, out]);
  const n = await compare(out, "hand-made headers");
  assert.equal(n, 17, "entries of the hand-made tar");
  // An archive without an end marker, and a zero block followed by a header.
  const tar = readFileSync(out);
  const noEnd = join(dir, "noend.tar");
  writeFileSync(noEnd, tar.subarray(0, tar.length - 1024));
  await compare(noEnd, "no end marker");
  const badEnd = join(dir, "badend.tar");
  writeFileSync(badEnd, Buffer.concat([tar.subarray(0, tar.length - 1024), Buffer.alloc(512), tar.subarray(0, 512), Buffer.alloc(1024)]));
  await compare(badEnd, "zero block then a header");
  const global = join(dir, "global.tar");
  execFileSync("python3", ["-c", "import sys, tarfile\nt = tarfile.open(sys.argv[1], 'w', format=tarfile.PAX_FORMAT, pax_headers={'comment': 'g'})\nt.addfile(tarfile.TarInfo('a'))\nt.close()", global]);
  await compare(global, "PAX global header");
});

test("every layer of the fixture images: our TOC equals Go's", async () => {
  const names = [...SYNTHETIC_IMAGES, ...debianImagesPresent()];
  const fixtures = ensureFixtures(SYNTHETIC_IMAGES);
  let layers = 0;
  let entries = 0;
  const seen = new Set<string>();
  for (const name of names) {
    for (const m of fixtures.images[name]?.manifests ?? []) {
      for (const l of m.layers) {
        const policy = layerPolicy(l.media_type);
        if ((policy.kind !== "gzip" && policy.kind !== "uncompressed") || seen.has(l.digest)) continue;
        seen.add(l.digest);
        const blob = readFileSync(blobPath(name, l.digest));
        const tarFile = join(dir, "layer.tar");
        writeFileSync(tarFile, policy.kind === "gzip" ? gunzipSync(blob) : blob);
        entries += await compare(tarFile, `${name} layer ${l.digest}`);
        layers++;
      }
    }
  }
  assert.ok(layers >= 10 && entries > 100, `compared ${layers} layers, ${entries} entries`);
});
