// LayerFs on the real /dev/fuse, compared with GNU tar. For every layer of
// `sample` and `tricky` (and the debian-minbase layer when that image is
// already built) the layer's TOC (buildZtoc) is served in-process by a
// LayerFs over the layer's uncompressed bytes, the same tar is extracted as
// root with `tar --xattrs --xattrs-include='*' --delay-directory-restore -xpf`
// (without the delay GNU tar 1.34 leaves some directory mtimes at extraction
// time), and a python3 child walks both trees (lstat, sha256, readlink,
// getxattr) so they can be compared entry by entry: type, mode, owner, size,
// mtime (ns), link target, rdev, xattrs, content and hard-link grouping.
// Whiteouts are compared against their overlayfs translation (tar -x writes
// them literally). Then two LayerFs mounts are stacked with overlayfs:
// whiteouts hide lower files and an opaque directory hides the lower
// contents. Known, asserted divergences: GNU tar names one tricky entry by its
// PAX path where Go (and the zTOC) use the GNU long name; the PAX sparse layer
// is refused by LayerFs. The serving process never touches its mounts itself
// (fuse.md §9.2). Needs root, /dev/fuse, tar, python3; otherwise
// "skipped: <reason>", and under CI=true a failure.
import assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { buildFastReplies, isMountpoint, mountFuse, unmount, type FuseMount } from "../../snapshotter/fuse/mod.ts";
import { LAYER_CACHE_TIMEOUTS, LayerFs } from "../../snapshotter/layerfs/mod.ts";
import { BytesLayerReader, ensureFixtureImages, IMAGES_DIR, loadFixtureLayers, type FixtureLayer } from "../fakes/layer_fixture.ts";

function missing(): string | null {
  if (process.getuid?.() !== 0) return "needs root to mount FUSE and extract with owners";
  try {
    accessSync("/dev/fuse", constants.R_OK | constants.W_OK);
  } catch {
    return "/dev/fuse is not available";
  }
  for (const [cmd, args] of [["mount", ["--version"]], ["tar", ["--version"]], ["python3", ["-c", "import os; os.getxattr"]]] as const) {
    if (spawnSync(cmd, [...args]).status !== 0) return `${cmd} is not installed`;
  }
  return null;
}
const why = missing();
if (why && process.env.CI === "true") test("layerfs e2e prerequisites", () => assert.fail(`missing under CI=true: ${why}`));
const skip = why ? `skipped: ${why}` : false;

function sh(cmd: string, args: string[], timeoutMs = 300_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 256 << 20, encoding: "latin1" }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? -1) : 0, stdout, stderr });
    });
  });
}

const WALKER = `
import errno, hashlib, json, os, stat, sys
root = os.fsencode(sys.argv[1])
out = {}
def walk(rel):
    p = os.path.join(root, rel) if rel else root
    st = os.lstat(p)
    e = {"type": stat.S_IFMT(st.st_mode), "perm": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid,
         "nlink": st.st_nlink, "ino": st.st_ino, "mtime": str(st.st_mtime_ns)}
    if stat.S_ISREG(st.st_mode):
        e["size"] = st.st_size
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for b in iter(lambda: f.read(1 << 20), b""):
                h.update(b)
        e["sha256"] = h.hexdigest()
    elif stat.S_ISLNK(st.st_mode):
        e["size"] = st.st_size
        e["link"] = os.readlink(p).decode("latin-1")
    elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        e["rdev"] = [os.major(st.st_rdev), os.minor(st.st_rdev)]
    e["xattrs"] = {n: os.getxattr(p, n, follow_symlinks=False).hex() for n in os.listxattr(p, follow_symlinks=False)}
    try:  # a name no entry has: the miss (ENODATA) the readers answer from their tables
        os.getxattr(p, b"trusted.soci-test-absent", follow_symlinks=False)
        e["absent"] = "found"
    except OSError as x:
        e["absent"] = errno.errorcode.get(x.errno, str(x.errno))
    out[rel.decode("latin-1")] = e
    if stat.S_ISDIR(st.st_mode):
        names = os.listdir(p)
        e["names"] = sorted(n.decode("latin-1") for n in names)
        for n in names:
            walk(os.path.join(rel, n) if rel else n)
walk(b"")
json.dump(out, sys.stdout)
`;

