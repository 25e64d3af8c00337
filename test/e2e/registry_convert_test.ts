// Every CLI and skopeo call is asynchronous: the registries log to pipes this
// process drains, and the fault proxy answers from this process.
//
// Conversion with registries on either side (the issue: `soci convert
// registry/app:1 registry/app:1-soci` with no daemon), through the built CLI
// against two real docker-registry 2.8 instances on loopback. Fixture images
// are pushed with skopeo (digests kept). Checked with raw HTTP: the
// registry→registry, layout→registry and registry→layout results are the
// same bytes as a layout→layout conversion of the same image; they verify on
// the registry ref; a skopeo copy of the output (which drops artifactType from
// index entries) still verifies; our `copy` keeps every digest; and under
// injected faults (test/fakes/fault_proxy.ts) drops and 500s are retried
// while wrong bytes and persistent 500s fail clearly with the destination tag
// never written.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { missingTools as registryToolsMissing, startRegistry, type RunningRegistry } from "../fakes/docker_registry.ts";
import { FaultProxy } from "../fakes/fault_proxy.ts";
import { buildCliAndFixtures, checkLayout, fixtureFacts, IMAGES, ok, sha256, tempDir } from "./_soci_cli.ts";
import { assertSameAsLayout, manifestBytes, registryContent, skopeoCopyAsync, sociAsync, tagStatus } from "./_registry_util.ts";

const skip = registryToolsMissing(["docker-registry", "skopeo"]);
const CONVERT = ["convert", "--min-layer-size", "0", "--jobs", "2"];

