import { test } from "node:test";
import assert from "node:assert/strict";
import { sha256Digest, utf8 } from "../bytes/mod.ts";
import { FormatError } from "../errors.ts";
import { ANNOTATION_IMAGE_LAYER_DIGEST, MEDIA_TYPE_SOCI_PREFETCH } from "../oci/mod.ts";
import { writeTar, type TarWriteEntry } from "../tar/mod.ts";
import { buildZtoc } from "../ztoc/mod.ts";
import {
  buildPrefetchArtifacts,
  cleanPrefetchPath,
  encodePrefetchArtifact,
  mergePrefetchSpans,
  parsePrefetchArtifact,
  parsePrefetchFilesJson,
} from "./prefetch.ts";

const span = (startSpan: number, endSpan: number, priority = 0) => ({ startSpan, endSpan, priority });

test("cleanPrefetchPath() makes the path absolute, resolves . and .., then drops the leading slash", () => {
  assert.equal(cleanPrefetchPath("/app/main.py"), "app/main.py");
  assert.equal(cleanPrefetchPath("app/main.py"), "app/main.py");
  assert.equal(cleanPrefetchPath("./app//x/../main.py"), "app/main.py");
  assert.equal(cleanPrefetchPath("/../../etc/passwd"), "etc/passwd", "never above the root");
  assert.equal(cleanPrefetchPath("/usr/lib/"), "usr/lib", "a trailing slash goes: directory names in a TOC keep theirs, so they never match (§9.6)");
  assert.equal(cleanPrefetchPath("/"), "");
});

test("parsePrefetchFilesJson() trims, drops empty entries, and names the file on bad input", () => {
  assert.deepEqual(parsePrefetchFilesJson('[" /a ", "", "b", "   "]', "list.json"), ["/a", "b"]);
  assert.throws(() => parsePrefetchFilesJson("{", "list.json"), (e: unknown) => e instanceof FormatError && /list\.json: not JSON/.test(e.message));
  assert.throws(() => parsePrefetchFilesJson('["a", 1]', "list.json"), (e: unknown) => e instanceof FormatError && /array of strings/.test(e.message));
  assert.throws(() => parsePrefetchFilesJson('{"a":1}', "list.json"), FormatError);
});

test("mergePrefetchSpans() sorts and merges ranges that overlap or touch, and only those", () => {
  assert.deepEqual(mergePrefetchSpans([span(50, 55), span(10, 12), span(13, 15), span(11, 11), span(17, 17)]), [span(10, 15), span(17, 17), span(50, 55)]);
  assert.deepEqual(mergePrefetchSpans([]), []);
});

test("encodePrefetchArtifact() writes Go's compact encoding; priority only when non-zero", () => {
  assert.equal(
    new TextDecoder().decode(encodePrefetchArtifact([span(10, 15), span(50, 55)])),
    '{"version":"1.0","prefetch_spans":[{"start_span":10,"end_span":15},{"start_span":50,"end_span":55}]}',
    "the formats §9.6 example",
  );
  assert.equal(new TextDecoder().decode(encodePrefetchArtifact([span(1, 2, 3)])), '{"version":"1.0","prefetch_spans":[{"start_span":1,"end_span":2,"priority":3}]}');
});

test("parsePrefetchArtifact() reads what the encoder writes and refuses what a snapshotter must not use", () => {
  assert.deepEqual(parsePrefetchArtifact(encodePrefetchArtifact([span(10, 15), span(50, 55, 2)]), "a"), [span(10, 15), span(50, 55, 2)]);
  const bad: Array<[string, RegExp]> = [
    ['{"version":"2.0","prefetch_spans":[{"start_span":1,"end_span":1}]}', /version "2\.0"/],
    ['{"version":"1.0","prefetch_spans":[]}', /no prefetch_spans/],
    ['{"version":"1.0"}', /no prefetch_spans/],
    ['{"version":"1.0","prefetch_spans":[{"start_span":3,"end_span":1}]}', /prefetch_spans\[0\]/],
    ['{"version":"1.0","prefetch_spans":[{"start_span":-1,"end_span":1}]}', /prefetch_spans\[0\]/],
    ['{"version":"1.0","prefetch_spans":[{"start_span":1.5,"end_span":2}]}', /prefetch_spans\[0\]/],
    ["not json", /not JSON/],
    ["null", /not a JSON object/],
  ];
  for (const [doc, re] of bad) assert.throws(() => parsePrefetchArtifact(utf8(doc), "sha256:x"), (e: unknown) => e instanceof FormatError && re.test(e.message) && e.message.includes("sha256:x"), doc);
});

async function ztocOf(entries: TarWriteEntry[]) {
  const tar = writeTar(entries);
  async function* one() {
    yield tar;
  }
  return (await buildZtoc(one(), { compression: "uncompressed", spanSize: 1024, buildToolIdentifier: "t", source: "layer" })).ztoc;
}

test("buildPrefetchArtifacts() matches raw names top layer first, maps files to inclusive span ranges, warns for misses", async () => {
  const file = (name: string, size: number): TarWriteEntry => ({ name, type: "file", data: new Uint8Array(size).fill(7), mtime: 1700000000 });
  // bottom: header 512 + 3000 data (spans 0..3), then b at 4096 (span 4)
  const bottom = await ztocOf([file("app/main.py", 3000), file("b", 10), { name: "dir/", type: "dir", mtime: 1700000000 }]);
  const top = await ztocOf([file("pad", 5000), file("app/main.py", 10)]);
  const { artifacts, warnings } = buildPrefetchArtifacts(
    ["/app/main.py", "b", "/b", "/missing", "dir", "./app/../b"],
    [{ layerDigest: "sha256:bottom", ztoc: bottom }, { layerDigest: "sha256:top", ztoc: top }],
  );
  assert.deepEqual(warnings, ['prefetch file "/missing" was not found in any indexed layer', 'prefetch file "dir" was not found in any indexed layer']);
  assert.deepEqual(artifacts.map((a) => a.layerDigest), ["sha256:bottom", "sha256:top"], "bottom to top (§9.4)");
  const topMain = top.toc.find((e) => new TextDecoder().decode(e.name) === "app/main.py")!;
  const s = Math.floor(topMain.uncompressedOffset / 1024);
  assert.deepEqual(artifacts[1].spans, [span(s, Math.floor((topMain.uncompressedOffset + 10) / 1024))], "the top layer's app/main.py wins");
  const b = bottom.toc.find((e) => new TextDecoder().decode(e.name) === "b")!;
  assert.deepEqual(artifacts[0].spans, [span(Math.floor(b.uncompressedOffset / 1024), Math.floor((b.uncompressedOffset + 10) / 1024))], "b three times, merged into one range");
  const d = artifacts[0].descriptor;
  assert.deepEqual(d, { mediaType: MEDIA_TYPE_SOCI_PREFETCH, digest: sha256Digest(artifacts[0].bytes), size: artifacts[0].bytes.length, annotations: { [ANNOTATION_IMAGE_LAYER_DIGEST]: "sha256:bottom" } });
  assert.deepEqual(buildPrefetchArtifacts([], [{ layerDigest: "sha256:bottom", ztoc: bottom }]), { artifacts: [], warnings: [] });
});
