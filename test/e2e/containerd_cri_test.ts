// The Kubernetes path (issue 6, snapshotter §3.1 and §14): containerd 1.6's
// CRI plugin configured as a kubelet node would be for SOCI —
// `snapshotter = "soci"`, `disable_snapshot_annotations = false`, registry
// hosts from a hosts.toml dir — and a CRI PullImage (our minimal CRI client,
// _cri_client.ts: there is no crictl here) of a converted image from the
// loopback registry. CRI passes only containerd's `cri.*` labels (no
// `remote/soci.*` ones): every layer must still be mounted lazily, far below
// the image size fetched, and a container of the CRI-pulled image must run
// (started with ctr in the same namespace: a CRI sandbox needs a pause image
// and CNI, which are not the snapshotter's business). RemoveImage then lets
// containerd's GC release the snapshots. The snapshotter is the shipped binary
// `dist/soci` here (the other containerd tests run the bundle under Node).
// Needs root, /dev/fuse, containerd, ctr, runc, docker-registry; otherwise
// "skipped: <reason>", and a failure under CI=true.
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { startRegistry, type RunningRegistry } from "../fakes/docker_registry.ts";
import { CriClient } from "./_cri_client.ts";
import { containerdSkipReason, Containerd, mountsUnder, runAsync, SociDaemon, teardown } from "./_containerd.ts";
import { BINARY, BUNDLE, buildCliAndFixtures, IMAGES, tempDir } from "./_soci_cli.ts";

const skip = containerdSkipReason("containerd_cri_test");

/** The namespace CRI works in. */
const K8S = "k8s.io";

describe("containerd 1.6 CRI with soci snapshotter", { skip, timeout: 600_000 }, () => {
  let dir = "";
  let registry: RunningRegistry;
  let ctd: Containerd;
  let snap: SociDaemon;
  let cri: CriClient;
  let ref = "";

  before(async () => {
    buildCliAndFixtures(["debian-minbase"]);
    dir = tempDir("soci-cri-");
    registry = await startRegistry();
    ref = `${registry.host}/cri/debian:soci`;
    const conv = await runAsync(process.execPath, [BUNDLE, "--store", join(dir, "store"), "convert", "--min-layer-size", "0", `oci:${join(IMAGES, "debian-minbase")}`, ref], { timeoutMs: 600_000 });
    assert.equal(conv.code, 0, conv.stderr);
    // containerd's registry host config (hosts.toml): the loopback registry speaks plain HTTP.
    const hosts = join(dir, "certs.d");
    mkdirSync(join(hosts, registry.host), { recursive: true });
    writeFileSync(join(hosts, registry.host, "hosts.toml"), `server = "http://${registry.host}"\n\n[host."http://${registry.host}"]\n  capabilities = ["pull", "resolve"]\n`);
    const cfg = join(dir, "soci.toml");
    writeFileSync(cfg, "[background_fetch]\ndisable = true\n");
    ctd = new Containerd(join(dir, "ctd"), { cri: { hostsDir: hosts } });
    snap = new SociDaemon(join(dir, "snap"), ctd.sociSock, cfg);
    await snap.start([BINARY]); // the shipped binary (the other containerd tests run the bundle under Node)
    await ctd.start();
    await ctd.waitSnapshotter(K8S);
    cri = new CriClient(ctd.sock);
  });

  after(async () => {
    cri?.close();
    await ctd?.ctr(K8S, "tasks", "kill", "-s", "SIGKILL", "cri-run").catch(() => undefined);
    await snap?.stop("SIGINT").catch(() => undefined);
    await ctd?.stop();
    await registry?.stop();
    if (dir) await teardown(dir, [K8S]);
  });

  test("CRI PullImage mounts every layer lazily from the cri.* labels; a container of the image runs; RemoveImage releases it", async () => {
    const v = await cri.version();
    assert.equal(v.runtime_name, "containerd");
    assert.equal(v.runtime_api_version, "v1");

    const pulled = await cri.pullImage(ref);
    assert.match(pulled.image_ref, /^sha256:[0-9a-f]{64}$/);
    const listed = await cri.listImages();
    assert.ok(listed.some((i) => i.repo_tags.includes(ref)), JSON.stringify(listed));

    await new Promise((r) => setTimeout(r, 1500)); // status.json is rewritten every second
    const img = snap.status().images.find((i) => i.ref === ref);
    assert.ok(img, `${ref} in the snapshotter status: ${JSON.stringify(snap.status().images.map((i) => i.ref))}`);
    assert.ok(img.layers.length >= 1);
    assert.deepEqual(img.layers.map((l) => l.mode), img.layers.map(() => "lazy"), JSON.stringify(img.layers) + snap.log().slice(-3000));
    const size = img.layers.reduce((s, l) => s + l.size, 0);

    const run = await ctd.ctr(K8S, "run", "--snapshotter", "soci", "--rm", ref, "cri-run", "cat", "/etc/debian_version");
    assert.equal(run.code, 0, run.stderr + snap.log().slice(-3000));
    assert.match(run.stdout, /^\d+(\.\d+)?/);
    await new Promise((r) => setTimeout(r, 1500));
    const fetched = snap.status().images.find((i) => i.ref === ref)!.layers.reduce((s, l) => s + l.bytesFetched, 0);
    console.log(`CRI pull + run: fetched ${fetched} of ${size} bytes (${((100 * fetched) / size).toFixed(1)}%)`);
    assert.ok(fetched > 0 && fetched < size * 0.5, `fetched ${fetched} of ${size}`);

    await cri.removeImage(ref);
    assert.ok(!(await cri.listImages()).some((i) => i.repo_tags.includes(ref)));
    // containerd's GC removes the image's snapshots, and with them the FUSE mounts.
    for (let i = 0; i < 100 && mountsUnder(snap.root).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(mountsUnder(snap.root).length, 0, snap.log().slice(-2000));
  });
});