describe("soci convert with registries", { skip: skip ? `skipped: ${skip}` : false, timeout: 900_000 }, () => {
  let a: RunningRegistry;
  let b: RunningRegistry;
  let dir: string;
  let soci: ReturnType<typeof sociAsync>;
  /** Layout→layout conversions: the reference bytes. */
  const reference: Record<string, { dir: string; digest: string }> = {};

  before(async () => {
    buildCliAndFixtures(["sample", "big-layer", "multiarch"]);
    [a, b] = await Promise.all([startRegistry(), startRegistry()]);
    dir = tempDir("soci-regconv-");
    soci = sociAsync(dir, join(dir, "store"));
    for (const name of ["sample", "big-layer", "multiarch"]) {
      await skopeoCopyAsync(`oci:${join(IMAGES, name)}:latest`, `docker://${a.host}/${name}:1`);
      const out = join(dir, `ref-${name}`);
      const r = ok(await soci(...CONVERT, "--all-platforms", "--format", "oci-dir", "-q", join(IMAGES, name), out));
      reference[name] = { dir: out, digest: r.stdout.trim() };
    }
  });
  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("skopeo pushed the fixtures with their digests", async () => {
    for (const name of ["sample", "multiarch"]) assert.equal(sha256(await manifestBytes(a.host, name, "1")), fixtureFacts(name).digest);
  });

  test("registry → registry: same bytes as layout → layout, verifies on the registry ref", async () => {
    for (const name of ["sample", "multiarch"]) {
      const r = ok(await soci(...CONVERT, "--all-platforms", "-q", `${a.host}/${name}:1`, `${a.host}/${name}:1-soci`));
      assert.equal(r.stdout.trim(), reference[name].digest, `${name}: digest of the registry conversion`);
      const content = await registryContent(a.host, name, "1-soci");
      assert.equal(sha256(await manifestBytes(a.host, name, "1-soci")), reference[name].digest);
      assertSameAsLayout(content, reference[name].dir);
      assert.equal(content.size, checkLayout(reference[name].dir).size, "the registry holds exactly the layout's reachable content");
      const v = ok(await soci("verify", `${a.host}/${name}:1-soci`));
      assert.match(v.stdout, /^ok: /m);
    }
  });

  test("layout → registry (another registry) and registry → layout give the same image", async () => {
    const up = ok(await soci(...CONVERT, "-q", join(IMAGES, "big-layer"), `${b.host}/big:soci`));
    assert.equal(up.stdout.trim(), reference["big-layer"].digest);
    assertSameAsLayout(await registryContent(b.host, "big", "soci"), reference["big-layer"].dir);
    ok(await soci("verify", `${b.host}/big:soci`));

    const down = join(dir, "down");
    const r = ok(await soci(...CONVERT, "--all-platforms", "--format", "oci-dir", "-q", `${a.host}/multiarch:1`, down));
    assert.equal(r.stdout.trim(), reference.multiarch.digest);
    for (const d of checkLayout(down)) assert.ok(readFileSync(join(down, "blobs", "sha256", d.slice(7))).equals(readFileSync(join(reference.multiarch.dir, "blobs", "sha256", d.slice(7)))));
  });

  test("archives on either side: oci-archive → registry and registry → oci-archive give the same image", async () => {
    const archive = join(dir, "sample-src.tar");
    ok(await soci("copy", "--format", "oci-archive", join(IMAGES, "sample"), archive));
    const up = ok(await soci(...CONVERT, "-q", `oci-archive:${archive}`, `${b.host}/fromarchive:soci`));
    assert.equal(up.stdout.trim(), reference.sample.digest);
    assertSameAsLayout(await registryContent(b.host, "fromarchive", "soci"), reference.sample.dir);

    const out = join(dir, "sample-out.tar");
    const down = ok(await soci(...CONVERT, "--format", "oci-archive", "-q", `${a.host}/sample:1`, out));
    assert.equal(down.stdout.trim(), reference.sample.digest);
    ok(await soci("verify", `oci-archive:${out}`));
  });

  test("pull brings the image back byte for byte, with its SOCI indexes recorded", async () => {
    ok(await soci(...CONVERT, "--all-platforms", "-q", `${a.host}/sample:1`, `${a.host}/sample:1-soci`));
    const out = join(dir, "pulled");
    const r = ok(await soci("pull", "-o", out, `${a.host}/sample:1-soci`));
    assert.match(r.stdout, /soci index sha256:[0-9a-f]{64} \(v2, linux\/amd64\)/);
    const pulled = checkLayout(out);
    for (const d of pulled) assert.ok(readFileSync(join(out, "blobs", "sha256", d.slice(7))).equals(readFileSync(join(reference.sample.dir, "blobs", "sha256", d.slice(7)))));
    const index = JSON.parse(readFileSync(join(out, "index.json"), "utf8")).manifests[0];
    assert.equal(index.digest, reference.sample.digest);
    ok(await soci("verify", `oci:${out}:1-soci`));
    const list = JSON.parse(ok(await soci("--json", "index", "list", "--ref", `oci:${out}:1-soci`)).stdout);
    assert.equal(list.length, 1);

    // Into a fresh store: its SOCI blobs are in the content once, hard links to the pulled layout's files.
    const freshStore = join(dir, "pull-store");
    const fresh = sociAsync(dir, freshStore);
    const out2 = join(dir, "pulled-fresh");
    ok(await fresh("pull", "-o", out2, `${a.host}/sample:1-soci`));
    const content = join(freshStore, "content", "blobs", "sha256");
    const linked = readdirSync(content);
    assert.ok(linked.length >= 3, `index, config and zTOC blobs in the store: ${linked.join(", ")}`);
    for (const f of linked) assert.equal(statSync(join(content, f)).ino, statSync(join(out2, "blobs", "sha256", f)).ino, `${f} is a hard link`);
    // Pulling again fetches no blob: everything present is skipped.
    const again = ok(await soci("--debug", "pull", "-o", out, `${a.host}/sample:1-soci`));
    assert.deepEqual(again.stderr.match(/--> GET \S+\/blobs\/sha256:\S+/g) ?? [], [], "no blob downloaded again");
    assert.match(again.stderr, /--> (GET|HEAD) \S+\/manifests\//, "the debug output shows the requests");
    ok(await soci("verify", `oci:${out}:1-soci`));
  });

  test("skopeo copy of the output drops artifactType, yet it still verifies; soci copy keeps every digest", async () => {
    ok(await soci(...CONVERT, "--all-platforms", "-q", `${a.host}/multiarch:1`, `${a.host}/multiarch:1-soci`));
    const original = await manifestBytes(a.host, "multiarch", "1-soci");

    await skopeoCopyAsync(`docker://${a.host}/multiarch:1-soci`, `docker://${b.host}/viaskopeo:1`);
    const bySkopeo = await manifestBytes(b.host, "viaskopeo", "1");
    assert.notEqual(sha256(bySkopeo), sha256(original), "skopeo 1.9 rewrites the index (real-components §2)");
    assert.ok(!new TextDecoder().decode(bySkopeo).includes("artifactType"));
    assert.match(ok(await soci("verify", `${b.host}/viaskopeo:1`)).stdout, /^ok: .*3 SOCI indexes/m);
    const listed = JSON.parse(ok(await soci("--json", "index", "list", "--ref", `${b.host}/viaskopeo:1`)).stdout) as { manifestVersion: string }[];
    assert.equal(listed.filter((x) => x.manifestVersion === "v2").length, 3, "index list finds v2 indexes through the manifest annotation");

    const r = ok(await soci("--json", "copy", `${a.host}/multiarch:1-soci`, `${b.host}/viasoci:1`));
    assert.equal(JSON.parse(r.stdout).image.digest, sha256(original));
    assert.ok(Buffer.from(await manifestBytes(b.host, "viasoci", "1")).equals(Buffer.from(original)), "the OCI index is byte-identical");
    const src = await registryContent(a.host, "multiarch", "1-soci");
    const dst = await registryContent(b.host, "viasoci", "1");
    assert.deepEqual([...dst.keys()].sort(), [...src.keys()].sort());
    for (const [d, bytes] of src) assert.ok(Buffer.from(dst.get(d)!).equals(Buffer.from(bytes)), `blob ${d}`);
    ok(await soci("verify", `${b.host}/viasoci:1`));
  });
});

describe("soci convert registry → registry under injected faults", { skip: skip ? `skipped: ${skip}` : false, timeout: 600_000 }, () => {
  let reg: RunningRegistry;
  let proxy: FaultProxy;
  let dir: string;
  let soci: ReturnType<typeof sociAsync>;
  const layer = () => fixtureFacts("sample").manifests[0].layers.find((l) => l.size > 1_000_000)!.digest;

  before(async () => {
    buildCliAndFixtures(["sample"]);
    reg = await startRegistry();
    proxy = await FaultProxy.start(`http://${reg.host}`);
    dir = tempDir("soci-regfault-");
    soci = sociAsync(dir, join(dir, "store"));
    await skopeoCopyAsync(`oci:${join(IMAGES, "sample")}:latest`, `docker://${reg.host}/src:1`);
  });
  after(async () => {
    await proxy?.stop();
    await reg?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("a connection dropped mid-blob and 500s are retried, and the conversion succeeds", async () => {
    proxy.reset();
    proxy.inject({ method: "GET", path: `/blobs/${layer()}`, fault: { kind: "drop", afterBytes: 1_000_000 } });
    proxy.inject({ method: "GET", path: "/manifests/1", fault: { kind: "status", status: 500 }, times: 2 });
    proxy.inject({ method: "PUT", path: "/blobs/uploads/", fault: { kind: "status", status: 500 } });
    proxy.inject({ method: "PUT", path: "/manifests/ok", fault: { kind: "status", status: 503 } });
    const r = ok(await soci(...CONVERT, "-q", `${proxy.host}/src:1`, `${proxy.host}/dst:ok`));
    const gets = proxy.log.filter((e) => e.method === "GET" && e.path.includes(`/blobs/${layer()}`));
    assert.ok(gets.some((g) => g.fault === "drop"), "the drop fired");
    assert.ok(gets.some((g) => /^bytes=\d+-$/.test(g.range ?? "")), "the download resumed with Range");
    assert.ok(proxy.log.some((e) => e.method === "POST" && e.path.includes("mount=")), "layers were mounted from the source repository");
    assert.equal(sha256(await manifestBytes(reg.host, "dst", "ok")), r.stdout.trim());
    ok(await soci("verify", `${reg.host}/dst:ok`));
  });

  test("wrong bytes for a digest fail clearly, and the destination tag is never written", async () => {
    proxy.reset();
    proxy.inject({ method: "GET", path: `/blobs/${layer()}`, fault: { kind: "corrupt", at: 4242 }, times: 100 });
    const r = await soci(...CONVERT, "--force", `${proxy.host}/src:1`, `${proxy.host}/dst:corrupt`); // --force: no zTOC reuse, the layer is read
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^soci: .*blob "?${layer()}"?.*the content has digest`, "m"));
    assert.match(r.stderr, /^hint: /m);
    assert.equal(await tagStatus(reg.host, "dst", "corrupt"), 404);
  });

  test("a persistent 500 fails with status, method, URL and registry codes, and the tag is never written", async () => {
    proxy.reset();
    proxy.inject({ method: "PUT", path: "/manifests/sha256:", fault: { kind: "status", status: 500 }, times: 1000 });
    const r = await soci(...CONVERT, `${proxy.host}/src:1`, `${proxy.host}/dst:broken`);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^soci: Cannot convert .*\/src:1: cannot push manifest "sha256:[0-9a-f]{64}" to ".*\/dst": registry answered 500 UNKNOWN: injected 500 \(PUT http:\/\/127\.0\.0\.1:\d+\/v2\/dst\/manifests\/sha256:[0-9a-f]{64}\)/m);
    assert.match(r.stderr, /^hint: The registry .* failed: retry later/m);
    assert.equal(await tagStatus(reg.host, "dst", "broken"), 404);
    assert.ok(!proxy.log.some((e) => e.method === "PUT" && e.path.endsWith("/manifests/broken")), "no tag PUT was even tried");
  });
});
