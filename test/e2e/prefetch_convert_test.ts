// Prefetch artifacts on the converter side (formats §9.6, §9.4, §7.4, §11.2),
// through the built CLI on the debian-python fixture (python3.11 in layer 2,
// /app/main.py in layer 3): `convert --prefetch-file …` writes one artifact per
// layer after the zTOCs with the spans `ztoc info` reports for the file, warns
// for a path found nowhere, `verify` passes and names a corrupted artifact;
// `--prefetch-files-json` gives the same index, and a bad or missing file fails
// with nothing written; oci-archive, `copy`, `create` (v1, store), `index info`
// carry them; against a real docker-registry: convert to a registry, `pull`,
// and `push SRC DST` with a v1 index riding along keep every artifact blob.
import assert from "node:assert/strict";
import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { missingTools as registryToolsMissing, startRegistry, type RunningRegistry } from "../fakes/docker_registry.ts";
import { blobFile, buildCliAndFixtures, checkLayout, IMAGES, ok, sha256, snapshot, sociIn, tempDir, tree, untar } from "./_soci_cli.ts";
import { manifestBytes, raw, registryContent, sociAsync } from "./_registry_util.ts";

const PREFETCH = "application/vnd.amazon.soci.prefetch.v1+json";
const ZTOC = "application/octet-stream";
const LAYER_DIGEST = "com.amazon.soci.image-layer-digest";
const FLAGS = ["--min-layer-size", "0", "--prefetch-file", "/app/main.py", "--prefetch-file", "/usr/bin/python3.11", "--prefetch-file", "/nope"];
const NOPE_WARNING = /^soci: warning: prefetch file "\/nope" was not found in any indexed layer$/m;

interface Desc {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}
interface Doc {
  manifests?: Desc[];
  layers: Desc[];
  config: Desc;
}

const json = (b: Uint8Array | string) => JSON.parse(typeof b === "string" ? b : new TextDecoder().decode(b));
const blob = (layout: string, digest: string): Doc => json(readFileSync(blobFile(layout, digest)));

/** The image manifest and SOCI index v2 of a one-platform converted layout. */
function converted(layout: string): { image: Doc; soci: Doc; sociDigest: string } {
  const top = json(readFileSync(join(layout, "index.json"), "utf8")) as Doc;
  const root = blob(layout, top.manifests![0].digest);
  const sociEntry = root.manifests!.find((d) => d.artifactType === "application/vnd.amazon.soci.index.v2+json")!;
  const imageEntry = root.manifests!.find((d) => d.artifactType === undefined)!;
  return { image: blob(layout, imageEntry.digest), soci: blob(layout, sociEntry.digest), sociDigest: sociEntry.digest };
}

let dir = "";
let soci: ReturnType<typeof sociIn>;
const PY = join(IMAGES, "debian-python");

