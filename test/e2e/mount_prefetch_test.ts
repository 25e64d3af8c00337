// `soci mount --prefetch` (formats §9.6, snapshotter §7.3 step 7): debian-python
// is converted with `--prefetch-file /usr/bin/python3.11` (one prefetch artifact
// for the layer holding it) and pushed to a real docker-registry on loopback.
// Mounted with --prefetch, --stats shows the artifact's spans fetched before any
// file was read, and reading python3.11 fetches no more spans; mounted without
// --prefetch, nothing is fetched at mount and the stats say the artifact was not
// used; a second --prefetch mount on the same root finds the spans in the cache.
// python3.11 is read in 2 MiB pieces from the end backwards, so the mount's
// sequential read-ahead (which starts after 4 MiB of contiguous reads and may
// fetch the span after the file's last one) stays out of the measurement.
// Needs root, /dev/fuse, overlayfs, docker-registry (else "skipped: <reason>",
// a failure under CI=true).
import assert from "node:assert/strict";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { startRegistry, type RunningRegistry } from "../fakes/docker_registry.ts";
import { fixtureLayers, mountPrerequisites, ok, sh, soci, type StatusJson } from "./_mount_util.ts";
import { BUNDLE, buildCliAndFixtures, tempDir } from "./_soci_cli.ts";
import { spawnSync } from "node:child_process";

const PREFETCH_FILE = "/usr/bin/python3.11";

function prerequisites(): string | null {
  const why = mountPrerequisites();
  if (why) return why;
  buildCliAndFixtures(["debian-python"]);
  const help = spawnSync(process.execPath, [BUNDLE, "convert", "--help"], { encoding: "utf8" });
  if (!/--prefetch-file/.test(help.stdout)) return "soci convert has no --prefetch-file flag in this build";
  return null;
}
const why = prerequisites();
if (why && process.env.CI === "true") test("mount --prefetch e2e prerequisites", () => assert.fail(`missing under CI=true: ${why}`));
const skip = why ? `skipped: ${why}` : false;

type Layer = StatusJson["layers"][number] & { prefetchedSpans: number; prefetch?: string; uncompressedBytesServed: number };
type Status = Omit<StatusJson, "layers"> & { layers: Layer[]; prefetch?: boolean };

