// The shipped single binary on the lazy path (what a user runs): `dist/soci
// mount` — Bun, its worker threads blocked in read(2) on /dev/fuse, the
// compiled-in bytecode — mounts a converted image from the loopback registry,
// starts its own daemon (the binary again), serves a tree equal to `tar -x` of
// the layers with every file read through spans and the §8.6 header check, and
// `dist/soci umount` ends it. The other mount e2e tests run the bundle under
// Node. Needs root, /dev/fuse, overlayfs, docker-registry (a failure under CI=true).
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { startRegistry, type RunningRegistry } from "../fakes/docker_registry.ts";
import { diffTrees, expectTree, fixtureLayers, mountPrerequisites, ok, run, sh, soci, walkTree, type StatusJson } from "./_mount_util.ts";
import { BINARY, buildCliAndFixtures, tempDir } from "./_soci_cli.ts";

const why = mountPrerequisites();
if (why && process.env.CI === "true") test("mount e2e prerequisites", () => assert.fail(`missing under CI=true: ${why}`));
const skip = why ? `skipped: ${why}` : false;

describe("dist/soci mount (the Bun binary)", { skip, timeout: 600_000 }, () => {
  let registry: RunningRegistry;
  let dir = "";
  let root = "";
  let target = "";
  let ref = "";
  const bin = (...args: string[]) => run(BINARY, ["--store", join(dir, "store"), ...args], { cwd: dir, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir } });

  before(async () => {
    buildCliAndFixtures(["sample"]);
    registry = await startRegistry();
    dir = tempDir("soci-mount-binary-");
    root = join(dir, "root");
    target = join(dir, "mnt");
    ref = `${registry.host}/sample:soci`;
    ok(await soci(dir, join(dir, "store"))("convert", "--min-layer-size", "0", fixtureLayers("sample").layout, ref), "convert + push");
  });

  after(async () => {
    await bin("umount", "--root", root, target).catch(() => undefined);
    await registry?.stop();
    if (dir) {
      await sh(`grep ${dir} /proc/mounts | cut -d' ' -f2 | sort -r | xargs -r -n1 umount -l`);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("mounts lazily, the tree equals tar -x, umount stops the daemon", async () => {
    const expected = join(dir, "expected");
    await expectTree(expected, fixtureLayers("sample").blobs);
    mkdirSync(target);
    const m = ok(await bin("mount", "--root", root, ref, target), "dist/soci mount");
    assert.match(m.stdout, /\(pid (\d+); \d+ layers: \d+ lazy/);
    const pid = Number(/\(pid (\d+);/.exec(m.stdout)![1]);
    assert.match(readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")[0]!, /dist\/soci$/, "the daemon is the binary too");
    const st = JSON.parse(ok(await bin("mount", "--root", root, "--stats", "--json", target)).stdout) as StatusJson;
    assert.ok(st.layers.some((l) => l.mode === "lazy"), JSON.stringify(st.layers.map((l) => [l.mode, l.reason])));
    const diffs = diffTrees(await walkTree(expected), await walkTree(target));
    assert.deepEqual(diffs.slice(0, 20), [], `${diffs.length} differences`);
    const after = JSON.parse(ok(await bin("mount", "--root", root, "--stats", "--json", target)).stdout) as StatusJson;
    assert.ok(after.layers.reduce((a, l) => a + l.bytesFetched, 0) > 0, "the files were read through spans");
    const logs = readdirSync(join(root, "logs")).map((f) => readFileSync(join(root, "logs", f), "utf8")).join("\n");
    assert.doesNotMatch(logs, /Refusing to serve/);
    ok(await bin("umount", "--root", root, target), "dist/soci umount");
    ok(await sh(`! mountpoint -q ${target}`), "unmounted");
    for (let i = 0; i < 50; i++) {
      try {
        process.kill(pid, 0);
      } catch {
        return; // the daemon is gone
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.fail(`daemon ${pid} still running after umount`);
  });
});
