import assert from "node:assert/strict";
import { test } from "node:test";
import { mountsFor } from "./mounts.ts";

test("mountsFor() follows containerd's overlay snapshotter (snapshotter §6)", () => {
  const base = { upperDir: "/r/3/fs", workDir: "/r/3/work" };
  assert.deepEqual(mountsFor({ ...base, kind: "active", lowerDirs: [] }), [{ type: "bind", source: "/r/3/fs", options: ["rw", "rbind"] }]);
  assert.deepEqual(mountsFor({ ...base, kind: "view", lowerDirs: [] }), [{ type: "bind", source: "/r/3/fs", options: ["ro", "rbind"] }]);
  assert.deepEqual(mountsFor({ ...base, kind: "view", lowerDirs: ["/r/2/fs"] }), [{ type: "bind", source: "/r/2/fs", options: ["ro", "rbind"] }]);
  assert.deepEqual(mountsFor({ ...base, kind: "active", lowerDirs: ["/r/2/fs", "/r/1/fs"] }), [
    { type: "overlay", source: "overlay", options: ["workdir=/r/3/work", "upperdir=/r/3/fs", "lowerdir=/r/2/fs:/r/1/fs"] },
  ]);
  assert.deepEqual(mountsFor({ ...base, kind: "view", lowerDirs: ["/r/2/fs", "/r/1/fs"] }), [{ type: "overlay", source: "overlay", options: ["lowerdir=/r/2/fs:/r/1/fs"] }]);
});
