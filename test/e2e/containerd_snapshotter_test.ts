// soci snapshotter + soci image rpull with the real containerd 1.6 + runc
// (issue 6): a converted debian-python (SOCI v2, every layer indexed) pulled
// lazily and run; an image without a SOCI index falls back to containerd's
// apply and runs; a v1-only image (soci create + soci push) is ignored unless
// [pull_modes.soci_v1] is enabled, then lazy; containerd and the snapshotter
// restarted (SIGTERM, and kill -9) between pull and run still run; a layer
// without a zTOC (sparse index) or under [snapshotter] min_layer_size is
// unpacked by the snapshotter itself.
// Needs root, /dev/fuse, containerd, ctr, runc, docker-registry; otherwise
// "skipped: <reason>", and a failure under CI=true.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { startRegistry, type RunningRegistry } from "../fakes/docker_registry.ts";
import { containerdSkipReason, Containerd, mountsUnder, rpullJson, runAsync, SociDaemon, teardown } from "./_containerd.ts";
import { BUNDLE, buildCliAndFixtures, IMAGES, tempDir } from "./_soci_cli.ts";

const skip = containerdSkipReason("containerd_snapshotter_test");

const NS = `soci-e2e-${process.pid}`;
const namespaces: string[] = [];
const ns = (n: string) => {
  const v = `${NS}-${n}`;
  namespaces.push(v);
  return v;
};
let dir: string;
let registry: RunningRegistry;
let ctd: Containerd;
const daemons: SociDaemon[] = [];

async function soci(...args: string[]) {
  const r = await runAsync(process.execPath, [BUNDLE, "--store", join(dir, "store"), ...args], { timeoutMs: 600_000 });
  assert.equal(r.code, 0, `soci ${args.join(" ")} failed:\n${r.stderr}`);
  return r;
}

/** A snapshotter with its own root and config, listening on containerd's proxy socket. */
async function daemon(name: string, config: string): Promise<SociDaemon> {
  const cfg = join(dir, `${name}.toml`);
  writeFileSync(cfg, config);
  // One daemon at a time on containerd's socket (a failed test may have left its own running).
  for (const o of daemons) await o.stop("SIGINT");
  const d = new SociDaemon(join(dir, name), ctd.sociSock, cfg);
  daemons.push(d);
  await d.start();
  return d;
}

const NO_BG = "[background_fetch]\ndisable = true\n";

