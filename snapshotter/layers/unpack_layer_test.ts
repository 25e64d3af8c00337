import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { gzipSync } from "node:zlib";
import { FormatError } from "../../core-wasm/src/errors.ts";
import { cleanName, unpackLayer } from "./mod.ts";

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const temp = () => {
  const d = mkdtempSync(join(tmpdir(), "soci-unpack-"));
  dirs.push(d);
  return d;
};
const enc = new TextEncoder();
const isRoot = process.getuid?.() === 0;

interface E {
  name: string;
  type?: "0" | "1" | "2" | "3" | "5";
  data?: string;
  link?: string;
  mode?: number;
  mtime?: number;
}

/** A ustar archive, one header field at a time (offsets per POSIX ustar). */
function tar(entries: E[]): Uint8Array {
  const out: Buffer[] = [];
  for (const e of entries) {
    const data = Buffer.from(e.data ?? "");
    const h = Buffer.alloc(512);
    h.write(e.name, 0); // name[100]
    h.write((e.mode ?? (e.type === "5" ? 0o755 : 0o644)).toString(8).padStart(7, "0") + "\0", 100); // mode[8]
    h.write("0000000\0", 108); // uid[8]
    h.write("0000000\0", 116); // gid[8]
    h.write(data.length.toString(8).padStart(11, "0") + "\0", 124); // size[12]
    h.write((e.mtime ?? 1_700_000_000).toString(8).padStart(11, "0") + "\0", 136); // mtime[12]
    h.write(e.type ?? "0", 156); // typeflag
    if (e.link) h.write(e.link, 157); // linkname[100]
    h.write("ustar\0", 257); // magic
    h.write("00", 263); // version
    h.fill(0x20, 148, 156); // chksum as spaces while summing
    let sum = 0;
    for (const b of h) sum += b;
    h.write(sum.toString(8).padStart(6, "0") + "\0 ", 148);
    out.push(h, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  out.push(Buffer.alloc(1024));
  return Buffer.concat(out);
}

function layerOf(bytes: Uint8Array) {
  const blob = gzipSync(bytes);
  const desc = { mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: "sha256:" + createHash("sha256").update(blob).digest("hex"), size: blob.length };
  const chunks = (async function* () {
    yield new Uint8Array(blob);
  })();
  return { desc, chunks };
}

test("cleanName() drops leading /, ./ and empty components and refuses ..", () => {
  const show = (s: string) => cleanName(enc.encode(s), "t").map((b) => b.toString());
  assert.deepEqual(show("./a//b/"), ["a", "b"]);
  assert.deepEqual(show("/abs/x"), ["abs", "x"]);
  assert.deepEqual(show("./"), []);
  assert.throws(() => show("a/../../x"), FormatError);
  assert.throws(() => show(".."), /has a "\.\." component/);
});

test("unpackLayer() extracts files, dirs, symlinks, hardlinks with modes and mtimes", async () => {
  const d = temp();
  const { desc, chunks } = layerOf(tar([
    { name: "dir/", type: "5", mode: 0o750, mtime: 1_600_000_000 },
    { name: "dir/file", data: "hello", mode: 0o640, mtime: 1_500_000_000 },
    { name: "/abs", data: "contained" },
    { name: "dir/link", type: "2", link: "file" },
    { name: "dir/hard", type: "1", link: "dir/file" },
    { name: "implicit/parent/f", data: "p" },
  ]));
  const r = await unpackLayer(desc, chunks, join(d, "fs"), { privileged: false });
  assert.equal(r.reused, false);
  const fs = join(d, "fs");
  assert.equal(readFileSync(join(fs, "dir/file"), "utf8"), "hello");
  assert.equal(statSync(join(fs, "dir/file")).mode & 0o7777, 0o640);
  assert.equal(statSync(join(fs, "dir/file")).mtimeMs, 1_500_000_000_000);
  assert.equal(statSync(join(fs, "dir")).mode & 0o7777, 0o750);
  assert.equal(statSync(join(fs, "dir")).mtimeMs, 1_600_000_000_000);
  assert.equal(readFileSync(join(fs, "abs"), "utf8"), "contained");
  assert.equal(readlinkSync(join(fs, "dir/link")), "file");
  assert.equal(statSync(join(fs, "dir/hard")).ino, statSync(join(fs, "dir/file")).ino);
  assert.equal(readFileSync(join(fs, "implicit/parent/f"), "utf8"), "p");
  const again = layerOf(tar([{ name: "x", data: "y" }]));
  assert.equal((await unpackLayer(desc, again.chunks, fs)).reused, true, "an existing dir is reused");
});

test("unpackLayer() refuses .. names and symlinked parents, leaving nothing behind", async () => {
  const d = temp();
  const outside = join(d, "outside");
  for (const [entries, re] of [
    [[{ name: "a/../../outside" , data: "x" }], /"\.\." component/],
    [[{ name: "l", type: "2", link: outside }, { name: "l/evil", data: "x" }], /is a symlink/],
    [[{ name: "h", type: "1", link: "../../etc/passwd" }], /"\.\." component/],
  ] as Array<[E[], RegExp]>) {
    const { desc, chunks } = layerOf(tar(entries));
    await assert.rejects(unpackLayer(desc, chunks, join(d, "fs"), { privileged: false }), re);
    assert.equal(existsSync(join(d, "fs")), false);
    assert.equal(existsSync(join(outside, "evil")), false);
  }
});

test("unpackLayer() refuses a blob that does not match its digest", async () => {
  const d = temp();
  const { desc } = layerOf(tar([{ name: "f", data: "x" }]));
  const other = layerOf(tar([{ name: "f", data: "y" }]));
  const verified = (async function* () {
    for await (const c of other.chunks) yield c;
    throw new FormatError(`Cannot read blob ${desc.digest}: its content has digest ${other.desc.digest}`);
  })();
  await assert.rejects(unpackLayer(desc, verified, join(d, "fs")), /its content has digest/);
  assert.equal(existsSync(join(d, "fs")), false);
});

test("unpackLayer() as root: whiteouts become 0:0 char devices, opaque dirs get trusted.overlay.opaque", { skip: isRoot ? false : "skipped: needs root (mknod, trusted.* xattrs)" }, async () => {
  const d = temp();
  const { desc, chunks } = layerOf(tar([
    { name: "etc/", type: "5" },
    { name: "etc/.wh.gone", data: "" },
    { name: "opq/", type: "5" },
    { name: "opq/.wh..wh..opq", data: "" },
    { name: "opq/kept", data: "k" },
    { name: "both", data: "real wins" },
    { name: ".wh.both", data: "" },
  ]));
  await unpackLayer(desc, chunks, join(d, "fs"), { privileged: true });
  const fs = join(d, "fs");
  const edge = layerOf(tar([
    { name: "t/", type: "5" },
    { name: "t/child", data: "gone with its dir" },
    { name: "t", data: "a file now" }, // type change: the directory and its pending attributes go
    { name: "dev", type: "3" },
    { name: "dev", data: "a file replaces a node not made yet" },
    { name: ".wh.implicit", data: "" },
    { name: "implicit/kept", data: "an implicit parent is not whited out" },
  ]));
  await unpackLayer(edge.desc, edge.chunks, join(d, "edge"), { privileged: true });
  assert.equal(readFileSync(join(d, "edge", "t"), "utf8"), "a file now");
  assert.equal(readFileSync(join(d, "edge", "dev"), "utf8"), "a file replaces a node not made yet");
  assert.equal(readFileSync(join(d, "edge", "implicit/kept"), "utf8"), "an implicit parent is not whited out");
  const wh = lstatSync(join(fs, "etc/gone"));
  assert.ok(wh.isCharacterDevice());
  assert.equal(wh.rdev, 0);
  assert.equal(existsSync(join(fs, "etc/.wh.gone")), false);
  assert.equal(readFileSync(join(fs, "both"), "utf8"), "real wins");
  assert.equal(readFileSync(join(fs, "opq/kept"), "utf8"), "k");
  const { spawnSync } = await import("node:child_process");
  const x = spawnSync("python3", ["-c", `import os; print(os.getxattr(${JSON.stringify(join(fs, "opq"))}, "trusted.overlay.opaque").decode())`], { encoding: "utf8" });
  assert.equal(x.stdout.trim(), "y", x.stderr);
});

test("unpackLayer() checks the uncompressed tar against the config's diff ID when given one", async () => {
  const d = temp();
  const bytes = tar([{ name: "f", data: "content" }]);
  const diffId = "sha256:" + createHash("sha256").update(bytes).digest("hex");
  const good = layerOf(bytes);
  const r = await unpackLayer(good.desc, good.chunks, join(d, "ok"), { privileged: isRoot, diffId });
  assert.equal(readFileSync(join(r.dir, "f"), "utf8"), "content");
  const bad = layerOf(bytes);
  const wrong = "sha256:" + "0".repeat(64);
  await assert.rejects(unpackLayer(bad.desc, bad.chunks, join(d, "bad"), { privileged: isRoot, diffId: wrong }), (e: unknown) =>
    e instanceof FormatError && e.message.includes(diffId) && e.message.includes(wrong) && e.message.includes(bad.desc.digest));
  assert.equal(existsSync(join(d, "bad")), false, "nothing left at dest");
  assert.deepEqual(readdirSync(d).sort(), ["ok"], "no temp directory left beside it");
});
