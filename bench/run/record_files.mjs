// Records which files a Python program reads, for `soci convert
// --prefetch-files-json` (formats §9.6): the image's layers are unpacked into
// a private directory, the program runs there under chroot with an audit hook
// (every `open` Python makes, module sources and .pyc files included) and,
// at exit, every file mapped into the process (/proc/self/maps: the
// interpreter, libc, extension modules and their libraries). Paths are
// resolved through symlinks, since a prefetch path must name the regular
// file's own TOC entry. This is how a user would profile an application
// once before converting; the benchmark uses it for its "lazy + prefetch" row.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const RECORDER = String.raw`
import atexit, json, os, runpy, sys
seen = set()
def hook(event, args):
    if event == "open" and args and isinstance(args[0], str):
        seen.add(os.path.abspath(args[0]))
def dump():
    with open("/proc/self/maps") as m:
        for line in m:
            f = line.split()
            if len(f) >= 6 and f[5].startswith("/"):
                seen.add(f[5])
    real = sorted({os.path.realpath(p) for p in seen if os.path.isfile(p)} - {"/proc/self/maps"})
    with open("/.prefetch-files.json", "w") as out:
        json.dump([p for p in real if not p.startswith(("/proc/", "/dev/", "/sys/"))], out)
sys.addaudithook(hook)
atexit.register(dump)
target = sys.argv[1]
sys.argv = sys.argv[1:]
runpy.run_path(target, run_name="__main__")
`;

/** Unpacks `layout`'s image (one platform, gzip layers) and returns the files `python3 script` reads, as a JSON array string. */
export function recordPythonFiles(layout, script) {
  const root = mkdtempSync(join(tmpdir(), "soci-bench-record-"));
  try {
    const index = JSON.parse(readFileSync(join(layout, "index.json"), "utf8"));
    const blob = (d) => join(layout, "blobs", "sha256", d.slice("sha256:".length));
    const manifest = JSON.parse(readFileSync(blob(index.manifests[0].digest), "utf8"));
    for (const l of manifest.layers) execFileSync("tar", ["-xzf", blob(l.digest), "-C", root]);
    // A private mount namespace gives the chroot its own /proc (gone with the namespace).
    execFileSync("unshare", ["-m", "sh", "-c", 'mount -t proc proc "$0/proc" && exec chroot "$0" python3 -c "$1" "$2"', root, RECORDER, script], { stdio: ["ignore", "ignore", "inherit"] });
    return readFileSync(join(root, ".prefetch-files.json"), "utf8");
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
