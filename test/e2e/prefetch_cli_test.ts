// `soci prefetch list|ls` and `soci prefetch info` (formats §11.2, §9.6)
// through the built CLI on the debian-python fixture (python3.11 in layer 2,
// /app/main.py in layer 3): convert with two --prefetch-file paths in
// different layers, then the table, --quiet and --json listings (layer digests
// and span totals checked against `ztoc info`'s start/end spans), info as text
// and --json (the raw artifact equal to the blob convert wrote), the refusals
// (unknown digest, zTOC and index digests, a malformed digest), a corrupted
// blob in the store (listed as N/A, info fails naming it), `index rm`
// dropping the records, and `create` (v1) recording its artifacts too.
import assert from "node:assert/strict";
import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { blobFile, buildCliAndFixtures, IMAGES, ok, sociIn, tempDir } from "./_soci_cli.ts";

const PY = join(IMAGES, "debian-python");
const FILES = [["/usr/bin/python3.11", 1], ["/app/main.py", 2]] as const; // path, layer index
const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

interface ConvertJson {
  platforms: Array<{
    sociIndex: { digest: string } | null;
    layers: Array<{ digest: string; ztoc?: string }>;
    prefetch: Array<{ layer: string; digest: string }>;
  }>;
}
interface ListJson {
  Digest: string;
  LayerDigest: string;
  TotalSpans: number;
  CreatedAt: string;
}
interface Expected {
  digest: string;
  layer: string;
  start: number;
  end: number;
}

const json = (s: string) => JSON.parse(s);
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");

let dir = "";
let store = "";
let soci: ReturnType<typeof sociIn>;
let report: ConvertJson;
let startedMs = 0;
const expected: Expected[] = [];