interface Walked {
  type: number; perm: number; uid: number; gid: number; nlink: number; ino: number; mtime: string;
  size?: number; sha256?: string; link?: string; rdev?: [number, number]; xattrs: Record<string, string>; names?: string[];
  absent?: string;
}
type Tree = Record<string, Walked>;
const S_IFCHR = 0o020000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;

let dir = "";
const mounts: FuseMount[] = [];

async function walk(root: string): Promise<Tree> {
  const r = await sh("python3", [join(dir, "walk.py"), root]);
  assert.equal(r.code, 0, `walking ${root}: ${r.stderr}`);
  return JSON.parse(Buffer.from(r.stdout, "latin1").toString("latin1")) as Tree;
}

const latin1 = (b: Uint8Array) => Buffer.from(b).toString("latin1");
const clean = (b: Uint8Array) => latin1(b).split("/").filter((p) => p !== "" && p !== ".").join("/");
const dirname = (p: string) => (p.includes("/") ? p.slice(0, p.lastIndexOf("/")) : "");
const basename = (p: string) => p.slice(p.lastIndexOf("/") + 1);

/** What the FUSE tree must look like: the tar -x tree with whiteouts translated for overlayfs (snapshotter §8.3). */
function overlayView(ref: Tree): Tree {
  const out: Tree = structuredClone(ref);
  for (const p of Object.keys(ref).sort()) {
    const base = basename(p);
    if (!base.startsWith(".wh.") || !(p in out)) continue;
    const parent = dirname(p);
    const wh = out[p];
    for (const q of Object.keys(out)) if (q === p || q.startsWith(p + "/")) delete out[q];
    const pd = out[parent];
    pd.names = pd.names!.filter((n) => n !== base);
    if (wh.type === S_IFDIR) pd.nlink--;
    if (base === ".wh..wh..opq") {
      pd.xattrs["trusted.overlay.opaque"] = "79";
      continue;
    }
    const hidden = base.slice(4);
    const hiddenPath = parent ? `${parent}/${hidden}` : hidden;
    if (hidden === "" || hidden.startsWith(".wh.") || hiddenPath in out) continue;
    out[hiddenPath] = { type: S_IFCHR, perm: 0, uid: 0, gid: 0, nlink: 1, ino: -1, mtime: wh.mtime, rdev: [0, 0], xattrs: {}, absent: "ENODATA" };
    pd.names = [...pd.names, hidden].sort();
  }
  return out;
}

/**
 * Where GNU tar and Go's archive/tar (which the zTOC follows) name an entry
 * differently: a header with both a PAX \`path\` and a GNU long name (tricky
 * layer 1; NOTES "Spec corrections found"). Maps the tar -x name to the TOC name.
 */
const GNU_TAR_NAMES: Record<string, string> = {
  "names/pax-path-loses": "names/gnu-long-name-wins-over-pax-path-" + "g".repeat(80),
};

function renameKnown(t: Tree): Tree {
  for (const [from, to] of Object.entries(GNU_TAR_NAMES)) {
    if (!(from in t) || to in t) continue;
    t[to] = t[from];
    delete t[from];
    const d = t[dirname(from)];
    d.names = d.names!.map((n) => (n === basename(from) ? basename(to) : n)).sort();
  }
  return t;
}

/** Paths sharing an inode with `p` (hard-link group), as sorted path lists keyed by path. */
function linkGroups(t: Tree): Map<string, string> {
  const byIno = new Map<number, string[]>();
  for (const [p, e] of Object.entries(t)) if (e.type !== S_IFDIR && e.ino >= 0) byIno.set(e.ino, [...(byIno.get(e.ino) ?? []), p]);
  const out = new Map<string, string>();
  for (const ps of byIno.values()) {
    if (ps.length < 2) continue;
    const group = [...ps].sort().join(" | ");
    for (const p of ps) out.set(p, group);
  }
  return out;
}