describe("soci mount --prefetch: prefetch artifacts fetched before the mount is ready", { skip, timeout: 900_000 }, () => {
  let registry: RunningRegistry;
  let dir: string;
  let run: ReturnType<typeof soci>;
  let ref: string;
  const mounted: Array<[string, string]> = [];

  before(async () => {
    registry = await startRegistry();
    dir = tempDir("soci-mount-prefetch-");
    run = soci(dir, join(dir, "store"));
    const { layout } = fixtureLayers("debian-python");
    ref = `${registry.host}/debian-python:prefetch`;
    ok(await run("convert", "--min-layer-size", "0", "--prefetch-file", PREFETCH_FILE, layout, ref), "convert --prefetch-file + push");
  });

  after(async () => {
    for (const [root, m] of mounted) await run("umount", "--root", root, m);
    await registry?.stop();
    if (dir) {
      await sh(`grep ${dir} /proc/mounts | cut -d' ' -f2 | sort -r | xargs -r -n1 umount -l`);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const mount = async (root: string, target: string, ...flags: string[]) => {
    mkdirSync(target, { recursive: true });
    ok(await run("mount", "--root", root, ...flags, ref, target), `mount ${flags.join(" ")} ${target}`);
    mounted.push([root, target]);
  };
  const umount = async (root: string, target: string) => {
    ok(await run("umount", "--root", root, target), `umount ${target}`);
    mounted.splice(mounted.findIndex(([r, t]) => r === root && t === target), 1);
  };
  const stats = async (root: string, target: string) => JSON.parse(ok(await run("mount", "--root", root, "--stats", "--json", target)).stdout) as Status;
  const spansFetched = (s: Status) => s.layers.map((l) => l.spansFetched);

  test("--prefetch: the artifact's spans are fetched before any read; reading python3.11 fetches no more", async (t) => {
    const root = join(dir, "root-a");
    const target = join(dir, "a");
    await mount(root, target, "--prefetch");
    const s0 = await stats(root, target);
    assert.equal(s0.prefetch, true);
    assert.ok(s0.layers.every((l) => l.mode === "lazy"), JSON.stringify(s0.layers.map((l) => [l.mode, l.reason])));
    const withArtifact = s0.layers.filter((l) => l.prefetch !== undefined);
    assert.equal(withArtifact.length, 1, `one layer has an artifact: ${JSON.stringify(s0.layers.map((l) => l.prefetch))}`);
    const p = withArtifact[0];
    t.diagnostic(`layer ${p.digest}: ${p.prefetch}; ${p.spansFetched} spans, ${p.bytesFetched} bytes fetched at mount of ${p.spanCount} spans / ${p.size} bytes`);
    assert.ok(p.prefetchedSpans > 0, "spans were prefetched");
    assert.equal(p.spansFetched, p.prefetchedSpans, "exactly the listed spans were fetched (fresh root)");
    assert.ok(p.spansFetched < p.spanCount, "not the whole layer");
    assert.match(p.prefetch ?? "", /^(\d+) of \1 listed spans/);
    for (const l of s0.layers) if (l !== p) assert.equal(l.spansFetched, 0, `layer ${l.digest} fetched nothing at mount`);

    const text = ok(await run("mount", "--root", root, "--stats", target)).stdout;
    assert.match(text, /PREFETCHED/);
    assert.match(text, /prefetch: \d+ of \d+ listed spans/);

    const file = `${target}${PREFETCH_FILE}`;
    const size = Number(ok(await sh(`stat -c %s ${file}`)).stdout.trim());
    assert.ok(size > 1 << 20, `python3.11 is ${size} bytes`);
    const pieces = Math.ceil(size / (2 << 20));
    const script = Array.from({ length: pieces }, (_, k) => `dd if=${file} of=/dev/null bs=1M skip=${2 * (pieces - 1 - k)} count=2 status=none`).join(" && ");
    ok(await sh(script), "read python3.11 backwards in 2 MiB pieces");
    ok(await sh(`test "$(dd if=${file} bs=4 count=1 status=none | od -An -c | tr -d ' ')" = '177ELF'`), "python3.11 is an ELF file");
    const s1 = await stats(root, target);
    t.diagnostic(`after reading ${size} bytes of python3.11: spans fetched per layer ${JSON.stringify(spansFetched(s0))} → ${JSON.stringify(spansFetched(s1))}`);
    assert.deepEqual(spansFetched(s1), spansFetched(s0), "reading python3.11 fetched no span");
    assert.ok(s1.layers.find((l) => l.digest === p.digest)!.uncompressedBytesServed >= size, "the file was served from the prefetched spans");
    await umount(root, target);

    // Same root again: the prefetched spans are found in the span cache.
    await mount(root, target, "--prefetch");
    const s2 = await stats(root, target);
    const p2 = s2.layers.find((l) => l.digest === p.digest)!;
    t.diagnostic(`second --prefetch mount, same root: ${p2.prefetch}; ${p2.spansFetched} spans fetched, ${p2.spansFromCache} from the cache`);
    assert.equal(p2.prefetchedSpans, p.prefetchedSpans);
    assert.equal(p2.spansFetched, 0);
    await umount(root, target);
  });

  test("without --prefetch nothing is fetched at mount, and the stats say why", async () => {
    const root = join(dir, "root-b");
    const target = join(dir, "b");
    await mount(root, target);
    const s = await stats(root, target);
    assert.equal(s.prefetch, false);
    assert.deepEqual(s.layers.map((l) => l.bytesFetched), s.layers.map(() => 0));
    const noted = s.layers.filter((l) => l.prefetch !== undefined);
    assert.equal(noted.length, 1);
    assert.match(noted[0].prefetch!, /prefetch is off/);
    assert.equal(noted[0].prefetchedSpans, 0);
    await umount(root, target);
  });
});
