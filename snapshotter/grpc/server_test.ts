// The Snapshots behaviour suite over a real unix socket with a gRPC client,
// modelled on containerd's core/snapshots/testsuite (Basic, StatActive,
// StatCommitted, Transitivity, PrepareView failing, Update, Remove, Walk,
// layer file update, deleted files in child, view read-only, 128-layer mount)
// plus the remote-snapshot exchange of snapshotter §4 with a fake handler.
// File-level checks mount the returned mounts and need root; without root they
// report "skipped: <reason>" (and fail under CI=true).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { after, before, describe, test } from "node:test";
import { LABEL_REMOTE, LABEL_TARGET_REF, Snapshotter, type RemoteHandler, type RemoteRequest } from "../snapshots/mod.ts";
import { serveSnapshots, type RunningServer } from "./server.ts";
import { snapshotsClient } from "./test_client.ts";

const run = promisify(execFile);
const isRoot = process.getuid?.() === 0;
const rootSkip = isRoot ? false : process.env.CI === "true" ? assert.fail("root is required under CI=true") : "needs root to mount overlay/bind";

const dir = mkdtempSync(join(tmpdir(), "soci-grpc-"));
const requests: RemoteRequest[] = [];
let mode: "lazy" | "unpacked" | "defer" = "lazy";
const fakeRemote: RemoteHandler = {
  async prepare(req) {
    requests.push(req);
    if (mode !== "defer") writeFileSync(join(req.fsDir, "from-remote"), req.target);
    return mode === "defer" ? { mode, reason: "test defers" } : { mode, reason: "test" };
  },
  async restore() {},
  async release() {},
};
let snap: Snapshotter;
let server: RunningServer;
let c: ReturnType<typeof snapshotsClient>;
const mounted: string[] = [];

