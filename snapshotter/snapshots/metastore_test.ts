import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { MetaStore } from "./metastore.ts";
import type { SnapshotRecord } from "./types.ts";

const rec = (name: string, id: string): SnapshotRecord => ({ id, name, parent: "", kind: "active", labels: {}, createdAt: { seconds: 1, nanos: 2 }, updatedAt: { seconds: 1, nanos: 2 }, usage: { size: 0, inodes: 0 } });

// Child mode (the kill -9 test below): commit transactions forever, before any test registers.
if (process.env.SOCI_META_CHILD) {
  const s = await MetaStore.open(process.env.SOCI_META_CHILD);
  for (;;) {
    await s.update((st) => {
      const id = st.nextId++;
      st.snapshots.set(`k${id}`, { ...rec(`k${id}`, String(id)), labels: { pad: "x".repeat(200) } });
    });
  }
}

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const temp = () => {
  const d = mkdtempSync(join(tmpdir(), "soci-meta-"));
  dirs.push(d);
  return d;
};

test("MetaStore persists transactions and reopens them", async () => {
  const d = temp();
  const s = await MetaStore.open(d);
  await s.update((st) => {
    st.snapshots.set("a", rec("a", String(st.nextId++)));
  });
  const again = await MetaStore.open(d);
  assert.equal(again.current.nextId, 2);
  assert.deepEqual(again.current.snapshots.get("a"), rec("a", "1"));
});

test("MetaStore.update() changes nothing when the transaction throws", async () => {
  const s = await MetaStore.open(temp());
  await assert.rejects(s.update((st) => {
    st.nextId = 99;
    throw new Error("boom");
  }), /boom/);
  assert.equal(s.current.nextId, 1);
});

test("MetaStore refuses a damaged file with a typed error and a hint", async () => {
  const d = temp();
  const s = await MetaStore.open(d);
  await s.update((st) => void st.snapshots.set("a", rec("a", "1")));
  const text = readFileSync(join(d, "metadata.json"), "utf8");
  writeFileSync(join(d, "metadata.json"), text.replace('\\"a\\"', '\\"b\\"'));
  await assert.rejects(MetaStore.open(d), (e: Error & { code?: string; hint?: string }) => e.code === "format" && /checksum mismatch/.test(e.message) && e.hint !== undefined);
  writeFileSync(join(d, "metadata.json"), text.slice(0, 10));
  await assert.rejects(MetaStore.open(d), /not JSON/);
});

// A child process commits transactions in a loop; we kill -9 it at random moments.
// After each kill the file must open and hold a prefix of the sequence: n records, nextId n+1.
test("MetaStore survives kill -9 at any point (20 kills mid-write)", async () => {
  const d = temp();
  const url = new URL(import.meta.url).pathname;
  for (let k = 0; k < 20; k++) {
    const child = spawn(process.execPath, [url], { env: { ...process.env, SOCI_META_CHILD: d }, stdio: "ignore" });
    // Wait until the child commits (file present and changing), then kill at a random moment.
    const size = () => (existsSync(join(d, "metadata.json")) ? statSync(join(d, "metadata.json")).size : -1);
    const start = size();
    for (let i = 0; i < 300 && size() === start; i++) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, Math.random() * 50));
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));
    const s = await MetaStore.open(d);
    const n = s.current.snapshots.size;
    assert.equal(s.current.nextId, n + 1, `after kill ${k}`);
    for (let i = 1; i <= n; i++) assert.equal(s.current.snapshots.get(`k${i}`)?.id, String(i));
  }
  assert.ok((await MetaStore.open(d)).current.snapshots.size >= 20, "the child made progress between kills");
});

