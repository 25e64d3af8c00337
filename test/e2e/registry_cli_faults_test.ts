// The issue-4 fault list through the CLI (`soci copy`, `soci push`, `soci
// convert`) against the real docker-registry behind test/fakes/fault_proxy.ts:
// 429 with Retry-After, cleanly truncated bodies, slow responses and stalled
// bodies beyond `--registry-timeout`, 500s during a v1 push. Each is retried
// or reported clearly (status or timeout, method, URL, hint), and nothing is
// left tagged in the destination when the command fails. (Drops mid-blob,
// wrong bytes and persistent 500s through `convert`: registry_convert_test.ts.)
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { referrersTag } from "../../core-wasm/src/registry/mod.ts";
import { missingTools, startRegistry, tempDir, type RunningRegistry } from "../fakes/docker_registry.ts";
import { FaultProxy } from "../fakes/fault_proxy.ts";
import { manifestBytes, skopeoCopyAsync, sociAsync, tagStatus } from "./_registry_util.ts";
import { buildCliAndFixtures, checkLayout, fixtureFacts, IMAGES, ok, sha256 } from "./_soci_cli.ts";

const skip = missingTools(["docker-registry", "skopeo"]);

describe("CLI under injected registry faults", { skip: skip ? `skipped: ${skip}` : false, timeout: 600_000 }, () => {
  let reg: RunningRegistry;
  let proxy: FaultProxy;
  /** A second proxy to the same registry: another registry name, so blobs are copied, not mounted. */
  let dest: FaultProxy;
  let dir: string;
  let soci: ReturnType<typeof sociAsync>;
  let srcDigest: string;
  const layer = () => fixtureFacts("sample").manifests[0].layers.find((l) => l.size > 1_000_000)!.digest;

  before(async () => {
    buildCliAndFixtures(["sample", "multiarch"]);
    reg = await startRegistry();
    proxy = await FaultProxy.start(`http://${reg.host}`);
    dest = await FaultProxy.start(`http://${reg.host}`);
    dir = tempDir("soci-clifault-");
    soci = sociAsync(dir, join(dir, "store"));
    await skopeoCopyAsync(`oci:${join(IMAGES, "sample")}:latest`, `docker://${reg.host}/src:1`);
    srcDigest = sha256(await manifestBytes(reg.host, "src", "1"));
  });
  after(async () => {
    await proxy?.stop();
    await dest?.stop();
    await reg?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("copy: 429 with Retry-After on a blob and on the tag PUT is waited out; every digest is kept", async () => {
    proxy.reset();
    dest.reset();
    proxy.inject({ method: "GET", path: `/blobs/${layer()}`, fault: { kind: "status", status: 429, retryAfter: "1" } });
    dest.inject({ method: "PUT", path: "/v2/c429/manifests/1", fault: { kind: "status", status: 429, retryAfter: "1" } });
    const t0 = Date.now();
    const r = ok(await soci("copy", "-q", `${proxy.host}/src:1`, `${dest.host}/c429:1`));
    const took = Date.now() - t0;
    assert.equal(r.stdout.trim(), srcDigest);
    assert.equal(sha256(await manifestBytes(reg.host, "c429", "1")), srcDigest);
    assert.equal([...proxy.log, ...dest.log].filter((e) => e.fault === "status").length, 2, "both 429s fired");
    const tagPuts = dest.log.filter((e) => e.method === "PUT" && e.path.endsWith("/manifests/1"));
    assert.deepEqual(tagPuts.map((e) => e.status), [429, 201]);
    assert.ok(took >= 1000, `Retry-After was honoured (${took} ms)`);
  });

  test("copy registry → layout: a cleanly truncated body is resumed with Range; the layout is byte-identical", async () => {
    proxy.reset();
    proxy.inject({ method: "GET", path: `/blobs/${layer()}`, fault: { kind: "truncate", bytes: 700_000 } });
    const out = join(dir, "truncated");
    ok(await soci("copy", `${proxy.host}/src:1`, out));
    const gets = proxy.log.filter((e) => e.method === "GET" && e.path.includes(`/blobs/${layer()}`));
    assert.deepEqual(gets.map((g) => g.range), [undefined, "bytes=700000-"]);
    for (const d of checkLayout(out)) assert.ok(d.length > 0);
  });

  test("slow answers beyond --registry-timeout are retried; a body stalled past it resumes with Range", async () => {
    proxy.reset();
    proxy.inject({ method: "GET", path: "/manifests/1", fault: { kind: "delay", ms: 2500 } });
    proxy.inject({ method: "GET", path: `/blobs/${layer()}`, fault: { kind: "stall", afterBytes: 500_000, ms: 2500 } });
    ok(await soci("--registry-timeout", "1", "copy", `${proxy.host}/src:1`, `${dest.host}/slow:1`));
    assert.equal(sha256(await manifestBytes(reg.host, "slow", "1")), srcDigest);
    const gets = proxy.log.filter((e) => e.method === "GET" && e.path.includes(`/blobs/${layer()}`));
    assert.ok(gets.some((g) => g.range !== undefined && /^bytes=\d+-$/.test(g.range)), JSON.stringify(gets));
  });

  test("a registry that stays slower than --registry-timeout is reported with the timeout and the flag; nothing is tagged", async () => {
    proxy.reset();
    dest.reset();
    proxy.inject({ method: "GET", path: `/blobs/${layer()}`, fault: { kind: "delay", ms: 4000 }, times: 1000 });
    const r = await soci("--registry-timeout", "1", "copy", `${proxy.host}/src:1`, `${dest.host}/never:1`);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^soci: .*fetch blob "${layer()}" from ".*/src": no answer within 1000 ms \\(GET http://127\\.0\\.0\\.1:\\d+/v2/src/blobs/${layer()}\\)`, "m"));
    assert.match(r.stderr, /^hint: .*--registry-timeout/m);
    // 9 = the first attempt and 8 retries. Under heavy load the upload was once seen to restart
    // (a destination-side failure while its body waited on the source), reading the source once
    // more: bounded, never the 9 × 9 of nested retries.
    const delays = proxy.log.filter((e) => e.fault === "delay").length;
    assert.ok(delays >= 9 && delays <= 18, `${delays} attempts:\n${r.stderr}\n${JSON.stringify(proxy.log)}\n${JSON.stringify(dest.log)}`);
    assert.equal(await tagStatus(reg.host, "never", "1"), 404);
  });

  test("--max-concurrent-downloads bounds the blob downloads in flight", async () => {
    await skopeoCopyAsync(`oci:${join(IMAGES, "multiarch")}:latest`, `docker://${reg.host}/multi:1`);
    const peak = async (n: string) => {
      proxy.reset();
      // Every blob answer is held back a little so that downloads overlap when they may.
      proxy.inject({ method: "GET", path: "/blobs/sha256:", fault: { kind: "delay", ms: 300 }, times: 1000 });
      ok(await soci("--max-concurrent-downloads", n, "--max-concurrent-uploads", n, "copy", `${proxy.host}/multi:1`, join(dir, `multi-${n}`)));
      return proxy.peakInFlight;
    };
    assert.equal(await peak("1"), 1);
    const three = await peak("3");
    assert.ok(three > 1 && three <= 3, `peak ${three} with 3`);
  });

  test("--registry-timeout must be a positive number of seconds", async () => {
    const r = await soci("--registry-timeout", "0", "copy", `${proxy.host}/src:1`, `${proxy.host}/x:1`);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--registry-timeout "0": expected an integer ≥ 1/);
  });

  test("v1 push: 500s on an upload and on the index PUT are retried; a persistent 500 fails before the fallback tag is written", async () => {
    ok(await soci("create", "--min-layer-size", "0", "-q", `${proxy.host}/src:1`));
    proxy.reset();
    proxy.inject({ method: "PUT", path: "/v2/src/blobs/uploads/", fault: { kind: "status", status: 500 }, times: 1000 });
    const failed = await soci("push", `${proxy.host}/src:1`);
    assert.equal(failed.code, 1, failed.stderr);
    assert.match(failed.stderr, /^soci: .*registry answered 500 UNKNOWN: injected 500 \(PUT http:\/\/127\.0\.0\.1:\d+\/v2\/src\/blobs\/uploads\//m);
    assert.match(failed.stderr, /^hint: The registry .* failed: retry later/m);
    assert.equal(await tagStatus(reg.host, "src", referrersTag(srcDigest)), 404, "no fallback referrers tag after a failed push");

    proxy.reset();
    proxy.inject({ method: "PUT", path: "/v2/src/blobs/uploads/", fault: { kind: "status", status: 500 } });
    proxy.inject({ method: "PUT", path: `/v2/src/manifests/sha256:`, fault: { kind: "status", status: 503 } });
    proxy.inject({ method: "PUT", path: `/v2/src/manifests/${referrersTag(srcDigest)}`, fault: { kind: "status", status: 429, retryAfter: "0" } });
    const pushed = ok(await soci("push", `${proxy.host}/src:1`));
    assert.match(pushed.stdout, /listed under tag sha256-/);
    assert.equal(proxy.log.filter((e) => e.fault === "status").length, 3, "every injected fault fired and was retried");
    assert.equal(await tagStatus(reg.host, "src", referrersTag(srcDigest)), 200);
  });
});
