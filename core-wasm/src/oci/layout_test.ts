import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sha256Digest, utf8 } from "../bytes/mod.ts";
import { FormatError, NotFoundError } from "../errors.ts";
import { writeTar } from "../tar/mod.ts";
import { DockerArchiveSource, OciArchiveWriter, openOciArchive } from "./archive.ts";
import { encodeIndex, encodeManifest } from "./go_json.ts";
import { collectChunks } from "./image_source.ts";
import { LayoutSource, OciLayoutWriter } from "./layout.ts";
import { ANNOTATION_REF_NAME, MEDIA_TYPE_DOCKER_LAYER, MEDIA_TYPE_DOCKER_LAYER_GZIP, MEDIA_TYPE_DOCKER_MANIFEST, MEDIA_TYPE_OCI_INDEX, MEDIA_TYPE_OCI_MANIFEST } from "./media_types.ts";
import type { Descriptor } from "./model.ts";
import { parseImageLocation, parseReference } from "./reference.ts";

function tmp(): string {
  return mkdtempSync(join(tmpdir(), "soci-oci-layout-"));
}

function desc(mediaType: string, bytes: Uint8Array, extra: Partial<Descriptor> = {}): Descriptor {
  return { mediaType, digest: sha256Digest(bytes), size: bytes.length, ...extra };
}

