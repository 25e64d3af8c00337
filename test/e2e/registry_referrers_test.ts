// The referrers API path (issue 4: "the referrers API when the registry has
// it, else the sha256-<hex> tag schema"). docker-registry 2.8 has no referrers
// API, so the same real registry is used both ways: directly (no API → the
// fallback tag) and behind test/fakes/referrers_proxy.ts (API present →
// `OCI-Subject` on push, `GET /v2/<name>/referrers/<digest>` for discovery,
// and no fallback tag written).
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { sha256Digest, utf8 } from "../../core-wasm/src/bytes/mod.ts";
import { MEDIA_TYPE_OCI_MANIFEST, MEDIA_TYPE_SOCI_INDEX_V1, type Descriptor } from "../../core-wasm/src/oci/mod.ts";
import { RegistryClient, referrersTag } from "../../core-wasm/src/registry/mod.ts";
import { missingTools, startRegistry, tempDir, type RunningRegistry } from "../fakes/docker_registry.ts";
import { ReferrersProxy } from "../fakes/referrers_proxy.ts";
import { manifestBytes, skopeoCopyAsync, sociAsync, tagStatus } from "./_registry_util.ts";
import { buildCliAndFixtures, IMAGES, ok, sha256 } from "./_soci_cli.ts";

const skip = missingTools(["docker-registry", "skopeo"]);
const EMPTY = utf8("{}");
const emptyDesc: Descriptor = { mediaType: "application/vnd.oci.empty.v1+json", digest: sha256Digest(EMPTY), size: 2 };

describe("referrers: the API when the registry has it, the tag schema when not", { skip: skip ? `skipped: ${skip}` : false, timeout: 600_000 }, () => {
  let reg: RunningRegistry;
  let proxy: ReferrersProxy;
  let dir: string;
  let subject: string;

  before(async () => {
    buildCliAndFixtures(["sample"]);
    dir = tempDir("soci-referrers-");
    reg = await startRegistry();
    proxy = await ReferrersProxy.start(`http://${reg.host}`);
    await skopeoCopyAsync(`oci:${join(IMAGES, "sample")}:latest`, `docker://${reg.host}/app:1`);
    subject = sha256(await manifestBytes(reg.host, "app", "1"));
  });
  after(async () => {
    await proxy?.stop();
    await reg?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** A small artifact manifest referring to `subject`. */
  const artifact = (n: number) =>
    utf8(JSON.stringify({
      schemaVersion: 2, mediaType: MEDIA_TYPE_OCI_MANIFEST, artifactType: `application/x.test.${n}`,
      config: emptyDesc, layers: [], subject: { mediaType: MEDIA_TYPE_OCI_MANIFEST, digest: subject, size: 1 }, annotations: { n: String(n) },
    }));

  test("client: with the API, pushReferrer gets OCI-Subject, writes no fallback tag, and listReferrers asks the API", async () => {
    const client = new RegistryClient({ plainHttpLoopback: true });
    const viaApi = client.repository(`${proxy.host}/app`);
    await viaApi.pushBlob(emptyDesc, EMPTY);
    const bytes = artifact(1);
    const pushed = await viaApi.pushReferrer(bytes, MEDIA_TYPE_OCI_MANIFEST);
    assert.equal(pushed.subjectIndexed, true);
    assert.equal(pushed.fallbackTag, undefined);
    assert.equal(await tagStatus(reg.host, "app", referrersTag(subject)), 404, "no sha256-<hex> tag when the registry indexes the subject");
    const listed = await viaApi.listReferrers(subject, { artifactType: "application/x.test.1" });
    assert.equal(listed.source, "api");
    assert.deepEqual(listed.descriptors.map((d) => [d.digest, d.artifactType, d.annotations?.n]), [[sha256Digest(bytes), "application/x.test.1", "1"]]);
    assert.ok(proxy.log.some((l) => l.startsWith(`GET /v2/app/referrers/${subject}`)));

    // Without the API (the registry itself): the fallback tag is written and read.
    const direct = client.repository(`${reg.host}/app`);
    assert.deepEqual(await direct.listReferrers(subject), { descriptors: [], source: "tag" });
    const bytes2 = artifact(2);
    const pushed2 = await direct.pushReferrer(bytes2, MEDIA_TYPE_OCI_MANIFEST);
    assert.equal(pushed2.subjectIndexed, false);
    assert.equal(pushed2.fallbackTag, referrersTag(subject));
    const viaTag = await direct.listReferrers(subject);
    assert.equal(viaTag.source, "tag");
    assert.deepEqual(viaTag.descriptors.map((d) => d.digest), [sha256Digest(bytes2)]);
  });

  test("CLI v1 flow with the API: create + push writes no fallback tag; index list finds the index through the API", async () => {
    const soci = sociAsync(dir, join(dir, "store"));
    const created = ok(await soci("create", "--min-layer-size", "0", "-q", `${proxy.host}/app:1`)).stdout.trim();
    assert.match(created, /^sha256:[0-9a-f]{64}$/);
    const tagBefore = await tagStatus(reg.host, "app", referrersTag(subject)); // the client test above wrote it directly
    const before = tagBefore === 200 ? await manifestBytes(reg.host, "app", referrersTag(subject)) : undefined;
    const p = ok(await soci("push", `${proxy.host}/app:1`));
    assert.match(p.stdout, new RegExp(`^pushing soci index with digest: ${created}$`, "m"));
    assert.doesNotMatch(p.stdout, /listed under tag/);
    const after = (await tagStatus(reg.host, "app", referrersTag(subject))) === 200 ? await manifestBytes(reg.host, "app", referrersTag(subject)) : undefined;
    assert.deepEqual(after, before, "the fallback index was not touched");
    assert.deepEqual(proxy.referrers.get(`app@${subject}`)?.filter((r) => r.artifactType === MEDIA_TYPE_SOCI_INDEX_V1).map((r) => r.digest), [created]);

    const fresh = sociAsync(dir, join(dir, "fresh"));
    proxy.log.length = 0;
    const rows = JSON.parse(ok(await fresh("--json", "index", "list", "--ref", `${proxy.host}/app:1`)).stdout) as { digest: string; manifestVersion: string; source?: string }[];
    assert.deepEqual(rows.map((r) => [r.digest, r.manifestVersion, r.source]), [[created, "v1", "registry"]]);
    assert.ok(proxy.log.some((l) => l.startsWith(`GET /v2/app/referrers/${subject}`)), proxy.log.join("\n"));
    assert.ok(!proxy.log.some((l) => l.includes(`/manifests/${referrersTag(subject)}`)), "the tag schema was not consulted");

    // The registry itself (no API, and the v1 index not in its fallback tag): not found that way.
    const direct = JSON.parse(ok(await fresh("--json", "index", "list", "--ref", `${reg.host}/app:1`)).stdout) as { digest: string }[];
    assert.ok(!direct.some((r) => r.digest === created));
  });
});
