// End-to-end checks of the fixture builder (scripts/fixtures/build.py): the
// synthetic images come out byte-identical from two independent builds, every
// blob matches its digest and size, the tar facts in fixtures.json agree with
// the independent listing oracle (scripts/fixtures/tar_listing.py), and skopeo
// accepts the OCI layouts. The Debian images (slow, root, network) are only
// built when SOCI_FIXTURES_DEBIAN=1.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = process.env.SOCI_REPO_ROOT ?? process.cwd();
const builder = join(root, "scripts", "fixtures", "build.py");
const oracle = join(root, "scripts", "fixtures", "tar_listing.py");
const SYNTHETIC = ["sample", "tricky", "gnu-sparse", "big-layer", "multiarch", "docker-schema2"];
const OCI_TYPED = SYNTHETIC.filter((n) => n !== "docker-schema2"); // skopeo's oci: transport needs OCI types

interface LayerFacts {
  media_type: string;
  digest: string;
  size: number;
  compression?: string;
  diff_id?: string;
  uncompressed_size?: number;
  entries?: number;
  archive_size?: number;
}
interface ManifestFacts {
  media_type: string;
  digest: string;
  size: number;
  platform?: { architecture: string; os: string; variant?: string };
  config: { media_type: string; digest: string; size: number };
  layers: LayerFacts[];
}
interface ImageFacts {
  layout: string;
  media_type: string;
  digest: string;
  size: number;
  manifests: ManifestFacts[];
  build_seconds: number;
}
interface Fixtures {
  images: Record<string, ImageFacts>;
}

/** Why the prerequisites are missing, or null. Under CI=true a missing one is a failure. */
function missing(tools: string[]): string | null {
  const absent = tools.filter((t) => spawnSync("sh", ["-c", `command -v ${t}`]).status !== 0);
  if (absent.length === 0) return null;
  const why = `missing ${absent.join(", ")}`;
  if (process.env.CI === "true") throw new Error(`fixtures_build_test: ${why} (required under CI=true)`);
  return why;
}

