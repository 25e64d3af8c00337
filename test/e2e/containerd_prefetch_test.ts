// soci snapshotter with `[prefetch] enable = true` under the real containerd
// 1.6 (formats §9.6, snapshotter §7.3 step 7): debian-python converted with
// `--prefetch-file /usr/bin/python3.11`, pulled lazily with `soci image rpull`;
// the status file (and `soci snapshotter status`) shows the artifact's spans
// prefetched when the layer was mounted, before anything ran; python3 runs.
// Same set-up as containerd_snapshotter_test.ts. Needs root, /dev/fuse,
// containerd, ctr, runc, docker-registry; otherwise "skipped: <reason>", and a
// failure under CI=true.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { startRegistry, type RunningRegistry } from "../fakes/docker_registry.ts";
import { containerdSkipReason, Containerd, rpullJson, runAsync, SociDaemon, teardown } from "./_containerd.ts";
import { BUNDLE, buildCliAndFixtures, IMAGES, tempDir } from "./_soci_cli.ts";

const skip = containerdSkipReason("containerd_prefetch_test");
const NS = `soci-e2e-prefetch-${process.pid}`;

type Layer = { digest: string; mode: string; reason: string; bytesFetched: number; size: number; prefetchedSpans?: number; prefetch?: string };

describe("containerd 1.6 with soci snapshotter, [prefetch] enable = true", { skip, timeout: 600_000 }, () => {
  let dir: string;
  let registry: RunningRegistry;
  let ctd: Containerd;
  let d: SociDaemon | undefined;
  let ref = "";
  const soci = async (...args: string[]) => {
    const r = await runAsync(process.execPath, [BUNDLE, "--store", join(dir, "store"), ...args], { timeoutMs: 600_000 });
    assert.equal(r.code, 0, `soci ${args.join(" ")} failed:\n${r.stderr}`);
    return r;
  };

  before(async () => {
    buildCliAndFixtures(["debian-python"]);
    dir = tempDir("soci-ctd-prefetch-");
    registry = await startRegistry();
    ref = `${registry.host}/fixtures/debian-python:prefetch`;
    await soci("convert", "--min-layer-size", "0", "--prefetch-file", "/usr/bin/python3.11", `oci:${join(IMAGES, "debian-python")}`, ref);
    ctd = new Containerd(join(dir, "ctd"));
    await ctd.start();
  });
  after(async () => {
    await ctd?.ctr(NS, "tasks", "kill", "-s", "SIGKILL", "prefetch1").catch(() => undefined);
    await d?.stop("SIGINT").catch(() => undefined);
    await ctd?.stop();
    await registry?.stop();
    if (dir) await teardown(dir, [NS]);
  });

  test("the artifact's spans are fetched when the layer is mounted; status shows them; python3 runs", { timeout: 300_000 }, async (t) => {
    const cfg = join(dir, "prefetch.toml");
    writeFileSync(cfg, "[background_fetch]\ndisable = true\n[prefetch]\nenable = true\n");
    d = new SociDaemon(join(dir, "prefetch"), ctd.sociSock, cfg);
    await d.start();
    await ctd.waitSnapshotter(NS);
    const { ran, result } = await rpullJson(ctd, NS, ref);
    assert.equal(ran.code, 0, ran.stderr);
    assert.deepEqual(result!.layers.map((l) => l.mode), ["lazy", "lazy", "lazy"]);
    await new Promise((r) => setTimeout(r, 1500)); // the status file is rewritten every second
    const layers = d.status().images[0]!.layers as Layer[];
    const p = layers.filter((l) => l.prefetch !== undefined);
    assert.equal(p.length, 1, JSON.stringify(layers));
    t.diagnostic(`layer ${p[0].digest}: ${p[0].prefetch}; ${p[0].bytesFetched} bytes fetched before any run`);
    assert.ok((p[0].prefetchedSpans ?? 0) > 0);
    assert.match(p[0].prefetch!, /^(\d+) of \1 listed spans/);
    assert.ok(p[0].bytesFetched > 0 && p[0].bytesFetched < p[0].size);
    const st = await runAsync(process.execPath, [BUNDLE, "snapshotter", "status", "--root", join(dir, "prefetch")]);
    assert.equal(st.code, 0, st.stderr);
    assert.match(st.stdout, /PREFETCHED/);
    assert.match(st.stdout, /prefetch: \d+ of \d+ listed spans/);
    const run = await ctd.ctr(NS, "run", "--snapshotter", "soci", "--rm", ref, "prefetch1", "python3", "-c", "print(42)");
    assert.equal(run.code, 0, run.stderr + d.log().slice(-3000));
    assert.equal(run.stdout.trim(), "42");
    await d.stop("SIGINT");
  });
});
