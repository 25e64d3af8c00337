// Runs the mutation fuzzer (scripts/fuzz_inflate.mjs) for ~10 s so CI does.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { ROOT } from "./_corpus.ts";

test("fuzz_inflate finds no divergence from node:zlib and no non-FormatError exception in 10 s", () => {
  const r = spawnSync(process.execPath, [join(ROOT, "scripts", "fuzz_inflate.mjs"), "--seconds", "10"], { encoding: "utf8", cwd: ROOT });
  assert.equal(r.status, 0, `fuzzer failed:\n${r.stdout}\n${r.stderr}`);
  const summary = JSON.parse(r.stdout.trim().split("\n").pop()!);
  assert.equal(summary.failures, 0);
  assert.ok(summary.runs > 100, `only ${summary.runs} runs`);
});
