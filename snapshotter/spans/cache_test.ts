import { after, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DiskSpanCache, MemorySpanCache } from "./mod.ts";

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "soci-spancache-"));
  dirs.push(d);
  return d;
};
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const bytes = (n: number, v: number) => new Uint8Array(n).fill(v);

test("DiskSpanCache round-trips, evicts least recently used, and declines entries over the budget", async () => {
  const dir = tempDir();
  const c = new DiskSpanCache({ dir, maxBytes: 3 * (1000 + 16) });
  await c.put("sha256:aa/0", bytes(1000, 1));
  await c.put("sha256:aa/1", bytes(1000, 2));
  await c.put("sha256:aa/2", bytes(1000, 3));
  assert.deepEqual(await c.get("sha256:aa/0"), bytes(1000, 1)); // 0 is now the most recently used
  await c.put("sha256:aa/3", bytes(1000, 4));
  assert.equal(c.has("sha256:aa/1"), false);
  assert.equal(await c.get("sha256:aa/1"), null);
  assert.ok(c.has("sha256:aa/0") && c.has("sha256:aa/2") && c.has("sha256:aa/3"));
  assert.equal(c.totalBytes, 3 * 1016);
  await c.put("sha256:aa/big", bytes(4000, 9));
  assert.equal(c.has("sha256:aa/big"), false);
  assert.equal(c.totalBytes, 3 * 1016);
  assert.deepEqual(readdirSync(join(dir, "wip")), []);
});

test("DiskSpanCache reopens its directory, drops wip leftovers and treats a foreign file as a miss", async () => {
  const dir = tempDir();
  const c = new DiskSpanCache({ dir, maxBytes: 1 << 20 });
  await c.put("k/1", bytes(10, 7));
  mkdirSync(join(dir, "wip"), { recursive: true });
  writeFileSync(join(dir, "wip", "half-written"), "x");
  writeFileSync(join(dir, "k_2"), "not a span file at all");
  const again = new DiskSpanCache({ dir, maxBytes: 1 << 20 });
  assert.equal(existsSync(join(dir, "wip", "half-written")), false);
  assert.deepEqual(await again.get("k/1"), bytes(10, 7));
  assert.equal(await again.get("k/2"), null);
  assert.equal(existsSync(join(dir, "k_2")), false, "the damaged file is removed");
  const small = new DiskSpanCache({ dir, maxBytes: 0 });
  assert.equal(small.totalBytes, 0, "a smaller budget evicts on open");
});

test("MemorySpanCache keeps at most maxBytes, least recently used out first", async () => {
  const c = new MemorySpanCache(250);
  await c.put("a", bytes(100, 1));
  await c.put("b", bytes(100, 2));
  await c.get("a");
  await c.put("c", bytes(100, 3));
  assert.equal(await c.get("b"), null);
  assert.deepEqual(await c.get("a"), bytes(100, 1));
  assert.equal(c.totalBytes, 200);
  await c.put("d", bytes(300, 4));
  assert.equal(c.has("d"), false);
});

test("DiskSpanCache.readInto() copies just the asked range; a miss, a range past the end or a damaged file answers false", async () => {
  const dir = tempDir();
  const c = new DiskSpanCache({ dir, maxBytes: 1 << 20 });
  const payload = Uint8Array.from({ length: 5000 }, (_, i) => (i * 7) & 0xff);
  await c.put("sha256:bb/0", payload);
  const dst = new Uint8Array(1000);
  assert.equal(c.readInto("sha256:bb/0", 1234, dst), true);
  assert.deepEqual(dst, payload.subarray(1234, 2234));
  const tail = new Uint8Array(10);
  assert.equal(c.readInto("sha256:bb/0", 4990, tail), true);
  assert.deepEqual(tail, payload.subarray(4990));
  assert.equal(c.readInto("sha256:bb/0", 4995, new Uint8Array(10)), false, "past the payload's end");
  assert.equal(c.readInto("sha256:bb/1", 0, new Uint8Array(1)), false, "not stored");
  writeFileSync(join(dir, "sha256_bb_0"), "short and foreign");
  assert.equal(c.readInto("sha256:bb/0", 0, new Uint8Array(4)), false, "damaged");
  assert.equal(c.has("sha256:bb/0"), false, "a damaged entry is forgotten");
  assert.equal(existsSync(join(dir, "sha256_bb_0")), false, "and removed");
});

test("MemorySpanCache.readInto() copies the range and refuses one past the end", async () => {
  const c = new MemorySpanCache(1000);
  await c.put("a", Uint8Array.from([1, 2, 3, 4, 5]));
  const dst = new Uint8Array(2);
  assert.equal(c.readInto("a", 3, dst), true);
  assert.deepEqual(dst, Uint8Array.from([4, 5]));
  assert.equal(c.readInto("a", 4, dst), false);
  assert.equal(c.readInto("b", 0, dst), false);
});
