// The registry client against the real docker-registry 2.8 (real-components §1):
// blobs (monolithic and chunked), manifests and an OCI index with artifactType
// entries round-trip byte for byte; ranges (206, clamped, 416); cross-repo
// mount; the referrers tag-schema fallback; tags and deletion.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sha256Digest, utf8 } from "../../core-wasm/src/bytes/mod.ts";
import { RegistryError } from "../../core-wasm/src/errors.ts";
import { MEDIA_TYPE_DOCKER_MANIFEST, MEDIA_TYPE_DOCKER_MANIFEST_LIST, MEDIA_TYPE_OCI_INDEX, MEDIA_TYPE_OCI_MANIFEST, type Descriptor } from "../../core-wasm/src/oci/mod.ts";
import { isNotFound, manifestReferences, pushOrder, RegistryClient, type Repository } from "../../core-wasm/src/registry/mod.ts";
import { missingTools, startRegistry, type RunningRegistry } from "../fakes/docker_registry.ts";

const rand = (n: number) => new Uint8Array(randomBytes(n));
const skip = missingTools(["docker-registry"]);
const EMPTY = utf8("{}");
const EMPTY_DESC: Descriptor = { mediaType: "application/vnd.oci.empty.v1+json", digest: sha256Digest(EMPTY), size: 2 };

function blob(bytes: Uint8Array, mediaType = "application/octet-stream"): { desc: Descriptor; bytes: Uint8Array } {
  return { desc: { mediaType, digest: sha256Digest(bytes), size: bytes.length }, bytes };
}

function manifestBytes(config: Descriptor, layers: Descriptor[], extra: Record<string, unknown> = {}): Uint8Array {
  return utf8(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE_OCI_MANIFEST, ...extra, config, layers }));
}

async function collect(it: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of it) parts.push(c);
  return new Uint8Array(Buffer.concat(parts));
}