function run(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (b) => (stdout += b));
    p.stderr.on("data", (b) => (stderr += b));
    p.once("error", reject);
    p.once("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

async function build(out: string, names: string[] = []): Promise<Fixtures> {
  const r = await run("python3", [builder, "--out", out, ...names]);
  assert.equal(r.code, 0, `build.py failed:\n${r.stderr}`);
  return JSON.parse(readFileSync(join(out, "fixtures.json"), "utf8")) as Fixtures;
}

const sha256 = (b: Buffer) => "sha256:" + createHash("sha256").update(b).digest("hex");
const blobPath = (dir: string, digest: string) => join(dir, "blobs", "sha256", digest.slice("sha256:".length));

/** Every blob is named by its digest; every descriptor in fixtures.json matches the stored JSON and bytes. */
function checkLayout(dir: string, img: ImageFacts): void {
  for (const name of readdirSync(join(dir, "blobs", "sha256"))) {
    const b = readFileSync(join(dir, "blobs", "sha256", name));
    assert.equal(sha256(b), "sha256:" + name, `${dir}: blob ${name} does not match its digest`);
  }
  const index = JSON.parse(readFileSync(join(dir, "index.json"), "utf8"));
  assert.equal(index.manifests.length, 1);
  assert.equal(index.manifests[0].digest, img.digest);
  assert.equal(index.manifests[0].size, img.size);
  assert.equal(index.manifests[0].annotations["org.opencontainers.image.ref.name"], "latest");
  const top = JSON.parse(readFileSync(blobPath(dir, img.digest), "utf8"));
  assert.equal(top.mediaType, img.media_type);
  const manifests = top.layers ? [{ ...img.manifests[0] }] : img.manifests;
  if (!top.layers) assert.deepEqual(top.manifests.map((d: { digest: string }) => d.digest), manifests.map((m) => m.digest));
  for (const m of manifests) {
    const body = readFileSync(blobPath(dir, m.digest));
    assert.equal(body.length, m.size);
    const man = JSON.parse(body.toString("utf8"));
    assert.equal(man.mediaType, m.media_type);
    assert.equal(man.config.digest, m.config.digest);
    assert.equal(statSync(blobPath(dir, m.config.digest)).size, m.config.size);
    assert.deepEqual(
      man.layers.map((l: LayerFacts & { mediaType: string }) => [l.mediaType, l.digest, l.size]),
      m.layers.map((l) => [l.media_type, l.digest, l.size]),
    );
    for (const l of m.layers) assert.equal(statSync(blobPath(dir, l.digest)).size, l.size, `${l.digest} size`);
    const cfg = JSON.parse(readFileSync(blobPath(dir, m.config.digest), "utf8"));
    const tarLayers = m.layers.filter((l) => l.diff_id);
    if (tarLayers.length === m.layers.length) assert.deepEqual(cfg.rootfs.diff_ids, tarLayers.map((l) => l.diff_id));
  }
}

test("build.py builds every synthetic image twice with identical bytes, and skopeo accepts the OCI ones", async (t) => {
  const why = missing(["python3", "pigz", "zstd", "skopeo"]);
  if (why) return t.skip(`skipped: ${why}`);
  const tmp = mkdtempSync(join(tmpdir(), "soci-fixtures-"));
  try {
    const [a, b] = await Promise.all([build(join(tmp, "a")), build(join(tmp, "b"))]);
    assert.deepEqual(Object.keys(a.images).sort(), [...SYNTHETIC].sort());

    await t.test("two builds give the same digests and the same blob files", () => {
      for (const name of SYNTHETIC) {
        assert.equal(a.images[name].digest, b.images[name].digest, `${name}: top digest differs between builds`);
        assert.deepEqual(a.images[name].manifests, b.images[name].manifests, `${name}: manifests differ`);
        const la = readdirSync(join(tmp, "a", name, "blobs", "sha256")).sort();
        const lb = readdirSync(join(tmp, "b", name, "blobs", "sha256")).sort();
        assert.deepEqual(la, lb);
        assert.deepEqual(readFileSync(join(tmp, "a", name, "index.json")), readFileSync(join(tmp, "b", name, "index.json")));
      }
    });

    await t.test("every blob matches its digest and every descriptor its blob", () => {
      for (const name of SYNTHETIC) checkLayout(join(tmp, "a", name), a.images[name]);
    });

    await t.test("fixtures.json tar facts agree with the tar_listing.py oracle", async () => {
      const paths: string[] = [];
      const facts: LayerFacts[] = [];
      const seen = new Set<string>();
      for (const name of SYNTHETIC) {
        for (const m of a.images[name].manifests) {
          for (const l of m.layers) {
            if (l.entries === undefined || seen.has(l.digest)) continue;
            seen.add(l.digest);
            paths.push(blobPath(join(tmp, "a", name), l.digest));
            facts.push(l);
          }
        }
      }
      const r = await run("python3", [oracle, "--summary", ...paths]);
      assert.equal(r.code, 0, r.stderr);
      const sums = JSON.parse(r.stdout) as Array<Record<string, number | string>>;
      assert.equal(sums.length, facts.length);
      sums.forEach((s, i) => {
        const l = facts[i];
        const where = `${paths[i]} (${l.compression})`;
        assert.equal(s.entries, l.entries, `${where}: entries`);
        assert.equal(s.archive_size, l.archive_size, `${where}: archive_size`);
        assert.equal(s.uncompressed_size, l.uncompressed_size, `${where}: uncompressed_size`);
        assert.equal(s.diff_id, l.diff_id, `${where}: diff_id`);
      });
      const multi = sums[facts.findIndex((l) => l.compression === "gzip-multi")];
      assert.equal(multi.gzip_members, 4);
    });

    await t.test("the images have the shapes the tests rely on", () => {
      const MiB = 1 << 20;
      const sample = a.images.sample.manifests[0].layers;
      assert.equal(sample.length, 2);
      assert.ok(sample[0].size >= 10 * MiB && sample[0].size <= 12 * MiB, `sample layer 1 is ${sample[0].size} bytes`);
      assert.ok(sample[1].size < 10 * MiB);
      const tricky = a.images.tricky.manifests[0].layers;
      assert.deepEqual(
        tricky.map((l) => l.compression),
        ["gzip", "gzip", "gzip", "gzip-multi", "none", "zstd", "pigz-independent", "gzip-fancy", "gzip", "gzip"],
      );
      assert.ok(tricky[0].uncompressed_size! > 3 * 4 * MiB, "tricky layer 1 spans several 4 MiB spans");
      assert.equal(tricky[4].media_type, "application/vnd.oci.image.layer.v1.tar");
      assert.equal(tricky[5].media_type, "application/vnd.oci.image.layer.v1.tar+zstd");
      assert.deepEqual([tricky[9].uncompressed_size, tricky[9].entries], [1024, 0]);
      const big = a.images["big-layer"].manifests[0].layers;
      assert.ok(big.some((l) => l.size >= 50_000_000), "big-layer has a >= 50 MB layer");
      const multi = a.images.multiarch.manifests;
      assert.deepEqual(
        multi.map((m) => [m.platform?.os, m.platform?.architecture, m.platform?.variant ?? ""].join("/")),
        ["linux/amd64/", "linux/arm64/v8", "linux/arm/v7", "unknown/unknown/", "unknown/unknown/", "unknown/unknown/"],
      );
      const docker = a.images["docker-schema2"];
      assert.equal(docker.media_type, "application/vnd.docker.distribution.manifest.list.v2+json");
      assert.ok(docker.manifests.every((m) => m.layers.every((l) => l.media_type === "application/vnd.docker.image.rootfs.diff.tar.gzip")));
      assert.deepEqual(
        docker.manifests.map((m) => m.layers.map((l) => l.digest)),
        multi.slice(0, 3).map((m) => m.layers.map((l) => l.digest)),
        "docker-schema2 reuses the multiarch layer blobs",
      );
    });

    await t.test("tar_listing.py lists tricky layers 1 and 3 as Go's archive/tar does", async () => {
      const layers = a.images.tricky.manifests[0].layers;
      const dir = join(tmp, "a", "tricky");
      const list = async (digest: string) => {
        const r = await run("python3", [oracle, blobPath(dir, digest)]);
        assert.equal(r.code, 0, r.stderr);
        return JSON.parse(r.stdout) as Array<Record<string, unknown>>;
      };
      const l1 = await list(layers[0].digest);
      const by = (name: string) => {
        const e = l1.find((x) => x.name === name);
        assert.ok(e, `no entry ${JSON.stringify(name)}`);
        return e!;
      };
      assert.equal(l1[0].name, "./");
      assert.equal(by("big/random.bin").data_offset, 3072); // ./, ./dot/, ./dot/file.txt + data, big/, header
      assert.equal(by("names/" + "a".repeat(94)).type, "reg");
      assert.equal(by("names/" + "r".repeat(149) + "/" + "s".repeat(100)).format, "ustar");
      assert.equal(by("names/gnu-long-name-wins-over-pax-path-" + "g".repeat(80)).type, "reg");
      assert.equal(by("names/raw-latin1-caf\\xe9.txt").name_b64, Buffer.from("names/raw-latin1-caf\xe9.txt", "latin1").toString("base64"));
      assert.equal(by("modes/type-bits-in-mode").mode, 0o100644);
      assert.equal(by("modes/dir-with-size/").size, 1024);
      assert.equal(by("modes/after-dir-with-size").data_offset, (by("modes/dir-with-size/").data_offset as number) + 512);
      assert.equal(by("owners/uid-3000000000").uid, 3000000000);
      assert.equal(by("times/nanoseconds").mod_time, "2023-11-14T22:13:20.123456789Z");
      assert.equal(by("times/pre-epoch").mod_time, "1969-12-31T23:59:59Z");
      assert.equal(by("times/year-2100").mod_time, "2100-01-01T00:00:00Z");
      assert.deepEqual(by("xattrs/duplicate-key").pax, [
        ["SCHILY.xattr.user.dup", Buffer.from("second").toString("base64")],
        ["comment", Buffer.from("vendor records are kept").toString("base64")],
      ]);
      assert.equal(by("xattrs/pax-size").size, 5);
      assert.equal(by("v7/old-dir/").type, "dir");
      assert.equal(by("v7/old-style.txt").uname, "");
      assert.equal(l1.filter((e) => e.name === "dup/file.txt").length, 2);
      const l3 = await list(layers[2].digest);
      const sparse = l3.find((e) => e.name === "sparse/pax-1.0.bin")!;
      assert.deepEqual([sparse.type, sparse.size, sparse.data_size], ["reg", 1 << 20, 512 + 1024 + 4096]);
      // PAX header + its records + the ustar header + the 512-byte sparse map, then the data
      assert.equal(sparse.data_offset, (sparse.header_offset as number) + 4 * 512);
    });

    await t.test("skopeo copies each OCI layout unchanged", async () => {
      // --preserve-digests: without it skopeo 1.9.3 gzips tricky's uncompressed `tar` layer
      // on the way to an oci: destination (new layer and manifest digests).
      mkdirSync(join(tmp, "copy"));
      for (const name of OCI_TYPED) {
        const dst = join(tmp, "copy", name);
        const r = await run("skopeo", ["--insecure-policy", "copy", "--all", "--preserve-digests", "-q", `oci:${join(tmp, "a", name)}:latest`, `oci:${dst}:latest`]);
        assert.equal(r.code, 0, `skopeo copy ${name}: ${r.stderr}`);
        const idx = JSON.parse(readFileSync(join(dst, "index.json"), "utf8"));
        assert.equal(idx.manifests[0].digest, a.images[name].digest, `${name}: digest changed by skopeo`);
      }
    });

    await t.test("a second run into the same directory reuses the cache", async () => {
      const t0 = Date.now();
      const r = await run("python3", [builder, "--out", join(tmp, "a")]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal((r.stderr.match(/: cached \(/g) ?? []).length, SYNTHETIC.length, r.stderr);
      assert.ok(Date.now() - t0 < 10_000);
      const again = JSON.parse(readFileSync(join(tmp, "a", "fixtures.json"), "utf8")) as Fixtures;
      for (const name of SYNTHETIC) assert.equal(again.images[name].digest, a.images[name].digest);
    });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test("build.py builds debian-minbase and debian-python (SOCI_FIXTURES_DEBIAN=1)", async (t) => {
  if (process.env.SOCI_FIXTURES_DEBIAN !== "1") return t.skip("skipped: slow (~60 s, root, network); set SOCI_FIXTURES_DEBIAN=1");
  if (process.getuid?.() !== 0) {
    if (process.env.CI === "true") throw new Error("SOCI_FIXTURES_DEBIAN=1 needs root");
    return t.skip("skipped: needs root");
  }
  const why = missing(["python3", "debootstrap", "skopeo"]);
  if (why) return t.skip(`skipped: ${why}`);
  // Build into the default output dir so the .deb cache and the result are reused by benchmarks.
  const out = join(root, ".build", "fixtures", "images");
  const fx = await build(out, ["debian-minbase", "debian-python"]);
  const minbase = fx.images["debian-minbase"];
  const python = fx.images["debian-python"];
  checkLayout(join(out, "debian-minbase"), minbase);
  checkLayout(join(out, "debian-python"), python);
  assert.equal(python.manifests[0].layers.length, 3);
  assert.equal(python.manifests[0].layers[0].digest, minbase.manifests[0].layers[0].digest, "layer 1 is shared");
  assert.ok(python.manifests[0].layers[1].size >= 10 << 20);
  assert.ok(python.manifests[0].layers[2].size < 10 << 20);
  const tmp = mkdtempSync(join(tmpdir(), "soci-fixtures-deb-"));
  try {
    for (const name of ["debian-minbase", "debian-python"]) {
      const r = await run("skopeo", ["--insecure-policy", "copy", "--preserve-digests", "-q", `oci:${join(out, name)}:latest`, `oci:${join(tmp, name)}:latest`]);
      assert.equal(r.code, 0, r.stderr);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  assert.ok(existsSync(join(out, "fixtures.json")));
});
