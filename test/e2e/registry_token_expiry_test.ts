// A token that stops working in the middle of a streamed upload (issue 4:
// "token reuse and refresh on 401"): the real docker-registry with token auth
// behind the fault proxy, which answers the streamed PATCH with a 401 and a
// Bearer challenge as a registry does when the token expired while the body
// was on the wire. The client must fetch a fresh token and re-send the PATCH,
// re-opening the stream from its source; the blob must read back intact.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { sha256Digest } from "../../core-wasm/src/bytes/mod.ts";
import { RegistryError } from "../../core-wasm/src/errors.ts";
import { RegistryClient, staticCredentials } from "../../core-wasm/src/registry/mod.ts";
import { missingTools, startRegistry, tempDir, type RunningRegistry } from "../fakes/docker_registry.ts";
import { FaultProxy } from "../fakes/fault_proxy.ts";
import { startTokenServer, type TokenServer } from "../fakes/token_server.ts";

const skip = missingTools(["docker-registry", "openssl"]);
const USER = "pusher";
const PASS = "expiring-Pa55";

describe("a streamed upload answered 401 mid-way is re-sent with a fresh token", { skip: skip ? `skipped: ${skip}` : false }, () => {
  let dir: string;
  let tokens: TokenServer;
  let reg: RunningRegistry;
  let proxy: FaultProxy;

  before(async () => {
    dir = tempDir("soci-expiry-");
    tokens = await startTokenServer({ dir, users: { [USER]: PASS } });
    reg = await startRegistry({ token: { realm: tokens.realm, service: tokens.service, issuer: tokens.issuer, certPath: tokens.certPath } });
    proxy = await FaultProxy.start(`http://${reg.host}`);
  });
  after(async () => {
    await proxy?.stop();
    await reg?.stop();
    await tokens?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const client = () =>
    new RegistryClient({
      plainHttpLoopback: true, credentials: staticCredentials(`${USER}:${PASS}`), monolithicMaxSize: 64 * 1024,
      retry: { maxRetries: 0 }, // no upload restarts: only the 401 re-send may rescue the push
    });
  const challenge = (scope: string) => ({
    "WWW-Authenticate": `Bearer realm="${tokens.realm}",service="${tokens.service}",scope="${scope}"`,
  });

  test("the PATCH is re-sent once after a fresh token; the source is re-opened; the blob reads back identical", async () => {
    const data = new Uint8Array(randomBytes(3 * 1024 * 1024 + 17));
    const blob = { digest: sha256Digest(data), size: data.length };
    let opened = 0;
    const source = async function* () {
      opened++;
      for (let o = 0; o < data.length; o += 256 * 1024) yield data.subarray(o, Math.min(o + 256 * 1024, data.length));
    };
    proxy.reset();
    proxy.inject({
      method: "PATCH", path: "/v2/expiry/blobs/uploads/",
      fault: { kind: "status", status: 401, headers: challenge("repository:expiry:pull,push"), body: '{"errors":[{"code":"UNAUTHORIZED","message":"token expired"}]}' },
    });
    const repo = client().repository(`${proxy.host}/expiry`);
    const tokensBefore = tokens.requests.length;
    assert.equal(await repo.pushBlob(blob, source), "uploaded");
    const patches = proxy.log.filter((e) => e.method === "PATCH");
    assert.equal(patches.length, 2, JSON.stringify(proxy.log));
    assert.equal(patches[0].status, 401);
    assert.equal(patches[0].path, patches[1].path, "the same upload session is continued");
    assert.equal(opened, 2, "the stream was re-opened from its source");
    assert.ok(tokens.requests.length - tokensBefore >= 2, "a fresh token was fetched after the 401");
    assert.deepEqual(await repo.readBlob(blob), data);
  });

  test("a second 401 in a row is reported clearly (no endless re-sending)", async () => {
    const data = new Uint8Array(randomBytes(200 * 1024));
    const blob = { digest: sha256Digest(data), size: data.length };
    proxy.reset();
    proxy.inject({ method: "PATCH", path: "/v2/expiry2/blobs/uploads/", times: 2, fault: { kind: "status", status: 401, headers: challenge("repository:expiry2:pull,push") } });
    const repo = client().repository(`${proxy.host}/expiry2`);
    await assert.rejects(repo.pushBlob(blob, async function* () { yield data; }), (e: unknown) => {
      assert.ok(e instanceof RegistryError, String(e));
      assert.equal(e.details.status, 401);
      assert.match(e.message, /^Cannot push blob .* registry answered 401 .*\(PATCH /);
      assert.match(e.hint ?? "", /soci login|--user/);
      return true;
    });
    assert.equal(proxy.log.filter((l) => l.method === "PATCH").length, 2);
  });
});
