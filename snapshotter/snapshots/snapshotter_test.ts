import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { PullLog, STATUS_FILE } from "./pull_log.ts";
import { Snapshotter, UnavailableError, type RemoteHandler } from "./snapshotter.ts";
import { LABEL_HAS_SOCI_INDEX, LABEL_REMOTE, LABEL_TARGET_REF } from "./types.ts";

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const temp = () => {
  const d = mkdtempSync(join(tmpdir(), "soci-snaps-"));
  dirs.push(d);
  return d;
};

test("a directory left by a crash before its record was written is skipped for new ids and removed by cleanup()", async () => {
  const root = temp();
  const s = await Snapshotter.open(root);
  await s.prepare("a", "", {});
  // Simulate: id 2's directory renamed into place, then kill -9 before the record was persisted.
  mkdirSync(join(root, "snapshots", "2", "fs"), { recursive: true });
  mkdirSync(join(root, "snapshots", "new-abc"), { recursive: true });
  const again = await Snapshotter.open(root);
  await again.prepare("b", "", {});
  assert.ok(existsSync(again.fsDir("3")), "id 2 was taken by the orphan, b got 3");
  assert.deepEqual((await again.cleanup()).sort(), ["2", "new-abc"]);
  assert.deepEqual(readdirSync(join(root, "snapshots")).sort(), ["1", "3"]);
});

test("remote prepare: a target already committed with the same parent is answered without calling the handler", async () => {
  let calls = 0;
  const released: string[] = [];
  const remote: RemoteHandler = {
    prepare: async (r) => {
      calls++;
      writeFileSync(join(r.fsDir, "x"), "1");
      return { mode: "lazy", reason: "t" };
    },
    restore: async () => {},
    release: async (d) => void released.push(d),
  };
  const s = await Snapshotter.open(temp(), { remote });
  const labels = { [LABEL_TARGET_REF]: "chain-a" };
  await assert.rejects(s.prepare("ns/1/extract a", "", labels, "ns"), (e: Error & { code?: string }) => e.code === "already_exists");
  const info = await s.stat("chain-a");
  assert.equal(info.labels[LABEL_REMOTE], "remote snapshot");
  assert.equal(info.labels[LABEL_HAS_SOCI_INDEX], "true");
  await assert.rejects(s.prepare("ns2/1/extract a", "", labels, "ns2"), (e: Error & { code?: string }) => e.code === "already_exists");
  assert.equal(calls, 1, "the second namespace reuses the committed target");
  assert.deepEqual((await s.list()).map((i) => i.name), ["chain-a"], "no active snapshot left behind");
  assert.deepEqual(s.remoteSnapshots().map((r) => r.info.name), ["chain-a"]);
});

test("remote prepare: a handler error is returned and the active snapshot stays for containerd to remove", async () => {
  const remote: RemoteHandler = { prepare: async () => Promise.reject(new Error("disk full")), restore: async () => {}, release: async () => {} };
  const s = await Snapshotter.open(temp(), { remote });
  await assert.rejects(s.prepare("k", "", { [LABEL_TARGET_REF]: "c" }), /disk full/);
  assert.equal((await s.stat("k")).kind, "active");
});

test("PullLog writes status.json with every layer's mode, reason and bytes", async () => {
  const root = temp();
  const log = new PullLog(root, "/x.sock", (doc) => {
    doc.images[0]!.layers[0]!.bytesFetched = 123;
  });
  log.record({ ref: "r", manifestDigest: "sha256:m", sociIndex: "sha256:i", namespace: "default" }, { digest: "sha256:l1", chainId: "c1", mode: "lazy", reason: "ok", bytesFetched: 0, size: 10, at: "t" });
  log.record({ ref: "r", manifestDigest: "sha256:m", sociIndex: "", namespace: "default" }, { digest: "sha256:l2", chainId: "c2", mode: "defer", reason: "no index", bytesFetched: 0, size: 20, at: "t" });
  await log.flush();
  const doc = JSON.parse(readFileSync(join(root, STATUS_FILE), "utf8"));
  assert.equal(doc.images.length, 1);
  assert.equal(doc.images[0].sociIndex, "sha256:i");
  assert.deepEqual(doc.images[0].layers.map((l: { mode: string; bytesFetched: number }) => [l.mode, l.bytesFetched]), [["lazy", 123], ["defer", 0]]);
  assert.equal(readdirSync(root).filter((n) => n.includes(".tmp")).length, 0);
});

test("§6.1: Mounts, and Prepare/View on a chain with a remote layer no longer served, fail as unavailable", async () => {
  let served = true;
  const remote: RemoteHandler = {
    prepare: async () => ({ mode: "lazy", reason: "t" }),
    restore: async () => {},
    release: async () => {},
    check: async () => {
      if (!served) throw new Error("gone");
    },
  };
  const s = await Snapshotter.open(temp(), { remote });
  await assert.rejects(s.prepare("x", "", { [LABEL_TARGET_REF]: "lazy-1" }), /already exists/);
  await s.prepare("ctr", "lazy-1", {});
  assert.equal((await s.mounts("ctr"))[0]!.type, "overlay");
  served = false;
  await assert.rejects(s.mounts("ctr"), (e: Error) => e instanceof UnavailableError && /"lazy-1": it is unavailable: gone/.test(e.message));
  await assert.rejects(s.view("v", "lazy-1", {}), UnavailableError);
  await assert.rejects(s.prepare("ctr2", "lazy-1", {}), UnavailableError);
});
