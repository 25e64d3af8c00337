#!/usr/bin/env python3
"""Independent filesystem oracle for the mount e2e tests (Python stdlib + GNU tar).

  fs_tree.py walk DIR              one JSON line per entry under DIR (sorted, DIR itself excluded)
  fs_tree.py expect OUT BLOB...    extract layer blobs in order into OUT with GNU tar,
                                   honouring OCI whiteouts (.wh.X deletes X, .wh..wh..opq
                                   empties the directory of lower-layer content) first

Each `walk` line: path (base64 of the raw bytes) and its display form, type, mode
(permission + setuid/setgid/sticky bits), uid, gid, size, mtime_ns, sha256 of
regular-file contents, symlink target (base64), rdev (major:minor) for devices,
and xattrs (name -> base64 value; overlayfs' own trusted.overlay.* left out).
The walker never opens anything but regular files and never follows symlinks.
An entry that readdir lists but lstat cannot find has type "listed-only".
Directory mtimes are reported but tests may ignore them: extracting a child
updates a directory's mtime in the GNU tar tree, while overlayfs shows the
topmost layer's directory attributes.
"""
import base64, hashlib, json, os, stat, subprocess, sys, tarfile, tempfile

TYPES = {stat.S_IFREG: "reg", stat.S_IFDIR: "dir", stat.S_IFLNK: "symlink", stat.S_IFCHR: "char",
         stat.S_IFBLK: "block", stat.S_IFIFO: "fifo", stat.S_IFSOCK: "sock"}


def b64(b):
    return base64.b64encode(b).decode()


def xattrs(p):
    out = {}
    try:
        names = os.listxattr(p, follow_symlinks=False)
    except OSError:
        return out
    for n in sorted(names):
        if n.startswith("trusted.overlay."):
            continue
        try:
            out[n] = b64(os.getxattr(p, n, follow_symlinks=False))
        except OSError as e:
            out[n] = "error:%d" % e.errno
    return out


def entry(root, rel):
    p = os.path.join(root, rel)
    try:
        st = os.lstat(p)
    except FileNotFoundError:
        # Listed by readdir but not found by lookup: overlayfs shows a whiteout of a directory
        # that no lower layer has this way (a "pure" lower directory is listed as is).
        return {"path": b64(rel), "name": rel.decode("utf-8", "backslashreplace"), "type": "listed-only"}
    t = TYPES.get(stat.S_IFMT(st.st_mode), "other")
    e = {"path": b64(rel), "name": rel.decode("utf-8", "backslashreplace"), "type": t,
         "mode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid,
         "size": st.st_size if t in ("reg", "symlink") else 0, "mtime_ns": st.st_mtime_ns,
         "xattrs": xattrs(p)}
    if t == "reg":
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        e["sha256"] = h.hexdigest()
    elif t == "symlink":
        e["target"] = b64(os.readlink(p))
    elif t in ("char", "block"):
        e["rdev"] = "%d:%d" % (os.major(st.st_rdev), os.minor(st.st_rdev))
    return e


def walk(root):
    root = os.fsencode(root)
    rels = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for n in dirnames + filenames:
            rels.append(os.path.relpath(os.path.join(dirpath, n), root))
    for rel in sorted(rels):
        print(json.dumps(entry(root, rel), sort_keys=True))


def open_layer(blob, tmp):
    with open(blob, "rb") as f:
        magic = f.read(4)
    if magic == b"\x28\xb5\x2f\xfd":  # zstd: tarfile cannot read it
        out = os.path.join(tmp, "layer.tar")
        with open(out, "wb") as o:
            subprocess.run(["zstd", "-d", "-c", "-q", blob], stdout=o, check=True)
        return out
    return blob


def clean(name):
    parts = [p for p in name.split("/") if p not in ("", ".")]
    return "/".join(parts)


def expect(out, blobs):
    os.makedirs(out, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for blob in blobs:
            path = open_layer(blob, tmp)
            with tarfile.open(path, "r:*") as tf:
                names = [clean(m.name) for m in tf.getmembers()]
            for n in names:
                base = n.rsplit("/", 1)[-1]
                parent = n.rsplit("/", 1)[0] if "/" in n else ""
                if base == ".wh..wh..opq":
                    d = os.path.join(out, parent)
                    if os.path.isdir(d) and not os.path.islink(d):
                        for c in os.listdir(d):
                            subprocess.run(["rm", "-rf", "--", os.path.join(d, c)], check=True)
                elif base.startswith(".wh."):
                    subprocess.run(["rm", "-rf", "--", os.path.join(out, parent, base[4:])], check=True)
            r = subprocess.run(["tar", "-x", "-p", "--numeric-owner", "--xattrs", "--xattrs-include=*",
                                "--exclude=.wh.*", "-f", path, "-C", out],
                               capture_output=True, text=True)
            if r.returncode != 0:
                print("tar -x %s: exit %d: %s" % (blob, r.returncode, r.stderr.strip()[-2000:]), file=sys.stderr)
                sys.exit(1)
            if path != blob:
                os.unlink(path)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "walk":
        walk(sys.argv[2])
    elif len(sys.argv) >= 3 and sys.argv[1] == "expect":
        expect(sys.argv[2], sys.argv[3:])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