describe("registry client against docker-registry 2.8", { skip: skip ? `skipped: ${skip}` : false }, () => {
  let reg: RunningRegistry;
  let client: RegistryClient;
  let repo: Repository;

  before(async () => {
    reg = await startRegistry();
    client = new RegistryClient({ plainHttpLoopback: true, chunkSize: 64 * 1024, monolithicMaxSize: 32 * 1024, retry: { maxRetries: 2 } });
    repo = client.repository(`${reg.host}/app`);
  });
  after(async () => {
    await reg?.stop();
  });

  test("pushBlob() uploads monolithic and chunked blobs, skips existing ones, and they read back identical", async () => {
    const small = blob(rand(1000));
    const big = blob(rand(300 * 1024 + 17)); // 5 PATCH chunks, the last one short
    assert.equal(await repo.pushBlob(small.desc, small.bytes), "uploaded");
    assert.equal(await repo.pushBlob(big.desc, () => (async function* () {
      for (let o = 0; o < big.bytes.length; o += 10_000) yield big.bytes.subarray(o, o + 10_000); // odd-sized source chunks
    })()), "uploaded");
    assert.equal(await repo.pushBlob(big.desc, big.bytes), "exists");
    assert.deepEqual(await repo.readBlob(small.desc), small.bytes);
    assert.deepEqual(await collect(repo.fetchBlob(big.desc)), big.bytes);
    assert.equal((await repo.statBlob(big.desc.digest))?.size, big.bytes.length);
    assert.equal(await repo.statBlob(sha256Digest(utf8("absent"))), undefined);
  });

  test("pushBlob() reports the registry's DIGEST_INVALID when the bytes do not match", async () => {
    const b = blob(rand(100));
    const wrong = { ...b.desc, digest: sha256Digest(utf8("something else")) };
    await assert.rejects(repo.pushBlob(wrong, b.bytes), (e: unknown) => {
      assert.ok(e instanceof RegistryError);
      assert.equal(e.details.status, 400);
      assert.ok(e.details.diagnostics?.some((d) => d.startsWith("DIGEST_INVALID")), String(e.details.diagnostics));
      return true;
    });
  });

  test("manifests and an OCI index with artifactType entries push in order and fetch back byte-identical", async () => {
    const layer = blob(rand(5000), "application/vnd.oci.image.layer.v1.tar+gzip");
    const config = blob(utf8('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'), "application/vnd.oci.image.config.v1+json");
    const mBytes = manifestBytes(config.desc, [layer.desc]);
    const artifact = manifestBytes(EMPTY_DESC, [layer.desc], { artifactType: "application/vnd.amazon.soci.index.v2+json" });
    const mDesc: Descriptor = { mediaType: MEDIA_TYPE_OCI_MANIFEST, digest: sha256Digest(mBytes), size: mBytes.length, platform: { architecture: "amd64", os: "linux" } };
    const aDesc: Descriptor = {
      mediaType: MEDIA_TYPE_OCI_MANIFEST, digest: sha256Digest(artifact), size: artifact.length,
      annotations: { "com.amazon.soci.image-manifest-digest": mDesc.digest }, artifactType: "application/vnd.amazon.soci.index.v2+json",
    };
    const index = utf8(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE_OCI_INDEX, manifests: [mDesc, aDesc] }));
    const items = [
      { descriptor: { mediaType: MEDIA_TYPE_OCI_INDEX, digest: sha256Digest(index), size: index.length }, bytes: index, references: manifestReferences(index) },
      { descriptor: aDesc, bytes: artifact, references: manifestReferences(artifact) },
      { descriptor: mDesc, bytes: mBytes, references: manifestReferences(mBytes) },
      { descriptor: layer.desc, bytes: layer.bytes },
      { descriptor: config.desc, bytes: config.bytes },
      { descriptor: EMPTY_DESC, bytes: EMPTY },
    ];
    const ordered = pushOrder(items);
    assert.deepEqual(ordered.map((i) => i.descriptor.mediaType).slice(-3), [MEDIA_TYPE_OCI_MANIFEST, MEDIA_TYPE_OCI_MANIFEST, MEDIA_TYPE_OCI_INDEX]);
    for (const it of ordered) {
      if (it.descriptor.mediaType === MEDIA_TYPE_OCI_MANIFEST || it.descriptor.mediaType === MEDIA_TYPE_OCI_INDEX) {
        const ref = it.bytes === index ? "1" : undefined;
        await repo.putManifest(it.bytes, it.descriptor.mediaType, ref);
      } else {
        await repo.pushBlob(it.descriptor, it.bytes);
      }
    }
    const got = await repo.getManifest("1");
    assert.deepEqual(got.bytes, index);
    assert.equal(got.descriptor.mediaType, MEDIA_TYPE_OCI_INDEX);
    assert.deepEqual(await repo.resolve("1"), { mediaType: MEDIA_TYPE_OCI_INDEX, digest: sha256Digest(index), size: index.length });
    assert.deepEqual((await repo.getManifest(aDesc.digest)).bytes, artifact);
    assert.deepEqual((await repo.resolve(mDesc.digest)).digest, mDesc.digest);
  });

  test("putManifest() of a manifest whose blobs are missing fails with MANIFEST_BLOB_UNKNOWN", async () => {
    const layer = blob(rand(64));
    const m = manifestBytes(EMPTY_DESC, [layer.desc]);
    await assert.rejects(repo.putManifest(m, MEDIA_TYPE_OCI_MANIFEST, "broken"), (e: unknown) => {
      assert.ok(e instanceof RegistryError && e.details.status === 400);
      assert.ok(e.details.diagnostics?.some((d) => d.startsWith("MANIFEST_BLOB_UNKNOWN")), String(e.details.diagnostics));
      assert.match(e.message, /^Cannot push manifest "sha256:[0-9a-f]{64}" to .*app:broken": registry answered 400/);
      return true;
    });
  });

  test("Docker schema 2 manifests round-trip with their media type", async () => {
    const config = blob(utf8('{"os":"linux"}'), "application/vnd.docker.container.image.v1+json");
    await repo.pushBlob(config.desc, config.bytes);
    const m = utf8(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE_DOCKER_MANIFEST, config: config.desc, layers: [] }));
    await repo.putManifest(m, MEDIA_TYPE_DOCKER_MANIFEST, "docker");
    const got = await repo.getManifest("docker");
    assert.deepEqual(got.bytes, m);
    assert.equal(got.descriptor.mediaType, MEDIA_TYPE_DOCKER_MANIFEST);
  });

  test("a Docker manifest list round-trips with its media type; manifests over the size cap are refused", async () => {
    const config = blob(utf8('{"os":"linux","architecture":"arm64"}'), "application/vnd.docker.container.image.v1+json");
    await repo.pushBlob(config.desc, config.bytes);
    const m = utf8(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE_DOCKER_MANIFEST, config: config.desc, layers: [] }));
    const put = await repo.putManifest(m, MEDIA_TYPE_DOCKER_MANIFEST);
    const list = utf8(JSON.stringify({
      schemaVersion: 2, mediaType: MEDIA_TYPE_DOCKER_MANIFEST_LIST,
      manifests: [{ ...put.descriptor, platform: { architecture: "arm64", os: "linux" } }],
    }));
    await repo.putManifest(list, MEDIA_TYPE_DOCKER_MANIFEST_LIST, "dockerlist");
    const resolved = await repo.resolve("dockerlist");
    assert.equal(resolved.mediaType, MEDIA_TYPE_DOCKER_MANIFEST_LIST);
    assert.equal(resolved.digest, sha256Digest(list));
    const got = await repo.getManifest("dockerlist");
    assert.deepEqual(got.bytes, list);
    assert.equal(got.descriptor.mediaType, MEDIA_TYPE_DOCKER_MANIFEST_LIST);

    const small = new RegistryClient({ plainHttpLoopback: true, maxManifestSize: 100 }).repository(`${reg.host}/app`);
    await assert.rejects(small.getManifest("dockerlist"), (e: unknown) => {
      assert.ok(e instanceof RegistryError, String(e));
      assert.match(e.message, /larger than 100 bytes/);
      assert.equal(e.retryable, false);
      return true;
    });
  });

  test("fetchBlobRange() answers 206 ranges, clamps at the end and reports ranges past the end", async () => {
    const b = blob(rand(10_000));
    await repo.pushBlob(b.desc, b.bytes);
    assert.deepEqual(await repo.fetchBlobRange(b.desc, 1234, 100), b.bytes.subarray(1234, 1334));
    assert.deepEqual(await repo.fetchBlobRange(b.desc, 0, 10_000), b.bytes);
    assert.deepEqual(await repo.fetchBlobRange(b.desc, 9990, 100), b.bytes.subarray(9990));
    await assert.rejects(repo.fetchBlobRange(b.desc, 10_000, 1), (e: unknown) => e instanceof RegistryError && e.details.status === 416);
    // A descriptor that claims more than the registry holds: the registry's own 416 (bogus Content-Length) is handled.
    await assert.rejects(repo.fetchBlobRange({ ...b.desc, size: 20_000 }, 15_000, 10), (e: unknown) => {
      assert.ok(e instanceof RegistryError && e.details.status === 416);
      assert.match(e.message, /has only 10000 bytes/);
      return true;
    });
  });

  test("a blob is mounted across repositories (201), and an unknown one is not (202)", async () => {
    const b = blob(rand(4096));
    await repo.pushBlob(b.desc, b.bytes);
    const other = client.repository(`${reg.host}/other/app`);
    assert.equal(await other.pushBlob(b.desc, b.bytes, { mountFrom: ["app"] }), "mounted");
    assert.deepEqual(await other.readBlob(b.desc), b.bytes);
    const third = client.repository(`${reg.host}/third`);
    assert.equal(await third.mountBlob(sha256Digest(utf8("never pushed")), "app"), false);
    const c = blob(rand(100));
    assert.equal(await third.pushBlob(c.desc, c.bytes, { mountFrom: ["app"] }), "uploaded"); // 202 → upload in that session
  });

  test("referrers fall back to the sha256-<hex> tag schema and round-trip", async () => {
    const r = client.repository(`${reg.host}/refs`);
    await r.pushBlob(EMPTY_DESC, EMPTY);
    const subject = manifestBytes(EMPTY_DESC, []);
    const subjectDesc = (await r.putManifest(subject, MEDIA_TYPE_OCI_MANIFEST, "v1")).descriptor;
    assert.deepEqual(await r.listReferrers(subjectDesc.digest), { descriptors: [], source: "tag" });

    const v2 = "application/vnd.amazon.soci.index.v2+json";
    const ref1 = manifestBytes(EMPTY_DESC, [], { artifactType: v2, subject: subjectDesc, annotations: { "org.example": "one" } });
    const ref2 = manifestBytes({ ...EMPTY_DESC, mediaType: "application/vnd.amazon.soci.index.v1+json" }, [], { subject: subjectDesc });
    const p1 = await r.pushReferrer(ref1, MEDIA_TYPE_OCI_MANIFEST);
    assert.equal(p1.fallbackTag, subjectDesc.digest.replace(":", "-"));
    await r.pushReferrer(ref2, MEDIA_TYPE_OCI_MANIFEST);
    await r.pushReferrer(ref1, MEDIA_TYPE_OCI_MANIFEST); // again: not listed twice

    const all = await r.listReferrers(subjectDesc.digest);
    assert.equal(all.source, "tag");
    assert.deepEqual(all.descriptors, [
      { mediaType: MEDIA_TYPE_OCI_MANIFEST, digest: sha256Digest(ref1), size: ref1.length, annotations: { "org.example": "one" }, artifactType: v2 },
      { mediaType: MEDIA_TYPE_OCI_MANIFEST, digest: sha256Digest(ref2), size: ref2.length, artifactType: "application/vnd.amazon.soci.index.v1+json" },
    ]);
    const v1Only = await r.listReferrers(subjectDesc.digest, { artifactType: "application/vnd.amazon.soci.index.v1+json" });
    assert.deepEqual(v1Only.descriptors.map((d) => d.digest), [sha256Digest(ref2)]);
    assert.ok((await r.listTags()).includes(p1.fallbackTag!));
    const idx = await r.getManifest(p1.fallbackTag!);
    assert.equal(idx.descriptor.mediaType, MEDIA_TYPE_OCI_INDEX);
  });

  test("listTags() sorts, deleteManifest() removes the tags, and a deleted manifest is not found", async () => {
    const r = client.repository(`${reg.host}/tags`);
    await r.pushBlob(EMPTY_DESC, EMPTY);
    const m = manifestBytes(EMPTY_DESC, []);
    for (const t of ["zeta", "alpha", "1.0", "Beta"]) await r.putManifest(m, MEDIA_TYPE_OCI_MANIFEST, t);
    assert.deepEqual(await r.listTags(), ["1.0", "Beta", "alpha", "zeta"]);
    await r.deleteManifest(sha256Digest(m));
    await assert.rejects(r.getManifest(sha256Digest(m)), (e: unknown) => {
      assert.ok(isNotFound(e));
      assert.equal((e as RegistryError).hint, "Check the repository name and the tag or digest");
      return true;
    });
    await assert.rejects(r.resolve("alpha"), isNotFound);
  });

  test("hosts.toml mirrors are tried first and fall back to the server; pushes go to push-capable hosts only", async () => {
    const mirror = await startRegistry();
    const dir = mkdtempSync(join(tmpdir(), "soci-hostsdir-"));
    try {
      mkdirSync(join(dir, reg.host));
      writeFileSync(join(dir, reg.host, "hosts.toml"),
        `server = "http://${reg.host}"\n[host."http://${mirror.host}"]\n  capabilities = ["pull", "resolve"]\n`);
      const viaHosts = new RegistryClient({ hostsDir: dir, retry: { maxRetries: 0 } }).repository(`${reg.host}/mirrored`);
      const b = blob(rand(777));
      assert.equal(await viaHosts.pushBlob(b.desc, b.bytes), "uploaded"); // HEAD + upload on the server, not the mirror
      assert.equal(await new RegistryClient({ plainHttpLoopback: true }).repository(`${mirror.host}/mirrored`).statBlob(b.desc.digest), undefined);
      assert.deepEqual(await viaHosts.readBlob(b.desc), b.bytes); // mirror 404 → server
      // Content only the mirror has is served by the mirror (asked with ?ns=<registry>).
      const m = blob(rand(99));
      await new RegistryClient({ plainHttpLoopback: true }).repository(`${mirror.host}/mirrored`).pushBlob(m.desc, m.bytes);
      assert.deepEqual(await viaHosts.readBlob(m.desc), m.bytes);
    } finally {
      await mirror.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a plain-HTTP registry reached over https gives the --plain-http hint", async () => {
    const https = new RegistryClient({ retry: { maxRetries: 0 } }).repository(`${reg.host}/app`);
    await assert.rejects(https.resolve("1"), (e: unknown) => {
      assert.ok(e instanceof RegistryError);
      assert.equal(e.hint, "Use --plain-http for a plain HTTP registry");
      return true;
    });
  });
});
