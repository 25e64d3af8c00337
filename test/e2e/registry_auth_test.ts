// Registry authentication end to end (real-components §1.4, §1.5): the real
// docker-registry with htpasswd (bcrypt) Basic auth, and with Bearer tokens
// from a test token server (RS256 JWTs with an x5c certificate made by
// openssl). Credentials come from user:pass, or a Docker config.json in a temp
// dir (auths, credHelpers, credsStore with a fake helper on a private PATH) —
// the real ~/.docker is never read. No secret may appear in an error or a
// debug line.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { sha256Digest, utf8 } from "../../core-wasm/src/bytes/mod.ts";
import { RegistryError } from "../../core-wasm/src/errors.ts";
import { MEDIA_TYPE_OCI_MANIFEST, type Descriptor } from "../../core-wasm/src/oci/mod.ts";
import {
  dockerConfigCredentials, RegistryClient, staticCredentials,
  type CredentialSource, type Repository,
} from "../../core-wasm/src/registry/mod.ts";
import { missingTools, startRegistry, tempDir, type RunningRegistry } from "../fakes/docker_registry.ts";
import { startTokenServer, type TokenServer } from "../fakes/token_server.ts";

const skip = missingTools(["docker-registry", "htpasswd", "openssl"]);
const USER = "testuser";
const PASS = "s3cret-Pa55word";
const EMPTY = utf8("{}");
const emptyDesc: Descriptor = { mediaType: "application/vnd.oci.empty.v1+json", digest: sha256Digest(EMPTY), size: 2 };
const manifest = utf8(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE_OCI_MANIFEST, config: emptyDesc, layers: [] }));

/** Push the empty config and a manifest, then read both back. */
async function roundTrip(repo: Repository, tag: string): Promise<void> {
  await repo.pushBlob(emptyDesc, EMPTY);
  await repo.putManifest(manifest, MEDIA_TYPE_OCI_MANIFEST, tag);
  assert.deepEqual((await repo.getManifest(tag)).bytes, manifest);
  assert.deepEqual(await repo.readBlob(emptyDesc), EMPTY);
}

/** Asserts that none of `secrets` shows in anything a user or log could see of `e`. */
function assertNoSecrets(e: unknown, secrets: string[]): void {
  const err = e as RegistryError;
  const visible = [err.message, err.hint ?? "", JSON.stringify(err), JSON.stringify(err.details), String(err.stack), String((err as Error).cause ?? "")].join("\n");
  for (const s of secrets) assert.ok(!visible.includes(s), `secret ${JSON.stringify(s.slice(0, 6))}… leaked: ${visible}`);
}

