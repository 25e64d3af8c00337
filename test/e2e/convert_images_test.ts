// `soci convert` (the built bundle, node dist/soci.mjs) on every synthetic
// fixture image, as oci-dir and oci-archive, with --min-layer-size 0 and the
// default: exit codes, one upstream per-layer line per layer with the expected
// outcome (built, or skipped for size, zstd, PAX/old-GNU sparse, …) — the image
// always converts as a whole — `soci verify` on every output, an independent
// layout check, --json equal to the human output, idempotent re-conversion,
// partial re-conversion keeping the other platforms valid, the small-image
// notice, and `ztoc get-file` against `tar -xO` of the layer.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import {
  blobFile,
  buildCliAndFixtures,
  checkLayout,
  fixtureFacts,
  gzip,
  IMAGES,
  noise,
  ok,
  platformText,
  sociIn,
  tarOf,
  tempDir,
  tempNames,
  untar,
  writeLayout,
  type LayerFacts,
  type ManifestFacts,
  type Ran,
} from "./_soci_cli.ts";

const NAMES = ["sample", "tricky", "gnu-sparse", "big-layer", "multiarch", "docker-schema2"];
const DEFAULT_MIN = 10485760;
let dir = "";
let soci: (...args: string[]) => Ran;

before(() => {
  buildCliAndFixtures(NAMES);
  dir = tempDir("soci-convert-images-");
  soci = sociIn(dir, join(dir, "store"));
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface JsonLayer {
  digest: string;
  size: number;
  mediaType: string;
  status: "built" | "skipped";
  ztoc?: string;
  reused?: boolean;
  reason?: string;
  error?: string;
}
interface ConvertJson {
  image: { mediaType: string; digest: string; size: number };
  format: string;
  platforms: Array<{ platform: string; imageManifest: string; sociIndex: { digest: string; size: number } | null; layers: JsonLayer[] }>;
  notice?: { message: string; hint: string };
}

/** The outcome a layer must have, from the fixture facts alone. */
function expectedLine(l: LayerFacts, min: number): RegExp {
  const d = l.digest;
  const mt = l.media_type.replace(/[.+]/g, "\\$&");
  if (l.size < min) return new RegExp(`^ztoc skipped - layer ${d} \\(${mt}\\) size ${l.size} is less than min-layer-size ${min}$`);
  if (l.compression === "zstd") return new RegExp(`^ztoc skipped - layer ${d} \\(${mt}\\) is compressed in an unsupported format\\. expect: \\[tar, gzip, unknown\\] but got "zstd"$`);
  // Old GNU sparse ('S') is refused; PAX sparse and a directory with a size field would give a TOC
  // upstream cannot mount (formats §12.3 #10, #21): skipped with the reason, never a whole-image failure.
  if (/old GNU sparse/.test(l.note ?? "")) return new RegExp(`^ztoc skipped - layer ${d} \\(${mt}\\) could not be indexed: .*'S' \\(old GNU sparse file\\)`);
  if (/PAX sparse|USTAR\/PAX edge cases/.test(l.note ?? "")) return new RegExp(`^ztoc skipped - layer ${d} \\(${mt}\\) could not be indexed: .*header would start at \\d+`);
  return new RegExp(`^layer ${d} -> ztoc sha256:[0-9a-f]{64}( \\(already exists\\))?$`);
}

interface Case {
  image: string;
  flags: string[];
  /** The platforms whose manifests are indexed. */
  platforms: (m: ManifestFacts) => boolean;
}

const CASES: Case[] = [
  { image: "sample", flags: [], platforms: () => true },
  { image: "tricky", flags: [], platforms: () => true },
  { image: "gnu-sparse", flags: [], platforms: () => true },
  { image: "big-layer", flags: [], platforms: () => true },
  { image: "multiarch", flags: ["--all-platforms"], platforms: (m) => m.platform?.os !== "unknown" },
  { image: "multiarch", flags: ["--platform", "linux/arm64"], platforms: (m) => m.platform?.architecture === "arm64" },
  { image: "docker-schema2", flags: ["--all-platforms"], platforms: () => true },
];

const label = (c: Case) => `${c.image}${c.flags.length ? " " + c.flags.join(" ") : ""}`;
const outName = (c: Case, suffix: string) => `${c.image}-${c.flags.join("").replace(/[^a-z0-9]/g, "")}-${suffix}`;

/** Checks the per-layer lines of a human run against the fixture facts; returns the lines. */
function checkLines(c: Case, r: Ran, min: number): string[] {
  const facts = fixtureFacts(c.image);
  const lines = r.stdout.trimEnd().split("\n");
  const layerLines = lines.filter((l) => l.startsWith("layer ") || l.startsWith("ztoc skipped - "));
  const want = facts.manifests.filter(c.platforms).flatMap((m) => m.layers);
  assert.ok(want.length > 0);
  assert.equal(layerLines.length, want.length, `${label(c)}: one line per layer\n${r.stdout}`);
  for (const l of want) {
    const line = layerLines.find((x) => x.includes(` ${l.digest} `));
    assert.ok(line, `${label(c)}: a line for layer ${l.digest}`);
    assert.match(line, expectedLine(l, min), `${label(c)} layer ${l.digest} (${l.note})`);
  }
  return lines;
}

const indexed = (c: Case, min: number) =>
  fixtureFacts(c.image)
    .manifests.filter(c.platforms)
    .filter((m) => m.layers.some((l) => expectedLine(l, min).source.startsWith("^layer ")));

for (const c of CASES) {
  test(`convert ${label(c)}: oci-dir and oci-archive, --min-layer-size 0 and the default; lines, verify, --json`, () => {
    for (const min of [0, DEFAULT_MIN]) {
      const minFlags = min === 0 ? ["--min-layer-size", "0"] : [];
      const out = outName(c, `dir-${min}`);
      // Flags right before the arguments: cac once took SRC as the value of --all-platforms.
      const human = soci("convert", ...minFlags, "--format", "oci-dir", ...c.flags, join(IMAGES, c.image), out);
      ok(human);
      const lines = checkLines(c, human, min);
      const digest = /^converted image (sha256:[0-9a-f]{64}) written to (.+) \(oci-dir\)$/.exec(lines[lines.length - 1]);
      assert.ok(digest, `${label(c)}: last line names the converted image\n${human.stdout}`);
      assert.equal(digest[2], out);
      const checked = checkLayout(join(dir, out));
      const indexJson = JSON.parse(readFileSync(join(dir, out, "index.json"), "utf8"));
      assert.equal(indexJson.manifests[0].digest, digest[1]);
      assert.ok(checked.has(digest[1]));

      const withIndex = indexed(c, min);
      const sociLines = lines.filter((l) => l.startsWith("soci index "));
      assert.equal(sociLines.length, withIndex.length, `${label(c)} min ${min}: one SOCI index per platform with a built layer`);
      const v = soci("verify", out);
      if (withIndex.length > 0) {
        ok(v);
        assert.equal(v.stdout, `ok: ${out}: ${withIndex.length} SOCI index${withIndex.length === 1 ? "" : "es"} and their zTOCs match the image\n`);
        assert.equal(human.stderr.includes("soci: warning"), false, human.stderr);
      } else {
        // No layer could be indexed: still a complete, valid image (checked above), with the notice;
        // verify says exactly that it is not SOCI-enabled.
        assert.match(human.stderr, /^soci: warning: no (zTOC was created|layer is large enough to index)/m);
        assert.match(human.stderr, /^hint: .*--min-layer-size 0/m);
        assert.equal(v.code, 1);
        assert.equal(v.stdout, "problem: the image index lists no SOCI index v2\n");
      }

      // The same conversion as an oci-archive, with --json: same image, same per-layer outcomes.
      const tarOut = outName(c, `${min}.tar`);
      const j = ok(soci("--json", "convert", ...c.flags, ...minFlags, "--format", "oci-archive", join(IMAGES, c.image), tarOut));
      const doc = JSON.parse(j.stdout) as ConvertJson;
      assert.equal(doc.format, "oci-archive");
      assert.equal(doc.image.digest, digest[1], `${label(c)}: oci-archive and oci-dir hold the same image`);
      assert.equal(doc.platforms.filter((p) => p.sociIndex !== null).length, withIndex.length);
      for (const p of doc.platforms) {
        if (p.sociIndex) assert.ok(sociLines.includes(`soci index ${p.sociIndex.digest} (v2, ${p.platform}) for manifest ${p.imageManifest}`), `${p.platform} in the human output`);
        for (const l of p.layers) {
          const line = lines.find((x) => x.includes(` ${l.digest} `))!;
          if (l.status === "built") assert.ok(line.startsWith(`layer ${l.digest} -> ztoc ${l.ztoc}`), `${line} vs ${JSON.stringify(l)}`);
          else {
            const why = { "min-layer-size": "is less than min-layer-size", "unsupported-compression": "unsupported format", "build-failed": "could not be indexed" }[l.reason!];
            assert.ok(why && line.startsWith(`ztoc skipped - layer ${l.digest} (${l.mediaType})`) && line.includes(why), `${line} vs ${JSON.stringify(l)}`);
          }
        }
      }
      assert.equal(doc.notice !== undefined, withIndex.length === 0);
      const unpacked = untar(join(dir, tarOut), join(dir, `${tarOut}.d`));
      assert.ok(checkLayout(unpacked).has(digest[1]));
      if (withIndex.length > 0) ok(soci("verify", tarOut));
      rmSync(unpacked, { recursive: true, force: true });
    }
    assert.deepEqual(tempNames(dir), [], "no temp files left");
  });
}

test("re-converting a converted image is idempotent (same OCI index digest), for a single manifest and an index", () => {
  for (const [src, flags] of [[outName(CASES[0], "dir-0"), []], [outName(CASES[4], "dir-0"), ["--all-platforms"]]] as const) {
    const first = JSON.parse(readFileSync(join(dir, src, "index.json"), "utf8")).manifests[0].digest;
    const again = ok(soci("-q", "convert", ...flags, "--min-layer-size", "0", "--format", "oci-dir", src, `${src}-again`));
    assert.equal(again.stdout.trim(), first, `${src}: same image digest`);
    ok(soci("verify", `${src}-again`));
  }
});

test("partial re-conversion (--all-platforms, then --platform linux/amd64) keeps the other platforms' SOCI entries valid", () => {
  const src = outName(CASES[4], "dir-0");
  // Same options: the amd64 entry is rebuilt identically, so the whole image is unchanged.
  const same = ok(soci("-q", "convert", "--platform", "linux/amd64", "--min-layer-size", "0", "--format", "oci-dir", src, "partial-same"));
  assert.equal(same.stdout.trim(), JSON.parse(readFileSync(join(dir, src, "index.json"), "utf8")).manifests[0].digest);
  ok(soci("verify", "partial-same"));
  const before = JSON.parse(readFileSync(blobFile(join(dir, src), JSON.parse(readFileSync(join(dir, src, "index.json"), "utf8")).manifests[0].digest), "utf8"));
  const sociOf = (ix: { manifests: Array<{ digest: string; artifactType?: string; platform?: { architecture: string } }> }) =>
    Object.fromEntries(ix.manifests.filter((d) => d.artifactType === "application/vnd.amazon.soci.index.v2+json").map((d) => [d.platform!.architecture, d.digest]));
  // A different span size makes the amd64 index (and manifest) new, so the replacement is visible.
  const r = ok(soci("--json", "convert", "--platform", "linux/amd64", "--span-size", "1048576", "--min-layer-size", "0", "--format", "oci-dir", src, "partial"));
  const doc = JSON.parse(r.stdout) as ConvertJson;
  assert.equal(doc.platforms.length, 1);
  const afterIx = JSON.parse(readFileSync(blobFile(join(dir, "partial"), doc.image.digest), "utf8"));
  const was = sociOf(before);
  const now = sociOf(afterIx);
  assert.deepEqual(Object.keys(now).sort(), ["amd64", "arm", "arm64"], "one SOCI entry per platform, none duplicated");
  assert.notEqual(now.amd64, was.amd64, "amd64 index replaced in place");
  assert.equal(now.arm64, was.arm64);
  assert.equal(now.arm, was.arm);
  const v = ok(soci("--json", "verify", "partial"));
  assert.deepEqual(JSON.parse(v.stdout).problems, []);
  assert.equal(JSON.parse(v.stdout).sociIndexes, 3);
});

test("a small image with no layer of the minimum size: the notice with a --min-layer-size hint, exit 0 and a valid image", () => {
  const small = writeLayout(join(dir, "small"), [gzip(tarOf([{ name: "etc/motd", data: new TextEncoder().encode("hi\n") }, { name: "bin/blob", data: noise(4096) }]))]);
  const r = ok(soci("convert", "--format", "oci-dir", "small", "small-out"));
  assert.equal(
    r.stdout.split("\n")[0],
    `ztoc skipped - layer ${small.layers[0].digest} (application/vnd.oci.image.layer.v1.tar+gzip) size ${small.layers[0].size} is less than min-layer-size ${DEFAULT_MIN}`,
  );
  assert.match(r.stderr, new RegExp(`^soci: warning: no layer is large enough to index: every layer is smaller than the minimum layer size ${DEFAULT_MIN} \\(the largest is ${small.layers[0].size} bytes\\); the image was written without SOCI indexes\nhint: Pass --min-layer-size 0 to index small layers\n`, "m"));
  assert.match(r.stdout, /^converted image sha256:[0-9a-f]{64} written to small-out \(oci-dir\)$/m);
  checkLayout(join(dir, "small-out"));
  const j = JSON.parse(ok(soci("--json", "convert", "--format", "oci-dir", "small", "small-out2")).stdout) as ConvertJson;
  assert.match(j.notice!.message, /^no layer is large enough to index/);
  assert.equal(j.notice!.hint, "Pass --min-layer-size 0 to index small layers");
  assert.deepEqual(j.platforms.map((p) => p.sociIndex), [null]);
  // With the hint followed, the same image gets its index.
  ok(soci("convert", "--min-layer-size", "0", "--format", "oci-dir", "small", "small-out3"));
  ok(soci("verify", "small-out3"));
});

test("ztoc get-file returns, for a sample of files, exactly what tar -xO gives from the layer", () => {
  const r = JSON.parse(ok(soci("--json", "convert", "--min-layer-size", "0", "--format", "oci-dir", join(IMAGES, "big-layer"), "big-getfile")).stdout) as ConvertJson;
  const tricky = JSON.parse(ok(soci("--json", "convert", "--min-layer-size", "0", "--format", "oci-dir", join(IMAGES, "tricky"), "tricky-getfile")).stdout) as ConvertJson;
  const home = new Map([...r.platforms[0].layers.map((l) => [l.digest, "big-layer"] as const), ...tricky.platforms[0].layers.map((l) => [l.digest, "tricky"] as const)]);
  const layers = [...r.platforms[0].layers, ...tricky.platforms[0].layers].filter((l) => l.status === "built" && l.mediaType.endsWith("gzip"));
  assert.ok(layers.length >= 6);
  let compared = 0;
  for (const l of layers) {
    const info = JSON.parse(ok(soci("ztoc", "info", l.ztoc!)).stdout) as { num_spans: number; files: Array<{ filename: string; size: number; type: string; start_span: number; end_span: number }> };
    const regs = info.files.filter((f) => f.type === "reg" && /^[\w./-]+$/.test(f.filename) && !f.filename.includes("/../"));
    if (regs.length === 0) continue;
    const bySize = [...regs].sort((a, b) => b.size - a.size);
    const multiSpan = regs.find((f) => f.end_span > f.start_span);
    const pick = [...new Set([regs[0], regs[regs.length - 1], bySize[0], ...(multiSpan ? [multiSpan] : []), regs.find((f) => f.size === 0)].filter((f) => f !== undefined))];
    const src = home.get(l.digest)!;
    for (const f of pick) {
      const got = spawnSync(process.execPath, [join(process.env.SOCI_REPO_ROOT ?? process.cwd(), "dist", "soci.mjs"), "--store", join(dir, "store"), "ztoc", "get-file", l.ztoc!, f!.filename], { maxBuffer: 1 << 28, env: { PATH: "/usr/bin:/bin", HOME: dir } });
      assert.equal(got.status, 0, got.stderr?.toString());
      const want = spawnSync("tar", ["-xzOf", blobFile(join(IMAGES, src), l.digest), f!.filename], { maxBuffer: 1 << 28 });
      assert.equal(want.status, 0, `tar -xO ${f!.filename}: ${want.stderr}`);
      // stdout is the content plus a newline (formats §11.2).
      assert.equal(got.stdout.length, f!.size + 1, f!.filename);
      assert.ok(Buffer.compare(got.stdout.subarray(0, f!.size), want.stdout) === 0, `${f!.filename} of ${l.digest}: bytes equal tar's`);
      compared++;
    }
  }
  assert.ok(compared >= 10, `compared ${compared} files`);
});

test("the platforms of a multi-platform conversion are reported as the source lists them", () => {
  const facts = fixtureFacts("multiarch");
  const j = JSON.parse(ok(soci("--json", "convert", "--all-platforms", "--min-layer-size", "0", "--format", "oci-dir", join(IMAGES, "multiarch"), "multi-json")).stdout) as ConvertJson;
  assert.deepEqual(
    j.platforms.map((p) => p.platform),
    facts.manifests.filter((m) => m.platform && m.platform.os !== "unknown").map((m) => platformText(m.platform!)),
  );
});
