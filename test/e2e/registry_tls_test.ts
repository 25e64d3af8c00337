// TLS against the real docker-registry 2.8 serving HTTPS with a throwaway CA
// (issue 4: "TLS verified by default"; hosts.toml `ca`, `skip_verify`,
// `client`). Through the CLI on Node (dist/soci.mjs) and once with the Bun
// binary (dist/soci); the image pushed is pulled back and compared byte for
// byte with the fixture layout.
import assert from "node:assert/strict";
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { RegistryError } from "../../core-wasm/src/errors.ts";
import { RegistryClient } from "../../core-wasm/src/registry/mod.ts";
import { makeTestPki, missingTools, startRegistry, tempDir, type RunningRegistry, type TestPki } from "../fakes/docker_registry.ts";
import { BINARY, buildCliAndFixtures, checkLayout, IMAGES, ok, sociAsync } from "./_soci_cli.ts";

const skip = missingTools(["docker-registry", "openssl"]);

/** Asserts that the layout `dir` holds the fixture `name`'s reachable blobs with the same bytes. */
function assertSameAsFixture(dir: string, name: string): void {
  const digests = checkLayout(dir);
  assert.ok(digests.size > 2);
  for (const d of digests) {
    const file = join("blobs", "sha256", d.slice("sha256:".length));
    assert.ok(readFileSync(join(dir, file)).equals(readFileSync(join(IMAGES, name, file))), `${d} differs from the fixture`);
  }
}

