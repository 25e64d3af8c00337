// `soci mount -u USER:PASS` against a registry with basic auth (htpasswd):
// the image mounts and reads, and the password never reaches a process
// command line (the detached daemon gets it through its environment) nor the
// mount's log or status files. Needs root, /dev/fuse, overlayfs,
// docker-registry, htpasswd; otherwise "skipped: <reason>" (a failure under
// CI=true).
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { startRegistry, type RunningRegistry } from "../fakes/docker_registry.ts";
import { fixtureLayers, mountPrerequisites, ok, sh, soci, type StatusJson } from "./_mount_util.ts";
import { buildCliAndFixtures, tempDir } from "./_soci_cli.ts";

const why = mountPrerequisites();
if (why && process.env.CI === "true") test("mount auth e2e prerequisites", () => assert.fail(`missing under CI=true: ${why}`));
const skip = why ? `skipped: ${why}` : false;

const USER = "mounter";
const PASSWORD = "s3cret-Mount-Pass";

/** Every file under `dir` (the mount root's logs and status files), as text. */
function filesUnder(dir: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p, { throwIfNoEntry: false });
    if (!st) continue;
    if (st.isDirectory()) {
      if (name === "cache" || name === "layers" || name === "lower") continue; // span/layer data, not text
      out.push(...filesUnder(p));
    } else if (st.isFile() && st.size < 4 << 20) out.push([p, readFileSync(p, "latin1")]);
  }
  return out;
}

describe("soci mount with registry credentials", { skip, timeout: 600_000 }, () => {
  let registry: RunningRegistry;
  let dir: string;
  let root: string;
  let target: string;
  let run: ReturnType<typeof soci>;
  let mounted = false;

  before(async () => {
    buildCliAndFixtures(["sample"]);
    registry = await startRegistry({ htpasswd: { username: USER, password: PASSWORD } });
    dir = tempDir("soci-mount-auth-");
    root = join(dir, "root");
    target = join(dir, "mnt");
    run = soci(dir, join(dir, "store"));
  });

  after(async () => {
    if (mounted) await run("umount", "--root", root, target);
    await registry?.stop();
    if (dir) await sh(`grep ${dir} /proc/mounts | cut -d' ' -f2 | sort -r | xargs -r -n1 umount -l; rm -rf ${dir}`);
  });

  test("mounts with -u and never shows the password in ps, logs or status", async () => {
    const ref = `${registry.host}/sample:soci`;
    const { layout } = fixtureLayers("sample");
    const denied = await run("convert", "--min-layer-size", "0", layout, ref);
    assert.notEqual(denied.code, 0, "push without credentials must fail");
    ok(await run("-u", `${USER}:${PASSWORD}`, "convert", "--min-layer-size", "0", layout, ref), "convert + push with -u");

    await sh(`mkdir -p ${target}`);
    ok(await run("-u", `${USER}:${PASSWORD}`, "mount", "--root", root, ref, target), "mount with -u");
    mounted = true;
    const s = JSON.parse(ok(await run("mount", "--root", root, "--stats", "--json", target)).stdout) as StatusJson;
    assert.ok(s.layers.some((l) => l.mode === "lazy"), `a lazy layer: ${JSON.stringify(s.layers.map((l) => l.mode))}`);
    // Read every file through the mount (spans fetched with the credentials).
    ok(await sh(`find ${target} -xdev -type f -exec cat {} + | wc -c`), "read the mounted files");
    const after = JSON.parse(ok(await run("mount", "--root", root, "--stats", "--json", target)).stdout) as StatusJson;
    assert.ok(after.layers.reduce((a, l) => a + l.bytesFetched, 0) > 0, "spans were fetched from the auth registry");

    const ps = ok(await sh("for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline 2>/dev/null; echo; done"));
    assert.ok(ps.stdout.includes(`mount`), "the daemon is running");
    assert.ok(!ps.stdout.includes(PASSWORD), "the password is on a process command line");
    for (const [path, text] of filesUnder(root)) assert.ok(!text.includes(PASSWORD), `the password is in ${path}`);
  });
});