before(() => {
  buildCliAndFixtures(["debian-python"]);
  dir = tempDir("soci-prefetch-convert-");
  soci = sociIn(dir, join(dir, "store"));
});
after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("convert --prefetch-file to an OCI layout", { timeout: 600_000 }, () => {
  let out = "";
  let sociDigest = "";

  test("two artifacts after the zTOCs, bottom to top, with the spans ztoc info gives for each file; /nope is a warning", () => {
    out = join(dir, "out");
    const r = ok(soci("--json", "convert", ...FLAGS, "--format", "oci-dir", PY, out));
    assert.match(r.stderr, NOPE_WARNING);
    const report = json(r.stdout) as { platforms: Array<{ prefetch: Array<{ layer: string; digest: string }>; warnings: string[] }> };
    assert.deepEqual(report.platforms[0].warnings, ['prefetch file "/nope" was not found in any indexed layer']);
    const { image, soci: index, sociDigest: d } = converted(out);
    sociDigest = d;
    assert.equal(image.layers.length, 3);
    const kinds = index.layers.map((x) => [x.mediaType, x.annotations?.[LAYER_DIGEST]]);
    assert.deepEqual(kinds, [
      [ZTOC, image.layers[0].digest],
      [ZTOC, image.layers[1].digest],
      [ZTOC, image.layers[2].digest],
      [PREFETCH, image.layers[1].digest],
      [PREFETCH, image.layers[2].digest],
    ]);
    assert.deepEqual(report.platforms[0].prefetch.map((p) => [p.layer, p.digest]), index.layers.slice(3).map((x) => [x.annotations![LAYER_DIGEST], x.digest]));
    const seen = checkLayout(out);
    for (const [i, file] of [[1, "usr/bin/python3.11"], [2, "app/main.py"]] as const) {
      const artifact = index.layers[3 + i - 1];
      assert.ok(seen.has(artifact.digest), `artifact ${artifact.digest} present with its digest and size`);
      const ztoc = index.layers[i];
      const info = json(ok(soci("--json", "ztoc", "info", ztoc.digest)).stdout) as { files: Array<{ filename: string; type: string; start_span: number; end_span: number }> };
      const f = info.files.find((x) => x.filename === file);
      assert.ok(f, `${file} is in layer ${i + 1}'s zTOC`);
      assert.equal(f.type, "reg");
      const doc = json(readFileSync(blobFile(out, artifact.digest)));
      assert.deepEqual(doc, { version: "1.0", prefetch_spans: [{ start_span: f.start_span, end_span: f.end_span }] }, `${file}: artifact spans = ztoc info's`);
    }
  });

  test("text output: upstream's 'Created prefetch artifact' lines; verify passes; index info shows the artifacts", () => {
    const r = ok(soci("convert", ...FLAGS, "--format", "oci-dir", PY, join(dir, "out-text")));
    const { image, soci: index } = converted(join(dir, "out-text"));
    for (const a of index.layers.slice(3)) assert.match(r.stdout, new RegExp(`^Created prefetch artifact for layer ${a.annotations![LAYER_DIGEST]}: ${a.digest}$`, "m"));
    assert.equal(image.layers.length, 3);
    assert.match(r.stderr, NOPE_WARNING);
    assert.match(ok(soci("verify", out)).stdout, /^ok: /m);
    const info = json(ok(soci("index", "info", sociDigest)).stdout) as Doc;
    assert.deepEqual(info.layers.filter((x) => x.mediaType === PREFETCH).map((x) => x.digest), index.layers.slice(3).map((x) => x.digest));
    for (const a of index.layers.slice(3)) assert.ok(existsSync(join(dir, "store", "content", "blobs", "sha256", a.digest.slice(7))), `store has ${a.digest}`);
  });

  test("a prefetch artifact corrupted in place makes verify fail naming it", () => {
    const bad = join(dir, "tampered");
    cpSync(out, bad, { recursive: true });
    const artifact = converted(bad).soci.layers[4];
    const bytes = readFileSync(blobFile(bad, artifact.digest));
    const digit = bytes.findIndex((b) => b >= 0x30 && b <= 0x39 && b !== 0x31); // the "1" of "1.0" stays: a span id changes
    bytes[digit] ^= 0x01;
    writeFileSync(blobFile(bad, artifact.digest), bytes);
    const r = soci("verify", bad);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`^problem: SOCI index sha256:[0-9a-f]{64}: prefetch artifact ${artifact.digest}: `, "m"));
    assert.match(r.stderr, /^soci: Cannot verify .*: 1 problem found/m);
  });

  test("--prefetch-files-json gives the same index; bad JSON or a missing file fails naming it, nothing written", () => {
    const list = join(dir, "list.json");
    writeFileSync(list, JSON.stringify([" /app/main.py ", "", "/usr/bin/python3.11"]));
    ok(soci("convert", "--min-layer-size", "0", "--prefetch-files-json", list, "--format", "oci-dir", PY, join(dir, "out-json")));
    assert.equal(converted(join(dir, "out-json")).sociDigest, sociDigest, "same SOCI index as the flags (/nope added nothing)");

    const badJson = join(dir, "bad.json");
    writeFileSync(badJson, '["/app/main.py",');
    const obj = join(dir, "obj.json");
    writeFileSync(obj, '{"paths": ["/app/main.py"]}');
    const names = tree(dir);
    const store = snapshot(join(dir, "store"));
    for (const [file, why] of [[badJson, /not JSON/], [join(dir, "missing.json"), /no such file/], [obj, /expected a JSON array of strings/]] as const) {
      for (const cmd of [["convert", "--min-layer-size", "0", "--prefetch-files-json", file, "--format", "oci-dir", PY, join(dir, "never")], ["create", "--min-layer-size", "0", "--prefetch-files-json", file, PY]]) {
        const r = soci(...cmd);
        assert.equal(r.code, 1, `${cmd[0]} ${file}: ${r.stdout}${r.stderr}`);
        assert.match(r.stderr, new RegExp(`^soci: Cannot read prefetch file list ${file.replace(/[.]/g, "\\.")}: `, "m"));
        assert.match(r.stderr, why);
        assert.match(r.stderr, /^hint: /m);
        assert.equal(r.stdout, "", "no per-layer lines: nothing was built");
        assert.deepEqual(tree(dir), names, `${cmd[0]} with ${file} created no file`);
        assert.deepEqual(snapshot(join(dir, "store")), store, `${cmd[0]} with ${file} left the store as it was`);
      }
    }
  });

  test("oci-archive output and soci copy keep the artifact blobs", () => {
    const tar = join(dir, "out.tar");
    ok(soci("convert", ...FLAGS, PY, tar));
    const unpacked = untar(tar, join(dir, "out-tar"));
    const { soci: index } = converted(unpacked);
    const seen = checkLayout(unpacked);
    assert.equal(index.layers.filter((x) => x.mediaType === PREFETCH && seen.has(x.digest)).length, 2);
    ok(soci("copy", out, `oci:${join(dir, "copied")}`));
    const copied = checkLayout(join(dir, "copied"));
    for (const a of converted(out).soci.layers.slice(3)) assert.ok(copied.has(a.digest), `copy carried ${a.digest}`);
    assert.match(ok(soci("verify", join(dir, "copied"))).stdout, /^ok: /m);
  });

  test("create (v1) writes the artifacts into the store and its index lists them after the zTOCs", () => {
    const store = join(dir, "store-v1");
    const v1 = sociIn(dir, store);
    const r = ok(v1("--json", "create", ...FLAGS, PY));
    assert.match(r.stderr, NOPE_WARNING);
    const report = json(r.stdout) as { indexes: Array<{ sociIndex: { digest: string }; prefetch: Array<{ digest: string }> }> };
    const digest = report.indexes[0].sociIndex.digest;
    const info = json(ok(v1("index", "info", digest)).stdout) as Doc & { subject?: Desc };
    assert.equal(info.config.mediaType, "application/vnd.amazon.soci.index.v1+json");
    assert.deepEqual(info.layers.map((x) => x.mediaType), [ZTOC, ZTOC, ZTOC, PREFETCH, PREFETCH]);
    assert.deepEqual(info.layers.slice(3).map((x) => x.digest), report.indexes[0].prefetch.map((p) => p.digest));
    const { soci: v2 } = converted(out);
    assert.deepEqual(info.layers.slice(3), v2.layers.slice(3), "the same artifacts as convert's");
    for (const a of info.layers.slice(3)) {
      const bytes = readFileSync(join(store, "content", "blobs", "sha256", a.digest.slice(7)));
      assert.equal(sha256(bytes), a.digest);
    }
  });
});