before(() => {
  buildCliAndFixtures(["debian-python"]);
  dir = tempDir("soci-prefetch-cli-");
  store = join(dir, "store");
  soci = sociIn(dir, store);
  startedMs = Date.now();
  const flags = FILES.flatMap(([p]) => ["--prefetch-file", p]);
  report = json(ok(soci("--json", "convert", "--min-layer-size", "0", ...flags, "--format", "oci-dir", PY, join(dir, "out"))).stdout);
  const p = report.platforms[0];
  assert.equal(p.prefetch.length, 2, "one artifact per layer holding a listed file");
  for (const [path, layer] of FILES) {
    const layerDigest = p.layers[layer].digest;
    const artifact = p.prefetch.find((a) => a.layer === layerDigest);
    assert.ok(artifact, `an artifact for layer ${layer + 1} (${path})`);
    const info = json(ok(soci("--json", "ztoc", "info", p.layers[layer].ztoc!)).stdout) as { files: Array<{ filename: string; start_span: number; end_span: number }> };
    const f = info.files.find((x) => x.filename === path.slice(1));
    assert.ok(f, `${path} is in layer ${layer + 1}'s zTOC`);
    expected.push({ digest: artifact.digest, layer: layerDigest, start: f.start_span, end: f.end_span });
  }
  assert.notEqual(expected[0].digest, expected[1].digest, "the fixture gives two different artifacts");
});
after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("soci prefetch list / info", { timeout: 600_000 }, () => {
  test("prefetch ls: upstream's table, one row per artifact with its layer and the span total ztoc info gives", () => {
    for (const cmd of [["prefetch", "ls"], ["prefetch", "list"]]) {
      const lines = ok(soci(...cmd)).stdout.split("\n").filter((l) => l !== "");
      assert.match(lines[0], /^DIGEST {4,}LAYER DIGEST {4,}SPANS {4,}CREATED$/);
      assert.equal(lines.length, 3, lines.join("\n"));
      for (const e of expected) {
        const row = lines.find((l) => l.startsWith(e.digest + " "));
        assert.ok(row, `a row for ${e.digest}`);
        const cells = row.split(/ {4,}/);
        assert.deepEqual(cells.slice(0, 3), [e.digest, e.layer, String(e.end - e.start + 1)]);
        assert.match(cells[3], /^\d+(m\d+)?s ago$/);
      }
    }
    assert.deepEqual(ok(soci("-q", "prefetch", "ls")).stdout.trim().split("\n").sort(), expected.map((e) => e.digest).sort());
  });

  test("prefetch ls --json: upstream's keys, span totals, creation time of this run", () => {
    const viaCommand = json(ok(soci("prefetch", "ls", "--json")).stdout) as ListJson[];
    const viaGlobal = json(ok(soci("--json", "prefetch", "ls")).stdout) as ListJson[];
    assert.deepEqual(viaCommand, viaGlobal);
    assert.equal(viaCommand.length, 2);
    for (const r of viaCommand) {
      assert.deepEqual(Object.keys(r), ["Digest", "LayerDigest", "TotalSpans", "CreatedAt"]);
      const e = expected.find((x) => x.digest === r.Digest);
      assert.ok(e, `${r.Digest} is one of convert's artifacts`);
      assert.equal(r.LayerDigest, e.layer);
      assert.equal(r.TotalSpans, e.end - e.start + 1);
      const t = Date.parse(r.CreatedAt);
      assert.ok(t >= startedMs - 1000 && t <= Date.now(), `CreatedAt ${r.CreatedAt} is during this test`);
    }
  });

  test("prefetch info: the summary, each range with its span count, and the total", () => {
    const listed = json(ok(soci("--json", "prefetch", "ls")).stdout) as ListJson[];
    for (const e of expected) {
      const blob = readFileSync(blobFile(join(dir, "out"), e.digest));
      const created = listed.find((r) => r.Digest === e.digest)!.CreatedAt.slice(0, 19).replace("T", " ");
      const n = e.end - e.start + 1;
      const want = [
        `Digest:        ${e.digest}`,
        "Version:       1.0",
        "Span Ranges:   1",
        `Layer Digest:  ${e.layer}`,
        `Size:          ${blob.length} bytes`,
        `Created:       ${created}`,
        "",
        "Prefetch Spans:",
        `  [0] StartSpan: ${e.start}, EndSpan: ${e.end} (covers ${n} spans)`,
        "",
        `Total spans to prefetch: ${n}`,
        "",
      ].join("\n");
      assert.equal(ok(soci("prefetch", "info", e.digest)).stdout, want);
    }
  });

  test("prefetch info --json: one document with the same facts and the raw artifact as convert wrote it", () => {
    for (const e of expected) {
      const blob = readFileSync(blobFile(join(dir, "out"), e.digest));
      const doc = json(ok(soci("prefetch", "info", "--json", e.digest)).stdout);
      assert.deepEqual(Object.keys(doc), ["Digest", "Version", "SpanRanges", "LayerDigest", "LayerDigests", "Size", "CreatedAt", "TotalSpans", "Artifact"]);
      assert.equal(doc.Digest, e.digest);
      assert.equal(doc.LayerDigest, e.layer);
      assert.deepEqual(doc.LayerDigests, [e.layer]);
      assert.equal(doc.Size, blob.length);
      assert.equal(doc.SpanRanges, 1);
      assert.equal(doc.TotalSpans, e.end - e.start + 1);
      assert.deepEqual(doc.Artifact, json(blob.toString("utf8")));
      assert.deepEqual(doc.Artifact, { version: "1.0", prefetch_spans: [{ start_span: e.start, end_span: e.end }] });
    }
  });

  test("prefetch info refuses an unknown digest, a zTOC, an index and a malformed digest", () => {
    const unknown = "sha256:" + "0".repeat(64);
    const r = soci("prefetch", "info", unknown);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, new RegExp(`^soci: Cannot find prefetch artifact ${unknown}: the local store has no such prefetch artifact\\nhint: Run "soci prefetch list"`));
    const p = report.platforms[0];
    const z = soci("prefetch", "info", p.layers[0].ztoc!);
    assert.equal(z.code, 1, z.stdout + z.stderr);
    assert.match(z.stderr, new RegExp(`^soci: Cannot show prefetch artifact ${p.layers[0].ztoc}: it is a zTOC\\nhint: Run "soci ztoc info `));
    const i = soci("prefetch", "info", p.sociIndex!.digest);
    assert.equal(i.code, 1, i.stdout + i.stderr);
    assert.match(i.stderr, /^soci: Cannot show prefetch artifact sha256:[0-9a-f]{64}: it is a SOCI index\nhint: Run "soci index info /);
    const bad = soci("prefetch", "info", "sha256:abc");
    assert.equal(bad.code, 2, bad.stdout + bad.stderr);
    assert.match(bad.stderr, /^soci: Cannot use digest "sha256:abc": expected a full digest/);
    const none = soci("prefetch", "info");
    assert.notEqual(none.code, 0, "the digest is required");
  });

  test("a corrupted artifact blob in the store: ls shows N/A (exit 0), info fails naming the digest with a hint", () => {
    const damaged = join(dir, "store-damaged");
    cpSync(store, damaged, { recursive: true });
    const s = sociIn(dir, damaged);
    const victim = expected[1];
    const file = join(damaged, "content", "blobs", "sha256", victim.digest.slice(7));
    const bytes = readFileSync(file);
    const digit = bytes.findIndex((b, i) => i > 20 && b >= 0x30 && b <= 0x38);
    bytes[digit] += 1; // a span id changes: still an artifact, but not the recorded one
    writeFileSync(file, bytes);
    const rows = ok(s("prefetch", "ls")).stdout.split("\n");
    assert.deepEqual(rows.find((l) => l.startsWith(victim.digest))!.split(/ {4,}/).slice(0, 3), [victim.digest, victim.layer, "N/A"]);
    const other = expected[0];
    assert.equal(rows.find((l) => l.startsWith(other.digest))!.split(/ {4,}/)[2], String(other.end - other.start + 1), "the intact one still counts");
    const listed = json(ok(s("--json", "prefetch", "ls")).stdout) as ListJson[];
    assert.equal(listed.find((r) => r.Digest === victim.digest)!.TotalSpans, -1);
    const r = s("prefetch", "info", victim.digest);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.equal(r.stdout, "", "nothing half-printed");
    assert.match(r.stderr, new RegExp(`^soci: Cannot read prefetch artifact ${victim.digest}: its blob in the local store is damaged\\n`));
    assert.match(r.stderr, new RegExp(`^hint: Delete ${escape(file)} and run soci convert or soci create`, "m"));
    // Garbage that is not JSON at all: the same refusal.
    writeFileSync(file, "not json, not an artifact");
    const g = s("prefetch", "info", victim.digest);
    assert.equal(g.code, 1);
    assert.match(g.stderr, new RegExp(`^soci: Cannot read prefetch artifact ${victim.digest}: `));
  });

  test("index rm drops the artifacts' records (blobs stay); create (v1) records its own", () => {
    const index = report.platforms[0].sociIndex!.digest;
    assert.match(index, DIGEST_RE);
    ok(soci("index", "rm", index));
    assert.equal(ok(soci("prefetch", "ls")).stdout.split("\n").filter((l) => l !== "").length, 1, "only the header");
    assert.deepEqual(json(ok(soci("--json", "prefetch", "ls")).stdout), []);
    for (const e of expected) assert.ok(existsSync(join(store, "content", "blobs", "sha256", e.digest.slice(7))), "blob kept, as zTOC blobs are");
    const gone = soci("prefetch", "info", expected[0].digest);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /^soci: Cannot find prefetch artifact /);

    const created = json(ok(soci("--json", "create", "--min-layer-size", "0", "--prefetch-file", "/app/main.py", PY)).stdout) as { indexes: Array<{ prefetch: Array<{ digest: string }> }> };
    const digest = created.indexes[0].prefetch[0].digest;
    assert.equal(digest, expected[1].digest, "the same spans as convert's artifact for main.py");
    const rows = json(ok(soci("--json", "prefetch", "ls")).stdout) as ListJson[];
    assert.deepEqual(rows.map((r) => [r.Digest, r.LayerDigest, r.TotalSpans]), [[digest, expected[1].layer, expected[1].end - expected[1].start + 1]]);
    assert.match(ok(soci("prefetch", "info", digest)).stdout, /^Total spans to prefetch: \d+$/m);
  });

  test("help lists the prefetch commands; `soci prefetch` alone asks for a subcommand", () => {
    const help = ok(soci("--help")).stdout;
    assert.match(help, /prefetch list/);
    assert.match(help, /prefetch info/);
    const bare = soci("prefetch");
    assert.equal(bare.code, 2, bare.stdout + bare.stderr);
    assert.match(bare.stderr, /^soci: Cannot run "prefetch": a subcommand is required/);
  });
});