describe("registry over TLS: verified by default, hosts.toml ca / skip_verify / client", { skip: skip ? `skipped: ${skip}` : false, timeout: 600_000 }, () => {
  let dir: string;
  let pki: TestPki;
  let server: RunningRegistry;
  let mtls: RunningRegistry;
  let n = 0;

  /** A --hosts-dir with one hosts.toml for `host` (the CA copied beside it, for relative paths). */
  function hostsDir(host: string, toml: string): string {
    const d = join(dir, `hosts-${++n}`);
    mkdirSync(join(d, host), { recursive: true });
    copyFileSync(pki.ca, join(d, host, "ca.pem"));
    writeFileSync(join(d, host, "hosts.toml"), `server = "https://${host}"\n${toml}`);
    return d;
  }

  before(async () => {
    buildCliAndFixtures(["sample"]);
    dir = tempDir("soci-tls-");
    pki = makeTestPki(dir);
    server = await startRegistry(undefined, { tls: { certificate: pki.serverCert, key: pki.serverKey } });
    mtls = await startRegistry(undefined, { tls: { certificate: pki.serverCert, key: pki.serverKey, clientCas: [pki.ca] } });
  });
  after(async () => {
    await Promise.all([server?.stop(), mtls?.stop()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("the client verifies TLS by default: an untrusted certificate is a clear error naming hosts.toml ca / skip_verify", async () => {
    const client = new RegistryClient({ retry: { maxRetries: 0 } });
    await assert.rejects(client.repository(`${server.host}/app`).resolve("1"), (e: unknown) => {
      assert.ok(e instanceof RegistryError, String(e));
      assert.equal(e.retryable, false);
      assert.match(e.message, /^Cannot resolve .*the TLS certificate was not trusted/);
      assert.match(e.hint ?? "", /ca = .*skip_verify = true.*hosts\.toml/);
      return true;
    });
  });

  test("CLI: https without ca fails clearly; ca = (relative path) pushes and pulls back byte-identical", async () => {
    const soci = sociAsync(dir, join(dir, "store-ca"));
    const bare = hostsDir(server.host, "");
    const r = await soci("--hosts-dir", bare, "copy", join(IMAGES, "sample"), `${server.host}/sample:1`);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /TLS certificate was not trusted/);
    assert.match(r.stderr, /ca = .*skip_verify/);

    const withCa = hostsDir(server.host, `ca = "ca.pem"\n`);
    ok(await soci("--hosts-dir", withCa, "copy", join(IMAGES, "sample"), `${server.host}/sample:1`));
    const out = join(dir, "pulled-ca");
    ok(await soci("--hosts-dir", withCa, "pull", "-o", out, `${server.host}/sample:1`));
    assertSameAsFixture(out, "sample");
  });

  test("CLI: skip_verify = true reaches the registry without its CA", async () => {
    const soci = sociAsync(dir, join(dir, "store-skip"));
    const skipDir = hostsDir(server.host, "skip_verify = true\n");
    ok(await soci("--hosts-dir", skipDir, "copy", join(IMAGES, "sample"), `${server.host}/skip:1`));
    const out = join(dir, "pulled-skip");
    ok(await soci("--hosts-dir", skipDir, "pull", "-o", out, `${server.host}/skip:1`));
    assertSameAsFixture(out, "sample");
  });

  test("CLI: a registry requiring client certificates: refused clearly without one; works with client pairs", async () => {
    const soci = sociAsync(dir, join(dir, "store-mtls"));
    const noClient = hostsDir(mtls.host, `ca = "ca.pem"\n`);
    const r = await soci("--hosts-dir", noClient, "copy", join(IMAGES, "sample"), `${mtls.host}/sample:1`);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /client certificate/);
    assert.match(r.stderr, /client = /);

    const pair = hostsDir(mtls.host, `ca = "ca.pem"\nclient = [["${pki.clientCert}", "${pki.clientKey}"]]\n`);
    ok(await soci("--hosts-dir", pair, "copy", join(IMAGES, "sample"), `${mtls.host}/sample:1`));
    const onefile = hostsDir(mtls.host, `ca = "ca.pem"\nclient = "${pki.clientPem}"\n`);
    const out = join(dir, "pulled-mtls");
    ok(await soci("--hosts-dir", onefile, "pull", "-o", out, `${mtls.host}/sample:1`));
    assertSameAsFixture(out, "sample");
  });

  test("CLI: a missing CA file is a usage problem naming the file, not a network error", async () => {
    const soci = sociAsync(dir, join(dir, "store-missing"));
    const missing = hostsDir(server.host, `ca = "/nonexistent/ca.pem"\n`);
    const r = await soci("--hosts-dir", missing, "pull", "-o", join(dir, "never"), `${server.host}/sample:1`);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /Cannot read the CA file "\/nonexistent\/ca\.pem"/);
    assert.ok(!existsSync(join(dir, "never", "index.json")));
  });

  test("the Bun binary applies ca, skip_verify and client certificates the same way", { skip: existsSync(BINARY) ? false : "skipped: dist/soci not built" }, async () => {
    const soci = sociAsync(dir, join(dir, "store-bun"), { binary: true });
    const bare = hostsDir(server.host, "");
    const r = await soci("--hosts-dir", bare, "pull", "-o", join(dir, "bun-never"), `${server.host}/sample:1`);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /not trusted|certificate/i);
    assert.match(r.stderr, /skip_verify/);

    const withCa = join(dir, "bun-ca");
    ok(await soci("--hosts-dir", hostsDir(server.host, `ca = "ca.pem"\n`), "pull", "-o", withCa, `${server.host}/sample:1`));
    assertSameAsFixture(withCa, "sample");
    const skipped = join(dir, "bun-skip");
    ok(await soci("--hosts-dir", hostsDir(server.host, "skip_verify = true\n"), "pull", "-o", skipped, `${server.host}/skip:1`));
    assertSameAsFixture(skipped, "sample");
    const pair = hostsDir(mtls.host, `ca = "ca.pem"\nclient = [["${pki.clientCert}", "${pki.clientKey}"]]\n`);
    ok(await soci("--hosts-dir", pair, "copy", join(IMAGES, "sample"), `${mtls.host}/bun:1`));
    const viaMtls = join(dir, "bun-mtls");
    ok(await soci("--hosts-dir", pair, "pull", "-o", viaMtls, `${mtls.host}/bun:1`));
    assertSameAsFixture(viaMtls, "sample");
  });
});
