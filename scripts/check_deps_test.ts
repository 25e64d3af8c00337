import { test } from "node:test";
import assert from "node:assert/strict";
// @ts-ignore: plain ESM script without types
import { checkFile } from "./check_deps.mjs";

const resolver = (from: string) => (spec: string): string | null => {
  if (!spec.startsWith(".")) return null;
  const parts = from.split("/").slice(0, -1);
  for (const p of spec.split("/")) {
    if (p === "..") parts.pop();
    else if (p !== ".") parts.push(p);
  }
  return parts.join("/");
};

function check(rel: string, text: string): string[] {
  return checkFile(rel, text, resolver(rel));
}

test("checkFile() accepts a lower layer imported through mod.ts", () => {
  assert.deepEqual(check("core-wasm/src/ztoc/build.ts", 'import { x } from "../tar/mod.ts";\nimport { E } from "../errors.ts";'), []);
});

test("checkFile() rejects an upward import between core folders", () => {
  const errs = check("core-wasm/src/tar/walk.ts", 'import { x } from "../ztoc/mod.ts";');
  assert.equal(errs.length, 1);
  assert.match(errs[0], /core\/tar may not import core\/ztoc/);
});

test("checkFile() rejects reaching into another folder past its mod.ts", () => {
  const errs = check("core-wasm/src/ztoc/build.ts", 'import { x } from "../tar/walker.ts";');
  assert.ok(errs.some((e: string) => /through its mod.ts/.test(e)));
});

test("checkFile() rejects cli importing snapshotter and WebAssembly outside wasm/", () => {
  assert.ok(check("cli/main.ts", 'import { a } from "../snapshotter/main.ts";').length > 0);
  assert.deepEqual(check("cli/commands/mount.ts", 'import { a } from "../../snapshotter/mod.ts";'), []);
  assert.ok(check("snapshotter/mod.ts", 'import { a } from "../cli/main.ts";').length > 0);
  assert.ok(check("snapshotter/layerfs/fs.ts", 'import { a } from "../grpc/mod.ts";').length > 0);
  assert.ok(check("core-wasm/src/gzip/x.ts", "const m = WebAssembly.instantiate(b);").length > 0);
});

test("checkFile() rejects fuse/ knowing about spans/", () => {
  assert.ok(check("snapshotter/fuse/dev.ts", 'import { s } from "../spans/mod.ts";').length > 0);
});
