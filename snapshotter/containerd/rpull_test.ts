import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import { chainIds, fitLabel } from "./rpull.ts";

const sha = (s: string) => "sha256:" + createHash("sha256").update(s).digest("hex");

test("chainIds() follows the OCI definition", () => {
  const d = [sha("a"), sha("b"), sha("c")];
  const c = chainIds(d);
  assert.equal(c[0], d[0]);
  assert.equal(c[1], sha(`${d[0]} ${d[1]}`));
  assert.equal(c[2], sha(`${c[1]} ${d[2]}`));
  assert.deepEqual(chainIds([]), []);
});

test("fitLabel() keeps key + value within 4096 bytes, cutting at a whole item", () => {
  const key = "containerd.io/snapshot/cri.image-layers";
  const items = Array.from({ length: 100 }, (_, i) => sha(String(i)));
  const v = fitLabel(key, items);
  assert.ok(key.length + v.length <= 4096);
  assert.ok(v.split(",").every((x) => items.includes(x)));
  assert.equal(v.split(",").length, Math.floor((4096 - key.length + 1) / 72));
  assert.equal(fitLabel(key, items.slice(0, 2)), items.slice(0, 2).join(","));
});