const skipRegistry = registryToolsMissing(["docker-registry"]);

describe("prefetch artifacts through a registry", { skip: skipRegistry ? `skipped: ${skipRegistry}` : false, timeout: 600_000 }, () => {
  let reg: RunningRegistry;
  let run: ReturnType<typeof sociAsync>;

  before(async () => {
    reg = await startRegistry();
    run = sociAsync(dir, join(dir, "store-reg"));
  });
  after(async () => {
    await reg?.stop();
  });

  test("convert to a registry uploads the artifacts; pull brings them back and verify passes", async () => {
    const r = ok(await run("convert", ...FLAGS, PY, `${reg.host}/py:soci`));
    assert.match(r.stderr, NOPE_WARNING);
    const content = await registryContent(reg.host, "py", "soci");
    const root = json(await manifestBytes(reg.host, "py", "soci")) as Doc;
    const sociEntry = root.manifests!.find((d) => d.artifactType !== undefined)!;
    const index = json(content.get(sociEntry.digest)!) as Doc;
    const artifacts = index.layers.filter((x) => x.mediaType === PREFETCH);
    assert.equal(artifacts.length, 2);
    for (const a of artifacts) assert.ok(content.has(a.digest), `registry has ${a.digest}`);
    const pulled = join(dir, "pulled");
    ok(await run("pull", "-o", pulled, `${reg.host}/py:soci`));
    const seen = checkLayout(pulled);
    for (const a of artifacts) assert.ok(seen.has(a.digest), `pull wrote ${a.digest}`);
    assert.match(ok(await run("verify", pulled)).stdout, /^ok: /m);
  });

  test("push SRC DST of a created image: the v1 index rides along with its artifact blobs", async () => {
    const created = ok(await run("create", "-q", "--min-layer-size", "0", "--prefetch-file", "/app/main.py", PY)).stdout.trim();
    assert.match(created, /^sha256:[0-9a-f]{64}$/);
    ok(await run("push", PY, `${reg.host}/pyv1:1`));
    const index = json(await manifestBytes(reg.host, "pyv1", created)) as Doc;
    const artifacts = index.layers.filter((x) => x.mediaType === PREFETCH);
    assert.equal(artifacts.length, 1);
    const got = await raw(reg.host, `pyv1/blobs/${artifacts[0].digest}`);
    assert.equal(got.status, 200);
    assert.equal(sha256(got.bytes), artifacts[0].digest);
    assert.match(new TextDecoder().decode(got.bytes), /^\{"version":"1\.0","prefetch_spans":\[\{"start_span":\d+,"end_span":\d+\}\]\}$/);
  });
});
