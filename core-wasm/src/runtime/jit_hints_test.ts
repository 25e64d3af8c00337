// JIT tier hints (jit_hints.ts): active on Bun, a no-op elsewhere, and never a
// change of behaviour. Runs under Node, Deno and Bun (scripts/test.mjs).
import { test } from "node:test";
import assert from "node:assert/strict";
import { jitHintsActive, keepMethodsOutOfFtl, keepOutOfFtl } from "./jit_hints.ts";

test("jit hints take effect on Bun, and only there", () => {
  // On Bun a missing `bun:jsc` noFTL would silently cost the convert bench
  // 6–8 %; this makes that visible.
  const onBun = (globalThis as { Bun?: unknown }).Bun !== undefined;
  assert.equal(jitHintsActive, onBun);
});

test("hinted functions and methods behave the same; non-functions are ignored", () => {
  const add = (a: number, b: number) => a + b;
  class C {
    #n = 1;
    get n(): number {
      return this.#n;
    }
    twice(x: number): number {
      return 2 * x + this.#n - 1;
    }
  }
  keepOutOfFtl(add, undefined, null, 3, "x", {});
  keepMethodsOutOfFtl(C.prototype);
  let s = 0;
  for (let i = 0; i < 200_000; i++) s = add(s, new C().twice(i) & 1);
  assert.equal(s, 0);
  assert.equal(new C().n, 1);
  assert.equal(add(2, 3), 5);
});
