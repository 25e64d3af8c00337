import assert from "node:assert/strict";
import { test } from "node:test";
import { matchFilter, parseFilters } from "./filters.ts";
import type { Info } from "./types.ts";

const t0 = { seconds: 0, nanos: 0 };
const info = (name: string, parent: string, labels: Record<string, string> = {}, kind: Info["kind"] = "committed"): Info => ({ name, parent, kind, labels, createdAt: t0, updatedAt: t0 });

test("parseFilters() reads what containerd sends after ALREADY_EXISTS (snapshotter §4)", () => {
  const f = parseFilters(['labels."containerd.io/snapshot.ref"==sha256:abc,parent==""']);
  assert.equal(matchFilter(f, info("sha256:abc", "", { "containerd.io/snapshot.ref": "sha256:abc" })), true);
  assert.equal(matchFilter(f, info("sha256:abc", "p", { "containerd.io/snapshot.ref": "sha256:abc" })), false);
  assert.equal(matchFilter(f, info("sha256:abc", "", { "containerd.io/snapshot.ref": "sha256:abd" })), false);
  assert.equal(matchFilter(f, info("sha256:abc", "", {})), false);
});

test("filters: OR across strings, AND inside one, !=, ~=, presence, bare dotted label keys", () => {
  const a = info("a", "", { "x.y/z": "1", team: "blue" }, "active");
  const b = info("b", "a", { team: "red" });
  const run = (...f: string[]) => [a, b].filter((i) => matchFilter(parseFilters(f), i)).map((i) => i.name);
  assert.deepEqual(run(), ["a", "b"]);
  assert.deepEqual(run("name==a", "name==b"), ["a", "b"]);
  assert.deepEqual(run("name==a,kind==committed"), []);
  assert.deepEqual(run("kind==committed"), ["b"]);
  assert.deepEqual(run("parent!=a"), ["a"]);
  assert.deepEqual(run("labels.team~=^bl"), ["a"]);
  assert.deepEqual(run("labels.team~=/^r.d$/"), ["b"]);
  assert.deepEqual(run("labels.x.y/z==1"), ["a"]);
  assert.deepEqual(run('labels."x.y/z"'), ["a"]);
  assert.deepEqual(run("labels.team"), ["a", "b"]);
  assert.deepEqual(run('name=="a\\"q"'), []);
  assert.deepEqual(run(" name == b "), ["b"]);
});

test("parseFilters() rejects bad syntax with InvalidArgumentError", () => {
  for (const bad of ['name=="unterminated', "name==a b", "labels.a~=(", "==a"]) {
    assert.throws(() => parseFilters([bad]), (e: Error & { code?: string }) => e.code === "invalid_argument" && /Cannot parse filter/.test(e.message), bad);
  }
});