describe("registry Basic auth (htpasswd)", { skip: skip ? `skipped: ${skip}` : false }, () => {
  let reg: RunningRegistry;
  let dir: string;
  const client = (credentials?: CredentialSource, debug?: (l: string) => void) =>
    new RegistryClient({ plainHttpLoopback: true, credentials, debug, retry: { maxRetries: 1, minWaitMs: 1, maxWaitMs: 5 } });

  before(async () => {
    reg = await startRegistry({ htpasswd: { username: USER, password: PASS } });
    dir = tempDir("soci-auth-");
  });
  after(async () => {
    await reg?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("anonymous access is refused with a hint to log in", async () => {
    await assert.rejects(client().repository(`${reg.host}/app`).resolve("x"), (e: unknown) => {
      assert.ok(e instanceof RegistryError);
      assert.equal(e.details.status, 401);
      assert.match(e.hint ?? "", /soci login/);
      return true;
    });
  });

  test("user:pass credentials push and pull; nothing secret reaches the debug output", async () => {
    const lines: string[] = [];
    await roundTrip(client(staticCredentials(`${USER}:${PASS}`), (l) => lines.push(l)).repository(`${reg.host}/app`), "basic");
    assert.ok(lines.some((l) => l.includes('"Authorization":"Basic REDACTED"')), "debug shows the scheme");
    const basic = Buffer.from(`${USER}:${PASS}`).toString("base64");
    for (const l of lines) assert.ok(!l.includes(PASS) && !l.includes(basic), `leak in ${l}`);
  });

  test("a wrong password is a clear 401 that does not show the password", async () => {
    const wrong = "wrong-Pa55word-xyz";
    const lines: string[] = [];
    await assert.rejects(client(staticCredentials(`${USER}:${wrong}`), (l) => lines.push(l)).repository(`${reg.host}/app`).resolve("basic"), (e: unknown) => {
      assert.ok(e instanceof RegistryError);
      assert.equal(e.details.status, 401);
      assert.match(e.message, /^Cannot resolve ".*\/app:basic": registry answered 401/);
      assert.match(e.hint ?? "", /soci login/);
      assertNoSecrets(e, [wrong, Buffer.from(`${USER}:${wrong}`).toString("base64")]);
      return true;
    });
    for (const l of lines) assert.ok(!l.includes(wrong), `leak in ${l}`);
  });

  test("credentials come from a Docker config.json: auths (auth or username/password)", async () => {
    const cfg = join(dir, "config-auths.json");
    writeFileSync(cfg, JSON.stringify({ auths: { [`http://${reg.host}`]: { auth: Buffer.from(`${USER}:${PASS}`).toString("base64") } } }));
    await roundTrip(client(dockerConfigCredentials({ path: cfg })).repository(`${reg.host}/cfg`), "auths");
    const cfg2 = join(dir, "config-userpass.json");
    writeFileSync(cfg2, JSON.stringify({ auths: { [reg.host]: { username: USER, password: PASS } } }));
    await roundTrip(client(dockerConfigCredentials({ path: cfg2 })).repository(`${reg.host}/cfg`), "userpass");
    const none = join(dir, "absent.json");
    await assert.rejects(client(dockerConfigCredentials({ path: none })).repository(`${reg.host}/cfg`).resolve("auths"), /401/);
  });

  test("credentials come from credHelpers and credsStore helper programs", async () => {
    const bin = join(dir, "bin");
    mkdirSync(bin, { recursive: true });
    const helper = join(bin, "docker-credential-soci-test");
    writeFileSync(helper, `#!/bin/sh
read url
if [ "$url" = "${reg.host}" ]; then
  printf '{"ServerURL":"%s","Username":"${USER}","Secret":"${PASS}"}' "$url"
else
  echo "credentials not found in native keychain"; exit 1
fi
`);
    chmodSync(helper, 0o755);
    const env = { ...process.env, PATH: `${bin}:${process.env.PATH}` };
    const helpers = join(dir, "config-helpers.json");
    writeFileSync(helpers, JSON.stringify({ credHelpers: { [reg.host]: "soci-test" } }));
    await roundTrip(client(dockerConfigCredentials({ path: helpers, env })).repository(`${reg.host}/helper`), "helper");
    const store = join(dir, "config-store.json");
    writeFileSync(store, JSON.stringify({ credsStore: "soci-test" }));
    await roundTrip(client(dockerConfigCredentials({ path: store, env })).repository(`${reg.host}/helper`), "store");
    const missing = join(dir, "config-missing-helper.json");
    writeFileSync(missing, JSON.stringify({ credsStore: "absent-helper" }));
    await assert.rejects(client(dockerConfigCredentials({ path: missing, env })).repository(`${reg.host}/helper`).resolve("store"), (e: unknown) => {
      assert.match((e as Error).message, /docker-credential-absent-helper: the program is not on PATH/);
      return true;
    });
  });
});

describe("registry Bearer token auth", { skip: skip ? `skipped: ${skip}` : false }, () => {
  let reg: RunningRegistry;
  let tokens: TokenServer;
  let dir: string;
  const client = (credentials?: CredentialSource, debug?: (l: string) => void) =>
    new RegistryClient({ plainHttpLoopback: true, credentials, debug, retry: { maxRetries: 1, minWaitMs: 1, maxWaitMs: 5 } });

  before(async () => {
    dir = tempDir("soci-token-");
    tokens = await startTokenServer({
      dir,
      users: { [USER]: PASS, reader: "reader-pass" },
      // "reader" may only pull; everyone else gets what they ask for.
      grant: (user, _repo, actions) => (user === undefined ? [] : user === "reader" ? actions.filter((a) => a === "pull") : actions),
    });
    reg = await startRegistry({ token: { realm: tokens.realm, service: tokens.service, issuer: tokens.issuer, certPath: tokens.certPath } });
  });
  after(async () => {
    await reg?.stop();
    await tokens?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("a user with push rights pushes and pulls; tokens are scoped, cached and never logged", async () => {
    const lines: string[] = [];
    const c = client(staticCredentials(`${USER}:${PASS}`), (l) => lines.push(l));
    const repo = c.repository(`${reg.host}/app`);
    tokens.requests.length = 0;
    await roundTrip(repo, "1");
    const scopes = tokens.requests.map((r) => r.scopes.join(" "));
    assert.ok(scopes.includes("repository:app:pull,push"), JSON.stringify(scopes));
    assert.ok(scopes.includes("repository:app:pull"), JSON.stringify(scopes));
    assert.ok(tokens.requests.every((r) => r.account === USER && r.user === USER));
    const before = tokens.requests.length;
    for (let i = 0; i < 5; i++) await repo.getManifest("1");
    assert.equal(tokens.requests.length, before, "cached tokens are reused");
    assert.ok(tokens.issued.length > 0);
    for (const l of lines) {
      for (const t of tokens.issued) assert.ok(!l.includes(t), `token leaked in ${l}`);
      assert.ok(!l.includes(PASS), `password leaked in ${l}`);
    }
    assert.ok(lines.some((l) => l.includes('"Authorization":"Bearer REDACTED"')));
  });

  test("a cross-repository mount asks for pull on the source repository too", async () => {
    const c = client(staticCredentials(`${USER}:${PASS}`));
    await c.repository(`${reg.host}/app`).pushBlob(emptyDesc, EMPTY);
    tokens.requests.length = 0;
    assert.equal(await c.repository(`${reg.host}/copy`).pushBlob(emptyDesc, EMPTY, { mountFrom: ["app"] }), "mounted");
    const asked = tokens.requests.flatMap((r) => r.scopes);
    assert.ok(asked.includes("repository:app:pull") && asked.includes("repository:copy:pull,push"), JSON.stringify(asked));
  });

  test("a pull-only user can pull but a push is refused clearly", async () => {
    const reader = client(staticCredentials("reader:reader-pass")).repository(`${reg.host}/app`);
    assert.deepEqual((await reader.getManifest("1")).bytes, manifest);
    const other = utf8(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE_OCI_MANIFEST, config: emptyDesc, layers: [], annotations: { a: "b" } }));
    await assert.rejects(reader.putManifest(other, MEDIA_TYPE_OCI_MANIFEST, "2"), (e: unknown) => {
      assert.ok(e instanceof RegistryError);
      assert.equal(e.details.status, 401);
      assert.equal(e.details.method, "PUT");
      assert.match(e.hint ?? "", /soci login/);
      assertNoSecrets(e, ["reader-pass", ...tokens.issued]);
      return true;
    });
  });

  test("bad credentials fail at the token endpoint without showing them", async () => {
    const bad = "not-the-Pa55word";
    await assert.rejects(client(staticCredentials(`${USER}:${bad}`)).repository(`${reg.host}/app`).resolve("1"), (e: unknown) => {
      assert.ok(e instanceof RegistryError);
      assert.equal(e.details.status, 401);
      assert.match(e.message, /^Cannot get a registry token for "repository:app:pull" from 127\.0\.0\.1:\d+: registry answered 401/);
      assert.match(e.hint ?? "", /soci login/);
      assertNoSecrets(e, [bad, Buffer.from(`${USER}:${bad}`).toString("base64")]);
      return true;
    });
  });

  test("anonymous clients get a token without access and a clear 401", async () => {
    await assert.rejects(client().repository(`${reg.host}/app`).resolve("1"), (e: unknown) => e instanceof RegistryError && e.details.status === 401);
  });
});