describe("containerd 1.6 with soci snapshotter", { skip, timeout: 900_000 }, () => {
  let image = "";
  before(async () => {
    buildCliAndFixtures(["debian-python", "debian-minbase"]);
    dir = tempDir("soci-ctd-");
    registry = await startRegistry();
    image = `${registry.host}/fixtures/debian-python`;
    await soci("convert", "--min-layer-size", "0", `oci:${join(IMAGES, "debian-python")}`, `${image}:soci`);
    await soci("convert", `oci:${join(IMAGES, "debian-python")}`, `${image}:sparse`); // default 10 MiB minimum: the app layer gets no zTOC
    await soci("copy", `oci:${join(IMAGES, "debian-minbase")}`, `${registry.host}/fixtures/debian-minbase:plain`);
    await soci("copy", `oci:${join(IMAGES, "debian-python")}`, `${image}:v1`);
    await soci("create", "--min-layer-size", "0", `${image}:v1`);
    await soci("push", `${image}:v1`);
    ctd = new Containerd(join(dir, "ctd"));
    await ctd.start();
  });
  after(async () => {
    for (const n of namespaces) {
      for (const id of ["run1", "run2", "run3", "run4", "run5", "run6", "run7"]) await ctd?.ctr(n, "tasks", "kill", "-s", "SIGKILL", id).catch(() => undefined);
    }
    for (const d of daemons) await d.stop("SIGINT").catch(() => undefined);
    await ctd?.stop();
    await registry?.stop();
    if (dir) await teardown(dir, namespaces);
  });

  test("an image without a SOCI index: every layer deferred to containerd, applied by rpull, runs", { timeout: 300_000 }, async () => {
    const d = await daemon("fallback", NO_BG);
    const n = ns("plain");
    await ctd.waitSnapshotter(n);
    const ref = `${registry.host}/fixtures/debian-minbase:plain`;
    const { ran, result } = await rpullJson(ctd, n, ref);
    assert.equal(ran.code, 0, ran.stderr);
    assert.deepEqual(result!.layers.map((l) => l.mode), ["applied"]);
    assert.equal(result!.layers[0]!.bytesFetched, result!.layers[0]!.size);
    const st = d.status();
    assert.equal(st.images[0]!.layers[0]!.mode, "defer");
    assert.match(st.images[0]!.layers[0]!.reason, /no SOCI/);
    const run = await ctd.ctr(n, "run", "--snapshotter", "soci", "--rm", ref, "run1", "cat", "/etc/debian_version");
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^\d+\.\d+/);
    await d.stop("SIGINT");
  });

  test("SOCI v2 image: every layer lazy, python3 runs, bytes fetched far below the image size; survives restarts", { timeout: 300_000 }, async () => {
    const d = await daemon("lazy", NO_BG);
    const n = ns("lazy");
    await ctd.waitSnapshotter(n);
    const ref = `${image}:soci`;
    const { ran, result } = await rpullJson(ctd, n, ref);
    assert.equal(ran.code, 0, ran.stderr);
    assert.deepEqual(result!.layers.map((l) => l.mode), ["lazy", "lazy", "lazy"]);
    const imageSize = result!.layers.reduce((s, l) => s + l.size, 0);
    const run = await ctd.ctr(n, "run", "--snapshotter", "soci", "--rm", ref, "run2", "python3", "-c", "print(42)");
    assert.equal(run.code, 0, run.stderr + d.log().slice(-3000));
    assert.equal(run.stdout.trim(), "42");
    await new Promise((r) => setTimeout(r, 1500)); // status.json is rewritten every second
    const fetched = d.status().images.flatMap((i) => i.layers).reduce((s, l) => s + l.bytesFetched, 0) + result!.bytesFetched;
    console.log(`lazy run: fetched ${fetched} of ${imageSize} bytes (${((100 * fetched) / imageSize).toFixed(1)}%)`);
    assert.ok(fetched > 0 && fetched < imageSize * 0.5, `fetched ${fetched} of ${imageSize}`);

    const st = await runAsync(process.execPath, [BUNDLE, "snapshotter", "status", "--root", d.root]);
    assert.equal(st.code, 0, st.stderr);
    assert.match(st.stdout, /^snapshotter running \(pid \d+/);
    assert.equal(st.stdout.split("\n").filter((l) => / lazy /.test(l) && l.includes(ref)).length, 3, st.stdout);

    // containerd and the snapshotter restarted (SIGTERM: FUSE mounts left stale, restored at start).
    const proc = d.proc!;
    await d.stop("SIGTERM");
    assert.equal(proc.signalCode, "SIGTERM", "ended as SIGTERM's default action would (not SIGKILL), FUSE readers still blocked");
    await ctd.stop();
    await ctd.start();
    await d.start();
    await ctd.waitSnapshotter(n);
    assert.match(d.log(), /restored remote snapshot/);
    const again = await ctd.ctr(n, "run", "--snapshotter", "soci", "--rm", ref, "run3", "python3", "-c", "print(42)");
    assert.equal(again.code, 0, again.stderr + d.log().slice(-3000));
    assert.equal(again.stdout.trim(), "42");

    // kill -9 of the snapshotter between pull and run.
    await d.stop("SIGKILL");
    await d.start();
    await ctd.waitSnapshotter(n);
    const third = await ctd.ctr(n, "run", "--snapshotter", "soci", "--rm", ref, "run4", "python3", "-c", "import json; print(json.dumps([42]))");
    assert.equal(third.code, 0, third.stderr + d.log().slice(-3000));
    assert.equal(third.stdout.trim(), "[42]");

    // Image removed → containerd's GC removes the snapshots and calls Cleanup: the FUSE mounts go away.
    const fuseMounts = () => mountsUnder(d.root).length;
    assert.equal(fuseMounts(), 3);
    const rm = await ctd.ctr(n, "images", "rm", "--sync", ref);
    assert.equal(rm.code, 0, rm.stderr);
    for (let i = 0; i < 100 && fuseMounts() > 0; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(fuseMounts(), 0, d.log().slice(-2000));
    assert.equal((await ctd.ctr(n, "snapshots", "--snapshotter", "soci", "ls")).stdout.trim().split("\n").length, 1, "only the header line");
    await d.stop("SIGINT");
  });

  test("sparse index: a layer without a zTOC is unpacked by the snapshotter itself (ALREADY_EXISTS), the rest lazy", { timeout: 300_000 }, async () => {
    const d = await daemon("sparse", NO_BG);
    const n = ns("sparse");
    await ctd.waitSnapshotter(n);
    const ref = `${image}:sparse`;
    const { ran, result } = await rpullJson(ctd, n, ref);
    assert.equal(ran.code, 0, ran.stderr);
    assert.deepEqual(result!.layers.map((l) => l.mode), ["lazy", "lazy", "snapshotter"]);
    assert.equal(result!.layers.reduce((s, l) => s + l.bytesFetched, 0), 0, "rpull downloaded no layer");
    const layers = d.status().images[0]!.layers;
    assert.deepEqual(layers.map((l) => l.mode), ["lazy", "lazy", "unpacked"]);
    assert.match(layers[2]!.reason, /zTOC/i);
    assert.equal(layers[2]!.bytesFetched, layers[2]!.size);
    const run = await ctd.ctr(n, "run", "--snapshotter", "soci", "--rm", ref, "run6", "sh", "-c", "python3 -c 'print(42)' && head -c 1 /app/main.py >/dev/null && echo ok");
    assert.equal(run.code, 0, run.stderr + d.log().slice(-3000));
    assert.equal(run.stdout.trim(), "42\nok");
    await d.stop("SIGINT");
  });

  test("[snapshotter] min_layer_size: smaller layers are unpacked by the snapshotter even with a zTOC", { timeout: 300_000 }, async () => {
    const d = await daemon("minsize", `${NO_BG}[snapshotter]\nmin_layer_size = 50000000\n`);
    const n = ns("minsize");
    await ctd.waitSnapshotter(n);
    const ref = `${image}:soci`;
    const { ran, result } = await rpullJson(ctd, n, ref);
    assert.equal(ran.code, 0, ran.stderr);
    assert.deepEqual(result!.layers.map((l) => l.mode), ["snapshotter", "lazy", "snapshotter"]);
    const layers = d.status().images[0]!.layers;
    assert.deepEqual(layers.map((l) => l.mode), ["unpacked", "lazy", "unpacked"]);
    assert.match(layers[0]!.reason, /under min_layer_size 50000000/);
    const run = await ctd.ctr(n, "run", "--snapshotter", "soci", "--rm", ref, "run7", "python3", "-c", "print(42)");
    assert.equal(run.code, 0, run.stderr + d.log().slice(-3000));
    assert.equal(run.stdout.trim(), "42");
    await d.stop("SIGINT");
  });

  test("a v1-only image is ignored while [pull_modes.soci_v1] is off, lazy once it is on", { timeout: 300_000 }, async () => {
    const off = await daemon("v1off", NO_BG);
    const n1 = ns("v1off");
    await ctd.waitSnapshotter(n1);
    const ref = `${image}:v1`;
    const r1 = await rpullJson(ctd, n1, ref);
    assert.equal(r1.ran.code, 0, r1.ran.stderr);
    assert.deepEqual(r1.result!.layers.map((l) => l.mode), ["applied", "applied", "applied"]);
    assert.ok(off.status().images[0]!.layers.every((l) => l.mode === "defer"));
    await off.stop("SIGINT");

    const on = await daemon("v1on", `${NO_BG}[pull_modes.soci_v1]\nenable = true\n`);
    const n2 = ns("v1on");
    await ctd.waitSnapshotter(n2);
    const r2 = await rpullJson(ctd, n2, ref);
    assert.equal(r2.ran.code, 0, r2.ran.stderr);
    assert.deepEqual(r2.result!.layers.map((l) => l.mode), ["lazy", "lazy", "lazy"]);
    assert.match(on.status().images[0]!.layers[0]!.reason, /SOCI v1 index/);
    const run = await ctd.ctr(n2, "run", "--snapshotter", "soci", "--rm", ref, "run5", "python3", "-c", "print(42)");
    assert.equal(run.code, 0, run.stderr + on.log().slice(-3000));
    assert.equal(run.stdout.trim(), "42");
    await on.stop("SIGINT");
  });
});
