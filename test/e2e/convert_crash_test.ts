// Crash safety of `soci convert` (STYLE §8: nothing half-written): the built
// CLI converts big-layer with --jobs 1 and is killed with SIGKILL once stderr
// shows progress (the first layer done, the ≥ 50 MB layer in flight), and again
// later (blobs being copied / the store being written). Afterwards: no output
// path (or a complete, valid image if the run won the race), the store opens
// and lists, a second full run succeeds and verifies, and no temp files remain
// in the store or the output.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { BUNDLE, buildCliAndFixtures, checkLayout, IMAGES, ok, sociIn, tempDir, tempNames, type Ran } from "./_soci_cli.ts";

let dir = "";
let store = "";
let soci: (...args: string[]) => Ran;
const BIG = join(IMAGES, "big-layer");

before(() => {
  buildCliAndFixtures(["big-layer"]);
  dir = tempDir("soci-convert-crash-");
  store = join(dir, "store");
  soci = sociIn(dir, store);
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/**
 * Starts a conversion and sends SIGKILL when `killWhen(stderr, stdout)` first
 * holds. Resolves with how it ended.
 */
function convertAndKill(out: string, killWhen: (stderr: string, stdout: string) => boolean): Promise<{ signal: NodeJS.Signals | null; code: number | null; stderr: string; stdout: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [BUNDLE, "--store", store, "convert", "--jobs", "1", "--force", "--min-layer-size", "0", "--format", "oci-dir", BIG, out], {
      cwd: dir,
      env: { PATH: "/usr/bin:/bin", HOME: dir },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    let stdout = "";
    let sent = false;
    const check = () => {
      if (!sent && killWhen(stderr, stdout)) {
        sent = true;
        p.kill("SIGKILL");
      }
    };
    p.stderr.on("data", (b) => {
      stderr += b;
      check();
    });
    p.stdout.on("data", (b) => {
      stdout += b;
      check();
    });
    p.once("error", reject);
    p.once("close", (code, signal) => resolve({ code, signal, stderr, stdout }));
  });
}

function assertStoreUsable(): void {
  const list = soci("index", "list", "-q"); // opens the store, which removes a killed writer's temp files
  assert.equal(list.code, 0, list.stderr);
  assert.deepEqual(tempNames(store), [], "no temp files in the store once it was opened");
}

test("SIGKILL while the big layer is being indexed: no output, the store opens, a second run succeeds and verifies", async () => {
  const first = await convertAndKill("out", (stderr) => /^layer sha256:[0-9a-f]{12}: .* in [\d.]+s/m.test(stderr));
  assert.equal(first.signal, "SIGKILL", `killed mid-way (stderr: ${first.stderr})`);
  assert.match(first.stderr, /^layer sha256:[0-9a-f]{12}: /m, "progress was shown before the kill");
  assert.doesNotMatch(first.stdout, /converted image/);
  assert.ok(!existsSync(join(dir, "out")), "no output path after the kill");
  assertStoreUsable();
  assert.equal(soci("index", "list", "-q").stdout, "", "no index recorded by the killed run");

  const second = ok(soci("convert", "--jobs", "1", "--min-layer-size", "0", "--format", "oci-dir", BIG, "out"));
  assert.match(second.stdout, /^converted image sha256:[0-9a-f]{64} written to out \(oci-dir\)$/m);
  checkLayout(join(dir, "out"));
  ok(soci("verify", "out"));
  assert.equal(ok(soci("index", "list", "-q")).stdout.trim().split("\n").length, 1);
  assert.deepEqual(tempNames(store), []);
  assert.deepEqual(tempNames(dir), [], "no temp files in the output, and the killed run's staging directory is gone");
});

test("SIGKILL after the last layer (copying blobs, writing the store): the output is absent or complete, and a rerun verifies", async () => {
  const layers = 3;
  const done = (stdout: string) => (stdout.match(/^layer sha256:\S+ -> ztoc /gm) ?? []).length === layers;
  const r = await convertAndKill("late", (_, stdout) => done(stdout));
  if (r.signal === "SIGKILL") {
    // Killed while writing: the output path is all or nothing.
    if (existsSync(join(dir, "late"))) {
      checkLayout(join(dir, "late"));
      ok(soci("verify", "late"));
    }
  } else assert.equal(r.code, 0, r.stderr);
  assertStoreUsable();
  ok(soci("convert", "--jobs", "1", "--min-layer-size", "0", "--format", "oci-dir", BIG, "late"));
  ok(soci("verify", "late"));
  assert.deepEqual(tempNames(dir), [], "no temp files in the store or the output; the killed run's staging directory is gone");
});