/** A layout dir with the given blobs and index.json entries. */
function layout(dir: string, blobs: Uint8Array[], entries: Descriptor[]): void {
  mkdirSync(join(dir, "blobs/sha256"), { recursive: true });
  for (const b of blobs) writeFileSync(join(dir, "blobs/sha256", sha256Digest(b).slice(7)), b);
  writeFileSync(join(dir, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(join(dir, "index.json"), encodeIndex({ schemaVersion: 2, mediaType: MEDIA_TYPE_OCI_INDEX, manifests: entries }));
}

const config = utf8('{"architecture":"amd64","os":"linux"}');
const layer = utf8("layer bytes");
function manifestBytes(layers: Descriptor[] = [desc(MEDIA_TYPE_DOCKER_LAYER_GZIP, layer)]): Uint8Array {
  return encodeManifest({ schemaVersion: 2, mediaType: MEDIA_TYPE_OCI_MANIFEST, config: desc("application/vnd.oci.image.config.v1+json", config), layers });
}

async function* chunks(...parts: Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const p of parts) yield p;
}

test("OciLayoutWriter.putBlob() refuses data with the wrong digest and leaves no partial blob or temp file", async () => {
  const dir = tmp();
  try {
    const w = await OciLayoutWriter.open(dir);
    const d = desc("x", layer);
    await assert.rejects(w.putBlob(d, chunks(utf8("layer "), utf8("BYTES"))), (e: unknown) => e instanceof FormatError && /has digest sha256:/.test(e.message));
    await assert.rejects(w.putBlob(d, chunks(utf8("layer bytes and more"))), (e: unknown) => e instanceof FormatError && /longer than its size/.test(e.message));
    await assert.rejects(w.putBlob(d, chunks(utf8("layer"))), (e: unknown) => e instanceof FormatError && /is 5 bytes, expected 11/.test(e.message));
    assert.deepEqual(readdirSync(join(dir, "blobs/sha256")), []);
    assert.equal(await w.hasBlob(d.digest), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("OciLayoutWriter leaves index.json unchanged when a conversion aborts, and replaces it only on commit", async () => {
  const dir = tmp();
  try {
    const m = manifestBytes();
    layout(dir, [config, layer, m], [desc(MEDIA_TYPE_OCI_MANIFEST, m, { annotations: { [ANNOTATION_REF_NAME]: "old" } })]);
    const before = readFileSync(join(dir, "index.json"));
    const w = await OciLayoutWriter.open(dir);
    const other = utf8("other");
    await w.putBlob(desc("x", other), other);
    await w.setRoot(desc(MEDIA_TYPE_OCI_MANIFEST, m));
    await w.abort();
    assert.deepEqual(readFileSync(join(dir, "index.json")), before);
    const w2 = await OciLayoutWriter.open(dir);
    await w2.setRoot(desc(MEDIA_TYPE_OCI_INDEX, other), "new");
    await w2.commit();
    const idx = JSON.parse(readFileSync(join(dir, "index.json"), "utf8"));
    assert.deepEqual(idx.manifests.map((x: Descriptor) => x.annotations?.[ANNOTATION_REF_NAME]), ["old", "new"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("OciLayoutWriter.open() removes temp files a killed writer left behind", async () => {
  const dir = tmp();
  try {
    mkdirSync(join(dir, "blobs/sha256"), { recursive: true });
    writeFileSync(join(dir, "blobs/sha256/.tmp-deadbeef"), "partial");
    writeFileSync(join(dir, ".tmp-cafe"), "partial index");
    await OciLayoutWriter.open(dir);
    assert.equal(existsSync(join(dir, "blobs/sha256/.tmp-deadbeef")), false);
    assert.equal(existsSync(join(dir, ".tmp-cafe")), false);
    assert.ok(existsSync(join(dir, "oci-layout")));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("LayoutSource.resolveRoot() picks the entry with the requested tag and names the tags present otherwise", async () => {
  const dir = tmp();
  try {
    const a = manifestBytes();
    const b = manifestBytes([]);
    layout(dir, [config, layer, a, b], [
      desc(MEDIA_TYPE_OCI_MANIFEST, a, { annotations: { [ANNOTATION_REF_NAME]: "a" } }),
      desc(MEDIA_TYPE_OCI_MANIFEST, b, { annotations: { [ANNOTATION_REF_NAME]: "b" } }),
    ]);
    const root = await (await LayoutSource.openDir(dir, "b")).resolveRoot();
    assert.equal(root.descriptor.digest, sha256Digest(b));
    assert.equal(root.kind, "manifest");
    await assert.rejects((await LayoutSource.openDir(dir, "c")).resolveRoot(), (e: unknown) => e instanceof NotFoundError && /Cannot find tag "c"/.test(e.message) && /"a", "b"/.test((e as NotFoundError).hint ?? ""));
    const untagged = await (await LayoutSource.openDir(dir)).resolveRoot();
    assert.equal(untagged.kind, "index");
    assert.equal(untagged.synthesized, true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("LayoutSource.resolveRoot() drops entries whose manifests are missing; one remaining manifest is the image", async () => {
  const dir = tmp();
  try {
    const a = manifestBytes();
    const missing = manifestBytes([]);
    layout(dir, [config, layer, a], [desc(MEDIA_TYPE_OCI_MANIFEST, missing), desc(MEDIA_TYPE_OCI_MANIFEST, a)]);
    const root = await (await LayoutSource.openDir(dir)).resolveRoot();
    assert.equal(root.kind, "manifest");
    assert.equal(root.descriptor.digest, sha256Digest(a));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("LayoutSource reports hostile layouts clearly: no oci-layout, a missing blob, a corrupt blob, a non-JSON manifest", async () => {
  const dir = tmp();
  try {
    mkdirSync(dir, { recursive: true });
    await assert.rejects(LayoutSource.openDir(dir), (e: unknown) => e instanceof NotFoundError && /has no oci-layout file/.test(e.message));
    const m = manifestBytes();
    layout(dir, [config, m], [desc(MEDIA_TYPE_OCI_MANIFEST, m)]);
    const src = await LayoutSource.openDir(dir);
    await assert.rejects(collectChunks(src.openBlob(desc("x", layer))), (e: unknown) => e instanceof NotFoundError && /Cannot read blob sha256:\S+: it is not in oci:/.test(e.message));
    writeFileSync(join(dir, "blobs/sha256", sha256Digest(layer).slice(7)), "LAYER BYTES");
    await assert.rejects(collectChunks(src.openBlob(desc("x", layer))), (e: unknown) => e instanceof FormatError && /its content has digest/.test(e.message));
    await assert.rejects(src.readBlob(desc("x", layer)), (e: unknown) => e instanceof FormatError && /its content has digest/.test(e.message));
    const junk = utf8("{not json");
    layout(dir, [junk], [desc(MEDIA_TYPE_OCI_MANIFEST, junk)]);
    const { parseManifest } = await import("./model.ts");
    const root = await (await LayoutSource.openDir(dir)).resolveRoot();
    assert.throws(() => parseManifest(root.bytes, `manifest ${root.descriptor.digest}`), (e: unknown) => e instanceof FormatError && /not valid JSON/.test(e.message));
    await assert.rejects(src.readBlob(desc("x", layer, { digest: "sha512:" + "a".repeat(128) })), (e: unknown) => e instanceof FormatError && /only sha256/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("an oci-archive written by OciArchiveWriter reads back with the same root and blobs; an aborted one leaves no file", async () => {
  const dir = tmp();
  try {
    const m = manifestBytes();
    const path = join(dir, "out.tar");
    const w = await OciArchiveWriter.create(path);
    for (const b of [config, layer]) await w.putBlob(desc("x", b), chunks(b));
    await w.putBlob(desc(MEDIA_TYPE_OCI_MANIFEST, m), m);
    await w.setRoot(desc(MEDIA_TYPE_OCI_MANIFEST, m), "v1");
    await w.commit();
    const src = await openOciArchive(path, "v1");
    const root = await src.resolveRoot();
    assert.deepEqual(root.bytes, m);
    assert.deepEqual(await collectChunks(src.openBlob(desc("x", layer))), layer);
    const bad = await OciArchiveWriter.create(join(dir, "bad.tar"));
    await assert.rejects(bad.putBlob(desc("x", layer), chunks(utf8("wrong bytes"))), FormatError);
    await bad.abort();
    assert.deepEqual(readdirSync(dir), ["out.tar"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("DockerArchiveSource presents a docker save tarball as one Docker schema-2 image with a deterministic manifest", async () => {
  const dir = tmp();
  try {
    const cfg = utf8('{"architecture":"arm64","os":"linux","variant":"v8"}');
    const plainTar = writeTar([{ name: "hello.txt", type: "file", data: utf8("hi\n") }]);
    const gz = new Uint8Array([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    const archive = writeTar([
      { name: "manifest.json", type: "file", data: utf8(JSON.stringify([{ Config: "abc.json", RepoTags: ["example:latest"], Layers: ["l1/layer.tar", "l2/layer.tar", "l3/layer.tar"] }])) },
      { name: "abc.json", type: "file", data: cfg },
      { name: "l1/layer.tar", type: "file", data: plainTar },
      { name: "l2/layer.tar", type: "file", data: gz },
      { name: "l3/layer.tar", type: "symlink", linkname: "../l1/layer.tar" },
    ]);
    const path = join(dir, "save.tar");
    writeFileSync(path, archive);
    const src = await DockerArchiveSource.open(path);
    const root = await src.resolveRoot();
    assert.equal(root.kind, "manifest");
    const m = JSON.parse(new TextDecoder().decode(root.bytes));
    assert.equal(m.mediaType, MEDIA_TYPE_DOCKER_MANIFEST);
    assert.deepEqual(m.config, { mediaType: "application/vnd.docker.container.image.v1+json", digest: sha256Digest(cfg), size: cfg.length });
    assert.deepEqual(m.layers.map((l: Descriptor) => [l.mediaType, l.digest]), [
      [MEDIA_TYPE_DOCKER_LAYER, sha256Digest(plainTar)],
      [MEDIA_TYPE_DOCKER_LAYER_GZIP, sha256Digest(gz)],
      [MEDIA_TYPE_DOCKER_LAYER, sha256Digest(plainTar)],
    ]);
    assert.deepEqual(await collectChunks(src.openBlob(m.layers[0])), plainTar);
    assert.deepEqual((await (await DockerArchiveSource.open(path)).resolveRoot()).descriptor, root.descriptor);
    await assert.rejects(DockerArchiveSource.open(path, "other:tag"), (e: unknown) => e instanceof NotFoundError && /Cannot find image "other:tag"/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("parseReference() applies Docker Hub defaults and keeps explicit registries, ports, tags and digests", () => {
  const d = "sha256:" + "a".repeat(64);
  assert.deepEqual(parseReference("ubuntu"), { registry: "docker.io", repository: "library/ubuntu" });
  assert.deepEqual(parseReference("user/app:1.0"), { registry: "docker.io", repository: "user/app", tag: "1.0" });
  assert.deepEqual(parseReference("localhost:5000/app:v1@" + d), { registry: "localhost:5000", repository: "app", tag: "v1", digest: d });
  assert.deepEqual(parseReference("public.ecr.aws/a/b/c"), { registry: "public.ecr.aws", repository: "a/b/c" });
  assert.deepEqual(parseReference("index.docker.io/library/x"), { registry: "docker.io", repository: "library/x" });
  assert.throws(() => parseReference("Upper"), /repository component "Upper" is not valid/);
  assert.throws(() => parseReference("app@sha256:abc"), /is not sha256:<64 lowercase hex>/);
});

test("parseImageLocation() reads skopeo transports, bare paths and registry references", () => {
  const kind = (p: string) => (p === "./dir" ? "dir" : p === "./file.tar" ? "file" : null);
  assert.deepEqual(parseImageLocation("oci:/tmp/x:tag", kind), { transport: "oci", path: "/tmp/x", tag: "tag" });
  assert.deepEqual(parseImageLocation("oci-archive:img.tar", kind), { transport: "oci-archive", path: "img.tar" });
  assert.deepEqual(parseImageLocation("docker-archive:save.tar:app:1", kind), { transport: "docker-archive", path: "save.tar", ref: "app:1" });
  assert.deepEqual(parseImageLocation("./dir", kind), { transport: "oci", path: "./dir" });
  assert.deepEqual(parseImageLocation("./file.tar", kind), { transport: "oci-archive", path: "./file.tar" });
  assert.deepEqual(parseImageLocation("reg.io/app:1", kind), { transport: "docker", reference: { registry: "reg.io", repository: "app", tag: "1" } });
  assert.throws(() => parseImageLocation("./missing", kind), /no such file or directory/);
  assert.throws(() => parseImageLocation("oci:", kind), /the path is empty/);
});

test("openBlob() with verify: false skips the digest but still checks the size", async () => {
  const dir = tmp();
  try {
    const m = manifestBytes();
    layout(dir, [config, m], [desc(MEDIA_TYPE_OCI_MANIFEST, m)]);
    const wrong = utf8("other layer bytes");
    writeFileSync(join(dir, "blobs/sha256", sha256Digest(layer).slice(7)), wrong);
    const src = await LayoutSource.openDir(dir);
    assert.deepEqual(await collectChunks(src.openBlob({ ...desc("x", layer), size: wrong.length }, { verify: false })), wrong);
    await assert.rejects(collectChunks(src.openBlob(desc("x", layer), { verify: false })), (e: unknown) => e instanceof FormatError && /is longer than its descriptor size 11/.test(e.message));
    assert.deepEqual(await src.blobLocation(desc("x", layer)), { path: join(dir, "blobs/sha256", sha256Digest(layer).slice(7)), offset: 0, size: wrong.length });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("OciLayoutWriter.putBlobFrom() hard-links a verified file, and hashes one that is not verified", async () => {
  const dir = tmp();
  try {
    const from = join(dir, "src-blob");
    writeFileSync(from, layer);
    const w = await OciLayoutWriter.open(join(dir, "out"));
    const d = desc("x", layer);
    await w.putBlobFrom(d, { path: from, offset: 0, size: layer.length }, { verified: true });
    const target = join(dir, "out", "blobs/sha256", sha256Digest(layer).slice(7));
    assert.deepEqual(new Uint8Array(readFileSync(target)), layer);
    const { statSync } = await import("node:fs");
    assert.equal(statSync(target).ino, statSync(from).ino);
    const bad = join(dir, "bad-blob");
    writeFileSync(bad, utf8("x".repeat(layer.length)));
    const other = utf8("y".repeat(layer.length));
    const d2 = { ...desc("x", other) };
    await assert.rejects(w.putBlobFrom(d2, { path: bad, offset: 0, size: layer.length }), (e: unknown) => e instanceof FormatError && /has digest/.test(e.message));
    assert.equal(existsSync(join(dir, "out", "blobs/sha256", sha256Digest(other).slice(7))), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