before(async () => {
  snap = await Snapshotter.open(join(dir, "root"), { remote: fakeRemote });
  server = await serveSnapshots(snap, join(dir, "sock", "soci.sock"));
  c = snapshotsClient(server.socketPath, "ns1");
});
after(async () => {
  for (const m of mounted.reverse()) await run("umount", [m]).catch(() => undefined);
  c.close();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

const code = (n: number) => (e: { code?: number }) => e.code === n;
const NOT_FOUND = 5, ALREADY_EXISTS = 6, FAILED_PRECONDITION = 9, INVALID_ARGUMENT = 3;

async function mountAt(mounts: { type: string; source: string; options: string[] }[], name: string): Promise<string> {
  const target = join(dir, "mnt", name);
  mkdirSync(target, { recursive: true });
  const m = mounts[0]!;
  const opts = m.options.join(",");
  if (m.type === "bind") await run("mount", ["-o", opts.replace("rbind", "bind"), m.source, target]);
  else await run("mount", ["-t", m.type, m.source, "-o", opts, target]);
  mounted.push(target);
  return target;
}
async function unmount(target: string): Promise<void> {
  await run("umount", [target]);
  mounted.splice(mounted.indexOf(target), 1);
}

describe("Snapshots gRPC server (containerd testsuite shape)", () => {
  test("Basic: prepare → write → commit → child overlay sees the parent; deletes and adds stay in the child", { skip: rootSkip }, async () => {
    const m1 = (await c.call("Prepare", { key: "basic-prep", parent: "" })).mounts;
    assert.equal(m1[0].type, "bind");
    assert.deepEqual(m1[0].options, ["rw", "rbind"]);
    const t1 = await mountAt(m1, "b1");
    writeFileSync(join(t1, "foo"), "foo\n");
    mkdirSync(join(t1, "a/b"), { recursive: true });
    writeFileSync(join(t1, "a/b/gone"), "x");
    await unmount(t1);
    await c.call("Commit", { name: "basic-committed", key: "basic-prep" });

    const m2 = (await c.call("Prepare", { key: "basic-child", parent: "basic-committed" })).mounts;
    assert.equal(m2[0].type, "overlay");
    const t2 = await mountAt(m2, "b2");
    assert.equal(readFileSync(join(t2, "foo"), "utf8"), "foo\n");
    rmSync(join(t2, "a/b/gone"));
    writeFileSync(join(t2, "bar"), "bar\n");
    await unmount(t2);
    await c.call("Commit", { name: "basic-child-committed", key: "basic-child" });

    const v = (await c.call("View", { key: "basic-view", parent: "basic-child-committed" })).mounts;
    const t3 = await mountAt(v, "b3");
    assert.deepEqual(readdirSync(t3).sort(), ["a", "bar", "foo"]);
    assert.equal(existsSync(join(t3, "a/b/gone")), false);
    assert.throws(() => writeFileSync(join(t3, "new"), "x"), /EROFS|read-only/i);
    await unmount(t3);
  });

  test("StatActive/StatCommitted: kind, parent, labels, timestamps", async () => {
    await c.call("Prepare", { key: "stat-a", parent: "", labels: { l: "1" } });
    const a = (await c.call("Stat", { key: "stat-a" })).info;
    assert.equal(a.kind, "ACTIVE");
    assert.equal(a.name, "stat-a");
    assert.deepEqual(a.labels, { l: "1" });
    assert.ok(Number(a.created_at.seconds) > 1_700_000_000);
    await c.call("Commit", { name: "stat-c", key: "stat-a", labels: { m: "2" } });
    const s = (await c.call("Stat", { key: "stat-c" })).info;
    assert.equal(s.kind, "COMMITTED");
    assert.deepEqual(s.labels, { m: "2" }, "commit replaces labels");
    await assert.rejects(c.call("Stat", { key: "stat-a" }), code(NOT_FOUND));
  });

  test("Transitivity: a chain records each parent; mounts list lower dirs nearest first", async () => {
    let parent = "";
    for (const n of ["t1", "t2", "t3"]) {
      await c.call("Prepare", { key: `${n}-a`, parent });
      await c.call("Commit", { name: n, key: `${n}-a` });
      parent = n;
    }
    assert.equal((await c.call("Stat", { key: "t3" })).info.parent, "t2");
    assert.equal((await c.call("Stat", { key: "t2" })).info.parent, "t1");
    const m = (await c.call("Prepare", { key: "t4-a", parent: "t3" })).mounts[0];
    const lower = m.options.find((o: string) => o.startsWith("lowerdir="))!.slice(9).split(":");
    assert.equal(lower.length, 3);
    assert.ok(lower[0].endsWith("/fs") && lower[0] !== lower[2]);
  });

  test("parent rules: missing → NOT_FOUND, not committed → INVALID_ARGUMENT; duplicate key → ALREADY_EXISTS", async () => {
    await assert.rejects(c.call("Prepare", { key: "p1", parent: "nope" }), code(NOT_FOUND));
    await c.call("Prepare", { key: "p-active", parent: "" });
    await assert.rejects(c.call("Prepare", { key: "p2", parent: "p-active" }), code(INVALID_ARGUMENT));
    await assert.rejects(c.call("View", { key: "p3", parent: "p-active" }), code(INVALID_ARGUMENT));
    await assert.rejects(c.call("Prepare", { key: "p-active", parent: "" }), code(ALREADY_EXISTS));
    await assert.rejects(c.call("Prepare", { key: "", parent: "" }), code(INVALID_ARGUMENT));
  });

  test("Commit: twice → NOT_FOUND, onto an existing name → ALREADY_EXISTS, a view → FAILED_PRECONDITION", async () => {
    await c.call("Prepare", { key: "c-a", parent: "" });
    await c.call("Commit", { name: "c-n", key: "c-a" });
    await assert.rejects(c.call("Commit", { name: "c-n2", key: "c-a" }), code(NOT_FOUND));
    await c.call("Prepare", { key: "c-b", parent: "" });
    await assert.rejects(c.call("Commit", { name: "c-n", key: "c-b" }), code(ALREADY_EXISTS));
    await c.call("View", { key: "c-v", parent: "c-n" });
    await assert.rejects(c.call("Commit", { name: "c-n3", key: "c-v" }), code(FAILED_PRECONDITION));
    await assert.rejects(c.call("Mounts", { key: "c-n" }), code(FAILED_PRECONDITION));
    assert.deepEqual((await c.call("Mounts", { key: "c-v" })).mounts[0].options, ["ro", "rbind"]);
  });

  test("Remove: only leaves; unknown → NOT_FOUND; Cleanup deletes the directories", async () => {
    await c.call("Prepare", { key: "r-a", parent: "" });
    await c.call("Commit", { name: "r-base", key: "r-a" });
    await c.call("Prepare", { key: "r-child", parent: "r-base" });
    await assert.rejects(c.call("Remove", { key: "r-base" }), (e: { code?: number; details?: string }) => e.code === FAILED_PRECONDITION && /child/.test(e.details ?? ""));
    await assert.rejects(c.call("Remove", { key: "r-none" }), code(NOT_FOUND));
    const before = readdirSync(join(dir, "root", "snapshots")).length;
    await c.call("Remove", { key: "r-child" });
    await c.call("Remove", { key: "r-base" });
    await assert.rejects(c.call("Stat", { key: "r-base" }), code(NOT_FOUND));
    assert.equal(readdirSync(join(dir, "root", "snapshots")).length, before, "remove is asynchronous");
    await c.call("Cleanup", {});
    assert.equal(readdirSync(join(dir, "root", "snapshots")).length, before - 2);
  });

  test("Update: labels, labels.<k> set/delete, other paths INVALID_ARGUMENT; updated_at moves", async () => {
    await c.call("Prepare", { key: "u-a", parent: "", labels: { a: "1", b: "2" } });
    const before = (await c.call("Stat", { key: "u-a" })).info;
    await new Promise((r) => setTimeout(r, 5));
    let i = (await c.call("Update", { info: { name: "u-a", labels: { a: "9", c: "3" } }, update_mask: { paths: ["labels.a", "labels.b"] } })).info;
    assert.deepEqual(i.labels, { a: "9" });
    i = (await c.call("Update", { info: { name: "u-a", labels: { x: "y" } }, update_mask: { paths: [] } })).info;
    assert.deepEqual(i.labels, { x: "y" });
    i = (await c.call("Update", { info: { name: "u-a", labels: { z: "1" } }, update_mask: { paths: ["labels"] } })).info;
    assert.deepEqual(i.labels, { z: "1" });
    assert.deepEqual(i.created_at, before.created_at);
    assert.ok(Number(i.updated_at.seconds) * 1e9 + i.updated_at.nanos > Number(before.updated_at.seconds) * 1e9 + before.updated_at.nanos);
    await assert.rejects(c.call("Update", { info: { name: "u-a", labels: {}, parent: "x" }, update_mask: { paths: ["parent"] } }), code(INVALID_ARGUMENT));
    await assert.rejects(c.call("Update", { info: { name: "u-none", labels: {} }, update_mask: { paths: ["labels"] } }), code(NOT_FOUND));
    await assert.rejects(c.call("Prepare", { key: "u-big", parent: "", labels: { k: "v".repeat(5000) } }), code(INVALID_ARGUMENT));
  });

  test("List (Walk): all, filters by name/parent/kind/labels, OR across filters, bad filter INVALID_ARGUMENT", async () => {
    await c.call("Prepare", { key: "w-a", parent: "", labels: { team: "w" } });
    await c.call("Commit", { name: "w-base", key: "w-a", labels: { team: "w" } });
    await c.call("Prepare", { key: "w-kid", parent: "w-base", labels: { team: "w", "x.io/y": "z" } });
    const names = async (...f: string[]) => (await c.list(f)).map((i) => i.name).sort();
    assert.ok((await names()).includes("w-base"));
    assert.deepEqual(await names("labels.team==w"), ["w-base", "w-kid"]);
    assert.deepEqual(await names('parent=="w-base"'), ["w-kid"]);
    assert.deepEqual(await names("labels.team==w,kind==committed"), ["w-base"]);
    assert.deepEqual(await names('labels."x.io/y"==z', "name==w-base"), ["w-base", "w-kid"]);
    await assert.rejects(c.list(['name=="x']), code(INVALID_ARGUMENT));
  });

  test("List streams more than one batch (100 Info per message)", async () => {
    for (let i = 0; i < 130; i++) await c.call("Prepare", { key: `many-${i}`, parent: "", labels: { many: "1" } });
    assert.equal((await c.list(["labels.many==1"])).length, 130);
  });

  test("Usage: active snapshots measured live, committed ones stored at commit", { skip: rootSkip }, async () => {
    const m = (await c.call("Prepare", { key: "us-a", parent: "" })).mounts;
    const t = await mountAt(m, "us");
    writeFileSync(join(t, "blob"), Buffer.alloc(256 * 1024, 1));
    await unmount(t);
    const u = await c.call("Usage", { key: "us-a" });
    assert.ok(Number(u.size) >= 256 * 1024, `size ${u.size}`);
    assert.equal(Number(u.inodes), 2);
    await c.call("Commit", { name: "us-c", key: "us-a" });
    assert.deepEqual(await c.call("Usage", { key: "us-c" }), u);
  });

  test("128 layers: the overlay mount lists every lower dir", async () => {
    let parent = "";
    for (let i = 0; i < 128; i++) {
      await c.call("Prepare", { key: `deep-${i}-a`, parent });
      await c.call("Commit", { name: `deep-${i}`, key: `deep-${i}-a` });
      parent = `deep-${i}`;
    }
    const m = (await c.call("Prepare", { key: "deep-top", parent })).mounts[0];
    assert.equal(m.options.find((o: string) => o.startsWith("lowerdir=")).split(":").length, 128);
  });

  test("remote path (§4): commit under the target with markers, ALREADY_EXISTS, found by containerd's List filter", async () => {
    mode = "lazy";
    const labels = { [LABEL_TARGET_REF]: "sha256:chain1", "containerd.io/snapshot/cri.layer-digest": "sha256:l1" };
    await assert.rejects(c.call("Prepare", { key: "ns1/7/extract-1 sha256:chain1", parent: "", labels }), (e: { code?: number; details?: string }) => e.code === ALREADY_EXISTS && /target snapshot "sha256:chain1"/.test(e.details ?? ""));
    assert.equal(requests.at(-1)?.namespace, "ns1");
    const found = await c.list([`labels."${LABEL_TARGET_REF}"==sha256:chain1,parent==""`]);
    assert.equal(found.length, 1);
    assert.equal(found[0].kind, "COMMITTED");
    assert.equal(found[0].labels[LABEL_REMOTE], "remote snapshot");
    assert.equal(found[0].labels["containerd.io/snapshot/remote/namespace"], "ns1");
    assert.equal(found[0].labels["containerd.io/snapshot/remote/has.soci.index.digest"], "true");
    await assert.rejects(c.call("Stat", { key: "ns1/7/extract-1 sha256:chain1" }), code(NOT_FOUND));

    mode = "unpacked";
    await assert.rejects(c.call("Prepare", { key: "k2", parent: "sha256:chain1", labels: { [LABEL_TARGET_REF]: "sha256:chain2" } }), code(ALREADY_EXISTS));
    const s2 = (await c.call("Stat", { key: "sha256:chain2" })).info;
    assert.equal(s2.parent, "sha256:chain1");
    assert.equal(s2.labels[LABEL_REMOTE], undefined, "unpacked layers are not remote");
    // The same target again: the commit collides, still ALREADY_EXISTS.
    await assert.rejects(c.call("Prepare", { key: "k2b", parent: "sha256:chain1", labels: { [LABEL_TARGET_REF]: "sha256:chain2" } }), code(ALREADY_EXISTS));

    mode = "defer";
    const m = (await c.call("Prepare", { key: "k3", parent: "sha256:chain2", labels: { [LABEL_TARGET_REF]: "sha256:chain3" } })).mounts;
    assert.equal(m[0].type, "overlay");
    assert.equal((await c.call("Stat", { key: "k3" })).info.kind, "ACTIVE");
  });

  test("records survive a restart of the service", async () => {
    const again = await Snapshotter.open(join(dir, "root"));
    assert.deepEqual(await again.stat("t3"), await snap.stat("t3"));
    assert.equal((await again.list()).length, (await snap.list()).length);
  });
});
