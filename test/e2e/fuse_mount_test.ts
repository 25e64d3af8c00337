// The FUSE server on the real /dev/fuse (fuse.md §12 as a test): the fixture
// MemFs is mounted, then only CHILD processes touch the mount (ls, stat, cat,
// sha256sum, readlink, python3 xattrs, touch, 8 parallel readers) — the
// serving process never reads its own mount synchronously (fuse.md §9.2).
// Served in-process on Node, and from a child server on Node and on Bun, which
// also checks SIGTERM unmounting and a kill -9 leaving a stale mount that
// cleanupStaleMount removes. Needs root and /dev/fuse; otherwise
// "skipped: <reason>", and under CI=true a failure.
import assert from "node:assert/strict";
import { execFile, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { accessSync, constants, existsSync, mkdtempSync, rmSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { cleanupStaleMount, isMountpoint, mountFuse, type FuseMount } from "../../snapshotter/fuse/mount.ts";
import { BIG_SIZE, buildFixtureTree, HELLO } from "../fakes/memfs.ts";

const ROOT = process.env.SOCI_REPO_ROOT ?? process.cwd();
const BUN = join(ROOT, "node_modules", ".bin", "bun");

function missing(): string | null {
  if (process.getuid?.() !== 0) return "needs root to mount FUSE";
  try {
    accessSync("/dev/fuse", constants.R_OK | constants.W_OK);
  } catch {
    return "/dev/fuse is not available";
  }
  if (spawnSync("mount", ["--version"]).status !== 0) return "mount(8) is not installed";
  if (spawnSync("python3", ["-c", "import os; os.getxattr"]).status !== 0) return "python3 with os.getxattr is not installed";
  return null;
}
const why = missing();
if (why && process.env.CI === "true") {
  test("FUSE e2e prerequisites", () => assert.fail(`missing under CI=true: ${why}`));
}
const skip = why ? `skipped: ${why}` : false;

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command in a child process (never blocking this process's threads). */
function sh(script: string, timeoutMs = 30_000): Promise<Ran> {
  return new Promise((resolve) => {
    execFile("sh", ["-c", script], { timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout, stderr });
    });
  });
}

async function ok(script: string): Promise<string> {
  const r = await sh(script);
  assert.equal(r.code, 0, `${script}\n${r.stderr}`);
  return r.stdout;
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** Everything a read-only layer must do, seen from other processes. */
async function checkMount(mp: string, bigSha256: string): Promise<void> {
  const m = q(mp);
  const ls = await ok(`ls -lan ${m}`);
  assert.match(ls, /^-rw-r--r-- +1 +1000 +1000 +12 .* hello\.txt$/m);
  assert.match(ls, /^lrwxrwxrwx .* link -> hello\.txt$/m);
  assert.match(ls, /^crw-rw-rw- +1 +0 +0 +1, +3 .* null$/m);
  assert.match(ls, /^-rwsr-xr-x .* suid$/m);
  assert.match(ls, /^drwxr-x--- +3 +1000 +1000 .* dir$/m);
  assert.match(ls, / \.\.?$/m);
  const st = (await ok(`stat -c '%s %a %u %g %h %F %Y %y' ${m}/hello.txt`)).trim();
  assert.match(st, /^12 644 1000 1000 1 regular file 1700000000 2023-11-14 22:13:20\.123456\d{3} \+0000$/);
  assert.equal(await ok(`cat ${m}/hello.txt`), HELLO);
  assert.equal(await ok(`cat ${m}/link`), HELLO);
  assert.equal((await ok(`readlink ${m}/link`)).trim(), "hello.txt");
  assert.equal((await ok(`stat -c %s ${m}/big.bin`)).trim(), String(BIG_SIZE));
  assert.equal((await ok(`sha256sum ${m}/big.bin`)).split(" ")[0], bigSha256);
  const [i1, i2] = (await ok(`stat -c '%i %h' ${m}/hard1 ${m}/dir/hard2`)).trim().split("\n");
  assert.equal(i1, i2, "hard links share an inode");
  assert.match(i1, / 2$/, "nlink 2");
  const py = await ok(`python3 -c ${q(`
import errno, os, sys
p = sys.argv[1]
print(os.getxattr(p + "/hello.txt", "user.greeting").decode())
print(",".join(sorted(os.listxattr(p + "/hello.txt"))))
print(len(os.listxattr(p + "/plain.txt")))
try:
    os.getxattr(p + "/plain.txt", "user.nope")
except OSError as e:
    print(errno.errorcode[e.errno])
try:
    os.getxattr(p + "/plain.txt", "security.capability")
except OSError as e:
    print(errno.errorcode[e.errno])
`)} ${m}`);
  assert.deepEqual(py.trim().split("\n"), ["hi", "user.empty,user.greeting", "0", "ENODATA", "ENODATA"]);
  for (const cmd of [`touch ${m}/new`, `touch ${m}/hello.txt`, `mkdir ${m}/d`, `echo x > ${m}/hello.txt`, `rm ${m}/plain.txt`]) {
    const r = await sh(cmd);
    assert.notEqual(r.code, 0, cmd);
    assert.match(r.stderr, /Read-only file system/, cmd);
  }
  const miss = await sh(`stat ${m}/nope`);
  assert.match(miss.stderr, /No such file or directory/);
  assert.match(await ok(`stat -f -c %T ${m}`), /fuse/);
  // 8 concurrent readers of the multi-MiB file plus small files.
  const reads = await Promise.all(Array.from({ length: 8 }, (_, i) =>
    ok(i % 2 ? `cat ${m}/big.bin | sha256sum` : `dd if=${m}/big.bin bs=64k skip=${i} 2>/dev/null | wc -c; cat ${m}/dir/hard2`)));
  for (let i = 0; i < 8; i++) {
    if (i % 2) assert.equal(reads[i].split(" ")[0], bigSha256);
    else assert.equal(reads[i], `${BIG_SIZE - i * 65536}\nlinked content\n`);
  }
}

async function notMounted(mp: string): Promise<void> {
  assert.notEqual((await sh(`mountpoint -q ${q(mp)}`)).code, 0, `${mp} is still a mount point`);
  assert.equal(isMountpoint(mp), false);
}

let dir = "";
let serverJs = "";

/** Bundles a server entry (MemFs fixture + mountFuse) a child runtime can run. */
async function buildServer(): Promise<string> {
  const esbuild = await import("esbuild");
  const out = join(dir, "fuse_server.mjs");
  await esbuild.build({
    stdin: {
      contents: `
        import { buildFixtureTree } from "./test/fakes/memfs.ts";
        import { mountFuse } from "./snapshotter/fuse/mount.ts";
        const { fs } = buildFixtureTree();
        const m = await mountFuse(fs, process.argv[2], { fsname: "socitest", unmountOnSignals: true });
        console.log("MOUNTED");
        await m.done;
        console.log("DONE");`,
      resolveDir: ROOT,
      loader: "ts",
      sourcefile: "fuse_server_entry.ts",
    },
    outfile: out, bundle: true, platform: "node", format: "esm", target: "node20", packages: "external", logLevel: "warning",
  });
  return out;
}

interface Child {
  p: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output: () => string;
}

/** Starts the bundled server under `runtime` and waits for MOUNTED. */
async function startChild(runtime: string, mp: string): Promise<Child> {
  const p = spawn(runtime, [serverJs, mp], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => p.once("exit", (code, signal) => r({ code, signal })));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not mount in 20 s: ${output}`)), 20_000);
    const onData = (b: Buffer) => {
      output += b;
      if (output.includes("MOUNTED")) (clearTimeout(timer), resolve());
    };
    p.stdout!.on("data", onData);
    p.stderr!.on("data", (b) => (output += b));
    void exited.then(() => (clearTimeout(timer), reject(new Error(`server exited before mounting: ${output}`))));
  });
  return { p, exited, output: () => output };
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms).unref())]);
}

describe("FUSE mount on /dev/fuse", { skip, timeout: 180_000 }, () => {
  const mounts: FuseMount[] = [];
  const children: ChildProcess[] = [];
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "soci-fuse-e2e-"));
    serverJs = await buildServer();
  });
  after(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    for (const m of mounts) await m.stop().catch(() => {});
    if (dir) {
      for (const sub of ["inproc", "node", "node-crash", "bun", "bun-crash"]) {
        if (existsSync(join(dir, sub)) && isMountpoint(join(dir, sub))) await cleanupStaleMount(join(dir, sub), { force: true }).catch(() => {});
      }
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("in-process server (Node): a child sees the whole tree, then stop() unmounts", async () => {
    const mp = join(dir, "inproc");
    const { fs, bigSha256 } = buildFixtureTree();
    // Every READ does thread-pool I/O: with device reads on the pool this deadlocks (fuse.md §9.2).
    fs.beforeRead = () => readFile("/proc/self/stat");
    fs.readDelayMs.set(fs.addFile("slow.txt", "slow\n"), 20_000);
    const logs: string[] = [];
    const m = await mountFuse(fs, mp, { fsname: "socitest", log: (l) => logs.push(l) });
    mounts.push(m);
    assert.equal(isMountpoint(mp), true);
    assert.match(await ok(`grep ' ${mp} ' /proc/mounts`), new RegExp(`^socitest ${mp} fuse\\.socitest ro,.*allow_other`));
    assert.equal(await cleanupStaleMount(mp), "alive", "a live mount is left alone");
    await checkMount(mp, bigSha256);
    // A reader signalled mid-READ: the kernel sends INTERRUPT, the handler gives up (EINTR).
    // slow.txt is opened FOPEN_DIRECT_IO, so the READ is synchronous in the reader
    // (a page-cache readahead READ is not interrupted, the reader just stops waiting).
    const t0 = Date.now();
    const slow = await sh(`timeout -s INT 0.3 cat ${q(mp)}/slow.txt`);
    assert.equal(slow.code, 124, slow.stderr);
    assert.ok(Date.now() - t0 < 10_000, "the interrupted read ended early");
    assert.equal(fs.interruptedReads, 1);
    assert.equal(await ok(`cat ${q(mp)}/hello.txt`), HELLO);
    assert.ok((fs.calls.get("read") ?? 0) > 0);
    assert.ok((fs.calls.get("getxattr") ?? 0) > 0, "GETXATTR reached the fs (not a sticky ENOSYS)");
    assert.equal(m.server.negotiated?.minor, 38);
    await withTimeout(m.stop(), 15_000, "stop()");
    await notMounted(mp);
    assert.deepEqual(logs, [], "no request failed");
  });

  test("an external umount ends the server: readers see ENODEV, done settles, fd closed", async () => {
    const mp = join(dir, "inproc");
    const { fs } = buildFixtureTree();
    const m = await mountFuse(fs, mp, { fsname: "socitest", readers: 2 });
    mounts.push(m);
    assert.equal(await ok(`cat ${q(mp)}/hello.txt`), HELLO);
    await ok(`umount ${q(mp)}`);
    await withTimeout(m.done, 15_000, "done after external umount");
    assert.ok(fs.destroyed);
    await notMounted(mp);
    await m.stop(); // idempotent after the fact
  });

  for (const runtime of ["node", "bun"] as const) {
    const exe = () => (runtime === "bun" ? BUN : process.versions.bun ? "node" : process.execPath);
    const bunMissing = runtime === "bun" && !existsSync(BUN) ? "skipped: node_modules/.bin/bun is not installed" : false;

    test(`child server on ${runtime}: checks pass, SIGTERM unmounts cleanly`, { skip: bunMissing }, async () => {
      const mp = join(dir, runtime);
      const c = await startChild(exe(), mp);
      children.push(c.p);
      await checkMount(mp, buildFixtureTree().bigSha256);
      c.p.kill("SIGTERM");
      const end = await withTimeout(c.exited, 15_000, `${runtime} server exit after SIGTERM`);
      assert.equal(end.signal, "SIGTERM", `re-raised the signal after unmounting: ${c.output()}`);
      await notMounted(mp);
    });

    test(`child server on ${runtime}: kill -9 leaves a stale mount that cleanupStaleMount removes`, { skip: bunMissing }, async () => {
      const mp = join(dir, `${runtime}-crash`);
      const c = await startChild(exe(), mp);
      children.push(c.p);
      assert.equal(await ok(`cat ${q(mp)}/hello.txt`), HELLO);
      c.p.kill("SIGKILL");
      await withTimeout(c.exited, 15_000, "SIGKILL");
      const r = await sh(`stat ${q(mp)}`);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /Transport endpoint is not connected/);
      assert.equal(isMountpoint(mp), true, "the dead mount stays");
      assert.equal(await cleanupStaleMount(mp), "cleaned");
      await notMounted(mp);
      assert.equal(await cleanupStaleMount(mp), "none");
    });
  }
});
