// Hostile inputs through the built CLI (`node dist/soci.mjs convert`): layer
// blobs that are corrupt, truncated or do not match their descriptor, a
// missing blob, an unknown layer media type, a non-JSON manifest, a garbage
// index.json, tar layers with `../` names and with absurd sizes. Each gives
// exit 1 with one `soci: …` line naming the image and the layer (and the offset
// where there is one), or — for content the skip policy covers — a visible skip
// line; and nothing half-written: no output path (or an existing layout left
// unchanged), no temp files, the store's files and `index list` unchanged.
import assert from "node:assert/strict";
import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { blobFile, buildCliAndFixtures, checkLayout, gzip, noise, ok, snapshot, sociIn, tarOf, tempDir, tempNames, writeLayout, type Ran } from "./_soci_cli.ts";

let dir = "";
let store = "";
let soci: (...args: string[]) => Ran;
let good: Uint8Array;
let storeBefore: string[] = [];
let listBefore = "";

const text = (s: string) => new TextEncoder().encode(s);

before(() => {
  buildCliAndFixtures([]);
  dir = tempDir("soci-convert-hostile-");
  store = join(dir, "store");
  soci = sociIn(dir, store);
  // 300 kB of noise: gzip stores it, so a flipped byte inside is only caught by the digest.
  good = gzip(tarOf([{ name: "etc/hello.txt", data: text("hello\n".repeat(1000)) }, { name: "data/noise.bin", data: noise(300_000) }]));
  // A store with one conversion recorded: later failures must leave it as it is.
  writeLayout(join(dir, "good"), [good]);
  ok(soci("convert", "--min-layer-size", "0", "--format", "oci-dir", "good", "good-out"));
  storeBefore = snapshot(store);
  listBefore = ok(soci("index", "list", "-q")).stdout;
  assert.notEqual(listBefore, "");
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Nothing written anywhere: no output, no temp files in the work dir, the store byte-identical, the same index list. */
function assertNothingWritten(out: string, what: string): void {
  assert.ok(!existsSync(join(dir, out)), `${what}: ${out} must not exist`);
  assert.deepEqual(tempNames(dir), [], `${what}: no temp files left`);
  assert.deepEqual(snapshot(store), storeBefore, `${what}: the store is unchanged`);
  assert.equal(ok(soci("index", "list", "-q")).stdout, listBefore, `${what}: index list unchanged`);
}

/**
 * Converts `name` to both formats (the archive with --force, so the layer is read by the zTOC builder
 * even when the store holds a zTOC for its digest); each must fail with exit 1 and a message matching every pattern.
 */
function assertFails(name: string, patterns: RegExp[]): void {
  for (const format of ["oci-dir", "oci-archive"]) {
    const out = `${name}-${format}`;
    const r = soci("convert", "--min-layer-size", "0", ...(format === "oci-archive" ? ["--force"] : []), "--format", format, name, out);
    assert.equal(r.code, 1, `${name} ${format}: exit 1\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, /^soci: Cannot /, `${name}: one soci: line`);
    assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack");
    for (const p of patterns) assert.match(r.stderr.split("\n")[0], p, `${name} ${format}`);
    // An image that cannot be read is not "skipped": no per-layer skip line pretends otherwise.
    assert.doesNotMatch(r.stdout, /ztoc skipped/, `${name}: an unreadable blob is an error, not a skip`);
    assertNothingWritten(out, `${name} ${format}`);
  }
}

const imageNamed = (name: string) => new RegExp(`(oci:${dir}/${name}\\b|Cannot convert ${name}:)`);

test("a layer blob with one flipped byte: exit 1 naming the image and the layer digest, nothing written", () => {
  const l = writeLayout(join(dir, "corrupt"), [good]);
  const p = blobFile(join(dir, "corrupt"), l.layers[0].digest);
  const b = readFileSync(p);
  b[b.length >> 1] ^= 0xff;
  writeFileSync(p, b);
  assertFails("corrupt", [imageNamed("corrupt"), new RegExp(`blob ${l.layers[0].digest}: its content has digest sha256:`)]);
});

test("a truncated layer blob: exit 1 with both sizes", () => {
  const l = writeLayout(join(dir, "truncated"), [good]);
  writeFileSync(blobFile(join(dir, "truncated"), l.layers[0].digest), good.subarray(0, good.length >> 1));
  assertFails("truncated", [imageNamed("truncated"), new RegExp(`blob ${l.layers[0].digest}: it is ${good.length >> 1} bytes, its descriptor says ${good.length}`)]);
});

test("a layer whose descriptor size or digest does not match the blob: exit 1", () => {
  writeLayout(join(dir, "badsize"), [good], { edit: (m) => void (m.layers[0].size += 10) });
  assertFails("badsize", [imageNamed("badsize"), new RegExp(`blob ${"sha256:" + "[0-9a-f]{64}"}: it is ${good.length} bytes, its descriptor says ${good.length + 10}`)]);
  const fake = "sha256:" + "ab".repeat(32);
  writeLayout(join(dir, "baddigest"), [good], { edit: (m) => void (m.layers[0].digest = fake) });
  writeFileSync(blobFile(join(dir, "baddigest"), fake), good); // a file under the claimed name, with other content
  assertFails("baddigest", [imageNamed("baddigest"), new RegExp(`blob ${fake}: its content has digest sha256:`)]);
});

test("a manifest naming a layer blob that is not there: exit 1", () => {
  const l = writeLayout(join(dir, "missing"), [good]);
  rmSync(blobFile(join(dir, "missing"), l.layers[0].digest));
  assertFails("missing", [imageNamed("missing"), new RegExp(`blob ${l.layers[0].digest}: it is not in`)]);
});

test("an unknown layer media type: exit 1 naming the layer and its media type", () => {
  const l = writeLayout(join(dir, "unknownmt"), [good], { mediaTypes: ["application/vnd.example.weird"] });
  assertFails("unknownmt", [imageNamed("unknownmt"), new RegExp(`layer ${l.layers[0].digest}: media type "application/vnd\\.example\\.weird" is not a layer mediaType`)]);
});

test("a manifest that is not JSON: exit 1 naming the manifest", () => {
  const l = writeLayout(join(dir, "nonjson"), [good], { manifestBytes: text("this is not json {") });
  assertFails("nonjson", [imageNamed("nonjson"), new RegExp(`manifest ${l.manifest}: not valid JSON`)]);
});

test("a garbage index.json: exit 1 naming it, and no control characters reach the terminal", () => {
  writeLayout(join(dir, "garbageindex"), [good], { indexBytes: new Uint8Array([0, 0xff, 0x1b, 0x5b, 0x32, 0x4a, 0x67, 0x61, 0x72, 0x62]) });
  assertFails("garbageindex", [new RegExp(`index\\.json of ${dir}/garbageindex: not valid JSON`)]);
  const r = soci("convert", "garbageindex", "x");
  assert.doesNotMatch(r.stderr, /[\u0000-\u0008\u000b-\u001f\u007f]/, "escape sequences from the input are printed escaped");
  assert.match(r.stderr, /\\u001b\[2J/);
});

test("failing into an existing layout leaves it byte-identical", () => {
  cpSync(join(dir, "good-out"), join(dir, "existing"), { recursive: true });
  const was = snapshot(join(dir, "existing"));
  const l = writeLayout(join(dir, "corrupt2"), [gzip(tarOf([{ name: "x.bin", data: noise(200_000, 7) }]))]);
  const p = blobFile(join(dir, "corrupt2"), l.layers[0].digest);
  const b = readFileSync(p);
  b[b.length >> 1] ^= 1;
  writeFileSync(p, b);
  const r = soci("convert", "--min-layer-size", "0", "--format", "oci-dir", "corrupt2", "oci:existing:other");
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`^soci: Cannot read blob ${l.layers[0].digest}`));
  assert.deepEqual(snapshot(join(dir, "existing")), was, "no new blobs, index.json unchanged");
  assert.deepEqual(tempNames(dir), []);
  assert.deepEqual(snapshot(store), storeBefore);
});

test("a tar layer with an absurd size field: the layer is skipped visibly (reason and offset), the others indexed, the image valid", () => {
  const huge = new Uint8Array(12);
  huge.set([0x80, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]); // base-256: 2^63-ish
  const bad = gzip(tarOf([{ name: "huge.bin", data: text("y".repeat(100)), sizeField: huge }]));
  const octal = gzip(tarOf([{ name: "big.bin", data: text("z".repeat(100)), sizeField: text("77777777777\0") }]));
  const l = writeLayout(join(dir, "absurd"), [good, bad, octal]);
  for (const format of ["oci-dir", "oci-archive"]) {
    const out = `absurd-${format}`;
    const r = ok(soci("convert", "--min-layer-size", "0", "--format", format, "absurd", out));
    assert.match(r.stdout, new RegExp(`^layer ${l.layers[0].digest} -> ztoc sha256:`, "m"));
    assert.match(r.stdout, new RegExp(`^ztoc skipped - layer ${l.layers[1].digest} \\(application/vnd\\.oci\\.image\\.layer\\.v1\\.tar\\+gzip\\) could not be indexed: .*size field is beyond 2\\^53.*at uncompressed offset 0\\)$`, "m"));
    assert.match(r.stdout, new RegExp(`^ztoc skipped - layer ${l.layers[2].digest} \\(.*\\) could not be indexed: .*unexpected end of archive.*at uncompressed offset \\d+\\)$`, "m"));
    assert.equal(r.stderr.includes("soci: warning"), false, "one layer was indexed: no notice");
    ok(soci("verify", out));
  }
  checkLayout(join(dir, "absurd-oci-dir"));
  assert.deepEqual(tempNames(dir), []);
  storeBefore = snapshot(store);
  listBefore = ok(soci("index", "list", "-q")).stdout;
});

test("a tar layer with ../ names is indexed as raw names (nothing is extracted): get-file reads it by that name, no file appears outside", () => {
  const evil = gzip(tarOf([{ name: "../../escape/evil.txt", data: text("pwned\n") }, { name: "./ok.txt", data: text("fine\n") }]));
  const l = writeLayout(join(dir, "dotdot"), [evil]);
  const j = JSON.parse(ok(soci("--json", "convert", "--min-layer-size", "0", "--format", "oci-dir", "dotdot", "dotdot-out")).stdout);
  const layer = j.platforms[0].layers[0];
  assert.equal(layer.digest, l.layers[0].digest);
  assert.equal(layer.status, "built");
  const info = JSON.parse(ok(soci("ztoc", "info", layer.ztoc)).stdout);
  assert.deepEqual(info.files.map((f: { filename: string }) => f.filename), ["../../escape/evil.txt", "./ok.txt"]);
  assert.equal(ok(soci("ztoc", "get-file", layer.ztoc, "../../escape/evil.txt")).stdout, "pwned\n\n");
  ok(soci("ztoc", "get-file", layer.ztoc, "../../escape/evil.txt", "-o", "evil-copy"));
  assert.equal(readFileSync(join(dir, "evil-copy"), "utf8"), "pwned\n");
  assert.ok(!existsSync(join(dir, "..", "..", "escape")) && !existsSync(join(dir, "..", "escape")), "no path outside the work dir");
  ok(soci("verify", "dotdot-out"));
});
