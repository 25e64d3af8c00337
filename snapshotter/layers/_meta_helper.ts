/**
 * Applying what Node cannot: device nodes and FIFOs (mknod), extended
 * attributes (setxattr, incl. `trusted.overlay.opaque`), owners, modes and
 * nanosecond timestamps without following symlinks. Node has no mknod or
 * setxattr, and its utimes takes seconds as a double (sub-microsecond
 * precision lost), so one `python3` process per layer applies a batch of
 * operations read as JSON from stdin, in the order given, and reports the
 * failures as JSON. Paths and xattr names/values are raw bytes (base64).
 *
 * Not here: deciding what to apply (_extract.ts).
 */
import { spawn } from "node:child_process";
import { SociError } from "../../core-wasm/src/errors.ts";

export type MetaOp =
  | { op: "mknod"; path: Uint8Array; mode: number; major: number; minor: number }
  | { op: "chown"; path: Uint8Array; uid: number; gid: number }
  | { op: "chmod"; path: Uint8Array; mode: number }
  | { op: "utime"; path: Uint8Array; ns: string }
  | { op: "setxattr"; path: Uint8Array; key: Uint8Array; value: Uint8Array };

export interface MetaFailure {
  index: number;
  op: string;
  errno: number;
  message: string;
}

const SCRIPT = String.raw`
import base64, json, os, sys
ops = json.load(sys.stdin)
fails = []
d = base64.b64decode
for i, o in enumerate(ops):
    try:
        p = d(o["path"])
        k = o["op"]
        if k == "mknod":
            os.mknod(p, o["mode"], os.makedev(o["major"], o["minor"]))
        elif k == "chown":
            os.chown(p, o["uid"], o["gid"], follow_symlinks=False)
        elif k == "chmod":
            os.chmod(p, o["mode"])
        elif k == "utime":
            n = int(o["ns"])
            os.utime(p, ns=(n, n), follow_symlinks=False)
        elif k == "setxattr":
            os.setxattr(p, d(o["key"]), d(o["value"]), follow_symlinks=False)
    except OSError as e:
        fails.append({"index": i, "op": o["op"], "errno": e.errno or 0, "message": str(e)})
json.dump(fails, sys.stdout)
`;

const b64 = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("base64");

/**
 * Runs `ops` in one python3 process. Resolves with the operations that failed
 * (the caller decides which failures matter). Throws SociError when python3
 * cannot be run or its answer cannot be read.
 */
export function applyMeta(ops: MetaOp[]): Promise<MetaFailure[]> {
  if (ops.length === 0) return Promise.resolve([]);
  const json = JSON.stringify(
    ops.map((o) => {
      const base: Record<string, unknown> = { ...o, path: b64(o.path) };
      if (o.op === "setxattr") Object.assign(base, { key: b64(o.key), value: b64(o.value) });
      return base;
    }),
  );
  return new Promise((resolve, reject) => {
    const p = spawn("python3", ["-c", SCRIPT], { stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    let err = "";
    p.stdout.on("data", (c) => (out += c));
    p.stderr.on("data", (c) => (err += c));
    p.once("error", (e) =>
      reject(new SociError(`Cannot apply owners, modes, devices and xattrs: python3 could not be run: ${e.message}`, { cause: e, hint: "Install python3 (it applies what Node cannot: mknod, setxattr, ns timestamps)" })),
    );
    p.once("close", (code) => {
      if (code !== 0) return reject(new SociError(`Cannot apply owners, modes, devices and xattrs: python3 exited ${code}: ${err.trim().slice(-500)}`));
      try {
        resolve(JSON.parse(out) as MetaFailure[]);
      } catch (e) {
        reject(new SociError(`Cannot apply owners, modes, devices and xattrs: unreadable helper output`, { cause: e }));
      }
    });
    p.stdin.on("error", () => {}); // reported through "close"
    p.stdin.end(json);
  });
}