/** Every difference between the mounted tree and the expected one, as readable lines. */
function compare(layer: FixtureLayer, got: Tree, want: Tree): { diffs: string[]; compared: number } {
  const explicitDirs = new Set(layer.toc.filter((e) => e.type === "dir").map((e) => clean(e.name)));
  const diffs: string[] = [];
  const show = (p: string) => JSON.stringify(p);
  for (const p of Object.keys(want)) if (!(p in got)) diffs.push(`missing in the mount: ${show(p)}`);
  for (const p of Object.keys(got)) if (!(p in want)) diffs.push(`extra in the mount: ${show(p)}`);
  const gg = linkGroups(got), wg = linkGroups(want);
  let compared = 0;
  for (const [p, w] of Object.entries(want)) {
    const g = got[p];
    if (g === undefined) continue;
    compared++;
    const implicit = w.type === S_IFDIR && !explicitDirs.has(p); // tar -x makes these with its own time and umask
    const fields: (keyof Walked)[] = ["type", "nlink", "link", "rdev", "xattrs", "names", "absent"];
    if (!implicit) fields.push("perm", "uid", "gid", "mtime");
    if (w.type !== S_IFDIR) fields.push("size", "sha256");
    for (const f of fields) {
      if (JSON.stringify(g[f]) !== JSON.stringify(w[f])) diffs.push(`${show(p)} ${f}: mount ${JSON.stringify(g[f])}, tar -x ${JSON.stringify(w[f])}`);
    }
    if ((gg.get(p) ?? "") !== (wg.get(p) ?? "")) diffs.push(`${show(p)} hard links: mount [${gg.get(p) ?? ""}], tar -x [${wg.get(p) ?? ""}]`);
  }
  return { diffs, compared };
}

/**
 * `fast`: the device readers get the fast-path tables at once (a layer mount builds them
 * once it is quiet), so they answer LOOKUP, GETATTR, OPEN, READLINK, GETXATTR misses… themselves.
 */
async function mountLayer(layer: FixtureLayer, mp: string, logs: string[], fast = false): Promise<{ fs: LayerFs; m: FuseMount; reader: BytesLayerReader }> {
  const reader = new BytesLayerReader(layer.tar);
  const fs = new LayerFs(layer.toc, reader, { layerDigest: layer.digest, log: (l) => logs.push(l) });
  const m = await mountFuse(fs, mp, { fsname: "soci", defaultPermissions: false, readers: 2, server: { ...LAYER_CACHE_TIMEOUTS, log: (l) => logs.push(l) } });
  mounts.push(m);
  if (fast) m.device.setFast(buildFastReplies(fs.fastSource(), m.server, fs));
  return { fs, m, reader };
}

