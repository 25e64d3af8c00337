import { test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { FormatError } from "../errors.ts";
import { encodeDescriptorJson, encodeGoJsonValue, encodeIndex, encodeManifest, goJsonString, goJsonStringMap } from "./go_json.ts";
import { parseIndex, parseManifest, sniffManifestKind } from "./model.ts";

const ROOT = process.env.SOCI_REPO_ROOT ?? process.cwd();
const EX = join(ROOT, "test/fixtures/upstream/convert-example");
const fixture = (name: string) => new Uint8Array(readFileSync(join(EX, name)));
const text = (b: Uint8Array) => new TextDecoder().decode(b);

for (const name of ["soci-index-v1.json", "soci-index-v2.json", "converted-manifest.json"]) {
  test(`parseManifest() then encodeManifest() gives back the exact bytes of ${name}`, () => {
    const bytes = fixture(name);
    assert.deepEqual(encodeManifest(parseManifest(bytes, name)), bytes);
  });
}

test("parseIndex() then encodeIndex() gives back the exact bytes of converted-oci-index.json", () => {
  const bytes = fixture("converted-oci-index.json");
  assert.deepEqual(encodeIndex(parseIndex(bytes)), bytes);
});

test("encodeManifest() re-encodes the pretty Docker manifest compactly in Go field order", () => {
  const m = parseManifest(fixture("original-manifest.json"));
  assert.equal(
    text(encodeManifest(m)),
    '{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"sha256:20f2383d726ebb5d60d73772fe9a922c83ba23720dbcad1ae66d648159c0c9d7","size":163},"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":"sha256:f29343ab0df37c8264b2ea88dc6567745efe314bdaf54acfbe2dfd28f25996c4","size":130019}]}',
  );
});

test("goJsonString() escapes like Go: short escapes, \\u00xx controls, <>& and U+2028/2029, lone surrogates as \\ufffd", () => {
  assert.equal(goJsonString('a"b\\c'), '"a\\"b\\\\c"');
  assert.equal(goJsonString("\b\f\n\r\t"), '"\\b\\f\\n\\r\\t"');
  assert.equal(goJsonString("\x00\x1f\x7f"), '"\\u0000\\u001f\x7f"');
  assert.equal(goJsonString("<a href='x'>&</a>"), '"\\u003ca href=\'x\'\\u003e\\u0026\\u003c/a\\u003e"');
  assert.equal(goJsonString("\u2028\u2029"), '"\\u2028\\u2029"');
  assert.equal(goJsonString("é😀"), '"é😀"');
  assert.equal(goJsonString("x\ud800y\udc00"), '"x\\ufffdy\\ufffd"');
});

test("goJsonStringMap() sorts keys by UTF-8 byte order, not UTF-16 order", () => {
  // In UTF-16 code units U+1F600 (0xD83D…) sorts before U+FF61; in UTF-8 bytes (Go) it sorts after.
  assert.equal(goJsonStringMap({ b: "1", a: "2", "\u{1F600}": "3", "\uFF61": "4" }), '{"a":"2","b":"1","\uFF61":"4","\u{1F600}":"3"}');
});

test("encodeDescriptorJson() omits empty optional fields and never writes null", () => {
  const d = { mediaType: "", digest: "sha256:" + "0".repeat(64), size: 0, urls: [], annotations: {}, data: "", artifactType: "" };
  assert.equal(encodeDescriptorJson(d), `{"mediaType":"","digest":"sha256:${"0".repeat(64)}","size":0}`);
  const full = { mediaType: "m", digest: "sha256:" + "1".repeat(64), size: 1, urls: ["u"], annotations: { k: "v" }, data: "e30=", platform: { architecture: "arm64", os: "linux", osVersion: "1", osFeatures: ["f"], variant: "v8" }, artifactType: "t" };
  assert.equal(
    encodeDescriptorJson(full),
    `{"mediaType":"m","digest":"sha256:${"1".repeat(64)}","size":1,"urls":["u"],"annotations":{"k":"v"},"data":"e30=","platform":{"architecture":"arm64","os":"linux","os.version":"1","os.features":["f"],"variant":"v8"},"artifactType":"t"}`,
  );
});

test("encodeManifest() writes an empty layer list as [] rather than null", () => {
  const bytes = new TextEncoder().encode(`{"schemaVersion":2,"config":{"mediaType":"c","digest":"sha256:${"2".repeat(64)}","size":2}}`);
  assert.match(text(encodeManifest(parseManifest(bytes))), /"layers":\[\]/);
});

test("encodeGoJsonValue() keeps insertion order and drops undefined members", () => {
  assert.equal(encodeGoJsonValue({ version: "1.0", prefetch_spans: [{ start_span: 1, end_span: 2 }], priority: undefined }), '{"version":"1.0","prefetch_spans":[{"start_span":1,"end_span":2}]}');
});

const hostile: Array<[string, string, RegExp]> = [
  ["non-JSON", "{not json", /not valid JSON/],
  ["a JSON array", "[]", /not a JSON object/],
  ["a string schemaVersion", '{"schemaVersion":"2","config":{}}', /schemaVersion is "2", not an integer/],
  ["schemaVersion 1", '{"schemaVersion":1,"config":{}}', /schemaVersion is 1, only 2 is supported/],
  ["a missing config", '{"schemaVersion":2,"layers":[]}', /config is missing/],
  ["a layers object", `{"schemaVersion":2,"config":{"digest":"sha256:${"a".repeat(64)}"},"layers":{}}`, /layers is an object, not a list/],
  ["a bad digest", '{"schemaVersion":2,"config":{"digest":"../../etc/passwd"}}', /config\.digest "..\/..\/etc\/passwd" is not a digest/],
  ["a negative size", `{"schemaVersion":2,"config":{"digest":"sha256:${"a".repeat(64)}","size":-1}}`, /config\.size is negative/],
  ["a fractional size", `{"schemaVersion":2,"config":{"digest":"sha256:${"a".repeat(64)}","size":1.5}}`, /config\.size is 1.5, not an integer/],
  ["a numeric annotation", `{"schemaVersion":2,"config":{"digest":"sha256:${"a".repeat(64)}"},"annotations":{"a":1}}`, /annotations\["a"\] is a number, not a string/],
  ["an index media type", '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","config":{}}', /not an image manifest type/],
  ["an index body", '{"schemaVersion":2,"manifests":[]}', /the document is an index/],
];
for (const [what, body, re] of hostile) {
  test(`parseManifest() rejects ${what} with a FormatError naming the document`, () => {
    assert.throws(
      () => parseManifest(new TextEncoder().encode(body), "manifest sha256:x"),
      (e: unknown) => e instanceof FormatError && /^Cannot parse manifest sha256:x: /.test(e.message) && re.test(e.message),
    );
  });
}

test("parseManifest() rejects a document over 4 MiB before parsing it", () => {
  const big = new Uint8Array((4 << 20) + 1).fill(0x20);
  assert.throws(() => parseManifest(big), (e: unknown) => e instanceof FormatError && /more than the limit of 4194304/.test(e.message));
});

test("parseManifest() treats null fields as absent, as Go does", () => {
  const m = parseManifest(new TextEncoder().encode(`{"schemaVersion":2,"mediaType":null,"config":{"digest":"sha256:${"a".repeat(64)}","size":1,"annotations":null},"layers":null,"annotations":null}`));
  assert.deepEqual(m, { schemaVersion: 2, config: { mediaType: "", digest: "sha256:" + "a".repeat(64), size: 1 }, layers: [] });
});

test("sniffManifestKind() tells indexes from manifests without a media type", () => {
  assert.equal(sniffManifestKind(new TextEncoder().encode('{"schemaVersion":2,"manifests":[]}')), "index");
  assert.equal(sniffManifestKind(new TextEncoder().encode('{"schemaVersion":2,"config":{}}')), "manifest");
  assert.throws(() => sniffManifestKind(new TextEncoder().encode('{"schemaVersion":2}')), FormatError);
});