describe("LayerFs on /dev/fuse against tar -x", { skip, timeout: 1_200_000 }, () => {
  const layers: FixtureLayer[] = [];
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "soci-layerfs-e2e-"));
    writeFileSync(join(dir, "walk.py"), WALKER);
    await ensureFixtureImages(["sample", "tricky"]);
    layers.push(...await loadFixtureLayers("sample"), ...await loadFixtureLayers("tricky"));
    if (existsSync(join(IMAGES_DIR, "debian-minbase", "index.json"))) layers.push(...await loadFixtureLayers("debian-minbase"));
  });
  after(async () => {
    for (const m of mounts.reverse()) await m.stop().catch(() => {});
    if (dir) {
      for (const mp of ["overlay"]) if (existsSync(join(dir, mp)) && isMountpoint(join(dir, mp))) await unmount(join(dir, mp)).catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    }
  });

  for (const fast of [false, true]) {
    const how = fast ? "the device readers answering from the fast-path tables" : "every request through the server";
    test(`every layer, ${how}: the mounted tree equals tar -x with whiteouts translated`, async (t) => {
    for (const [i, layer] of layers.entries()) {
      const name = `${layer.image}[${layer.index}] ${layer.compression}: ${layer.note}`;
      if (layer.toc.some((e) => e.xattrs.some((x) => latin1(x.key).startsWith("GNU.sparse.")))) {
        // PAX sparse files cannot be served from the tar bytes: LayerFs refuses the layer (pulled in full).
        assert.throws(() => new LayerFs(layer.toc, new BytesLayerReader(layer.tar), { layerDigest: layer.digest }), /is a PAX sparse file/);
        t.diagnostic(`${name}: refused by LayerFs (PAX sparse files), not mounted`);
        continue;
      }
      const ref = join(dir, `ref-${i}-${fast}`);
      mkdirSync(ref);
      const tarFile = join(dir, `layer-${i}-${fast}.tar`);
      writeFileSync(tarFile, layer.tar);
      const x = await sh("tar", ["--xattrs", "--xattrs-include=*", "--numeric-owner", "--delay-directory-restore", "-xpf", tarFile, "-C", ref]);
      rmSync(tarFile);
      const logs: string[] = [];
      const { m, reader } = await mountLayer(layer, join(dir, `mnt-${i}-${fast}`), logs, fast);
      const got = await walk(m.mountpoint);
      if (i === 0 && !fast) {
        // §8.7 from outside: not listed, found by name, JSON read through a direct-I/O open.
        const st = await sh("sh", ["-c", `ls -a "$1" | grep -c soci-snapshotter; cat "$1/.soci-snapshotter/${layer.digest}.json"; stat -c '%i %A' "$1/.soci-snapshotter"`, "sh", m.mountpoint]);
        assert.equal(st.code, 0, st.stderr);
        const [count, json, dirStat] = st.stdout.trim().split("\n");
        assert.equal(count, "0");
        assert.deepEqual(JSON.parse(json), { digest: layer.digest, size: 0, fetchedSize: 0, fetchedPercent: 0 });
        assert.equal(dirStat, "1 dr-x------");
      }
      const want = renameKnown(overlayView(await walk(ref)));
      await m.stop();
      rmSync(ref, { recursive: true, force: true });
      const r = compare(layer, got, want);
      t.diagnostic(`${name}: ${r.compared} entries compared, ${reader.calls.length} layer reads, tar exit ${x.code}`);
      assert.deepEqual(r.diffs.slice(0, 30), [], `${name}: ${r.diffs.length} differences; tar: ${x.stderr.slice(0, 2000)}`);
      assert.deepEqual(logs, [], `${name}: no request failed and no entry was skipped`);
      assert.ok(r.compared >= layer.toc.length * 0.5 || layer.toc.length === 0, `${name}: compared ${r.compared} of ${layer.toc.length}`);
    }
  });
  }

  test("overlayfs over two LayerFs mounts: whiteouts hide lower files, an opaque dir hides lower contents", async () => {
    const lower = layers.find((l) => l.image === "tricky" && l.index === 0)!;
    const upper = layers.find((l) => l.image === "tricky" && /whiteouts/.test(l.note))!;
    const logs: string[] = [];
    const lo = await mountLayer(lower, join(dir, "lower"), logs);
    const up = await mountLayer(upper, join(dir, "upper"), logs);
    const st = await sh("stat", ["-f", "-c", "%b %c %S %l", lo.m.mountpoint]);
    assert.equal(st.stdout.trim(), `${Math.ceil(lo.fs.totalSize / 4096)} ${lo.fs.fileCount} 4096 255`, "statfs: blocks, files, block size, name length");
    const ov = join(dir, "overlay");
    mkdirSync(ov);
    const mnt = await sh("mount", ["-t", "overlay", "overlay", "-o", `lowerdir=${up.m.mountpoint}:${lo.m.mountpoint}`, ov]);
    assert.equal(mnt.code, 0, mnt.stderr);
    try {
      const py = await sh("python3", ["-c", `
import os, sys
o = sys.argv[1]
print(sorted(os.listdir(o + "/wh")))
print(sorted(os.listdir(o + "/opaque")))
print(os.path.lexists(o + "/wh/remove-me.txt"), os.path.lexists(o + "/wh/dir-to-remove/a.txt"), os.path.lexists(o + "/dup/file.txt"))
print(open(o + "/modify/file.txt").read().strip())
print(oct(os.stat(o + "/chmod/file.txt").st_mode & 0o777), os.path.isdir(o + "/typechange/thing"))
print(open(o + "/links/target.txt").read().strip(), len(os.listdir(o + "/big")))
`, ov]);
      assert.equal(py.code, 0, py.stderr);
      assert.deepEqual(py.stdout.trim().split("\n"), [
        "[]",
        "['new.txt']",
        "False False False",
        "new contents, longer than before",
        "0o600 True",
        "hardlink and symlink target 4",
      ]);
    } finally {
      await unmount(ov);
    }
    await up.m.stop();
    await lo.m.stop();
    assert.deepEqual(logs, []);
  });
});
