// The registry commands of the built CLI against real docker-registry 2.8
// instances: convert with Basic (htpasswd) and token auth (test/fakes/
// token_server.ts), credentials from -u or from `soci login` (config.json
// written atomically, 0600; `logout` removes it), `--debug` lines with
// credentials redacted, the SOCI v1 flow (`create` + `push` to a registry
// without the referrers API, found again through the `sha256-<hex>` tag by
// `index list --ref`), `push SRC DST` of a converted layout, and clear errors.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { missingTools as registryToolsMissing, startRegistry, type RunningRegistry } from "../fakes/docker_registry.ts";
import { startTokenServer, type TokenServer } from "../fakes/token_server.ts";
import { BUNDLE, buildCliAndFixtures, IMAGES, ok, sha256, tempDir, type Ran } from "./_soci_cli.ts";
import { manifestBytes, skopeoCopyAsync, sociAsync } from "./_registry_util.ts";

const skip = registryToolsMissing(["docker-registry", "skopeo", "htpasswd", "openssl"]);
const USER = "ciuser";
const PASS = "Secr3t-pa55-word";
const CONVERT = ["convert", "--min-layer-size", "0", "--jobs", "2"];

/** soci with stdin (for --password-stdin); asynchronous, as every call here (the registries log to pipes this process drains). */
function sociStdin(cwd: string, store: string, input: string, ...args: string[]): Promise<Ran> {
  return new Promise((ok, fail) => {
    const p = spawn(process.execPath, [BUNDLE, "--store", store, ...args], { cwd, env: { PATH: "/usr/bin:/bin", HOME: cwd } });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
    p.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    p.on("error", fail);
    p.on("close", (code, signal) => ok({ code, signal, stdout, stderr }));
    p.stdin.end(input);
  });
}

describe("registry commands with Basic auth", { skip: skip ? `skipped: ${skip}` : false, timeout: 600_000 }, () => {
  let reg: RunningRegistry;
  let dir: string;
  let soci: ReturnType<typeof sociAsync>;

  before(async () => {
    buildCliAndFixtures(["sample"]);
    reg = await startRegistry({ htpasswd: { username: USER, password: PASS } });
    dir = tempDir("soci-regcli-basic-");
    soci = sociAsync(dir, join(dir, "store"));
    await skopeoCopyAsync(`oci:${join(IMAGES, "sample")}:latest`, `docker://${reg.host}/app:1`, [`--dest-creds=${USER}:${PASS}`]);
  });
  after(async () => {
    await reg?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("without credentials: exit 1, status, method, redacted URL and a hint to log in", async () => {
    const r = await soci(...CONVERT, `${reg.host}/app:1`, `${reg.host}/app:soci`);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^soci: Cannot .*registry answered 401 .*\((HEAD|GET) http:\/\/127\.0\.0\.1:\d+\/v2\/app\/manifests\/1\)/m);
    assert.match(r.stderr, /^hint: Check credentials with soci login/m);
  });

  test("-u USER:PASS converts registry → registry; --debug redacts the credentials", async () => {
    const r = ok(await soci("--debug", "-u", `${USER}:${PASS}`, ...CONVERT, "-q", `${reg.host}/app:1`, `${reg.host}/app:soci-u`));
    assert.match(r.stdout, /^sha256:[0-9a-f]{64}$/m);
    assert.match(r.stderr, /soci: debug: --> GET http:\/\/127\.0\.0\.1:\d+\/v2\/app\/manifests\/1 .*"Authorization":"Basic REDACTED"/);
    assert.ok(!r.stderr.includes(PASS) && !r.stderr.includes(Buffer.from(`${USER}:${PASS}`).toString("base64")), "no secret in the debug output");
    ok(await soci("-u", `${USER}:${PASS}`, "verify", `${reg.host}/app:soci-u`));
  });

  test("login checks and stores the credentials (0600, atomically); convert uses them; logout removes them", async () => {
    const bad = await sociStdin(dir, join(dir, "store"), "wrong\n", "login", "-u", USER, "--password-stdin", reg.host);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^soci: Cannot log in to 127\.0\.0\.1:\d+ as "ciuser": the registry refused the credentials/m);
    assert.throws(() => statSync(join(dir, ".docker", "config.json")), "nothing stored after a refused login");

    const r = await sociStdin(dir, join(dir, "store"), PASS + "\n", "login", "-u", USER, "--password-stdin", reg.host);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Login Succeeded/);
    const path = join(dir, ".docker", "config.json");
    assert.equal(statSync(path).mode & 0o777, 0o600);
    const cfg = JSON.parse(readFileSync(path, "utf8"));
    assert.equal(Buffer.from(cfg.auths[reg.host].auth, "base64").toString(), `${USER}:${PASS}`);

    const c = ok(await soci(...CONVERT, "-q", `${reg.host}/app:1`, `${reg.host}/app:soci-login`));
    assert.match(c.stdout.trim(), /^sha256:/);

    assert.match(ok(await soci("logout", reg.host)).stdout, /Removing login credentials/);
    assert.equal(JSON.parse(readFileSync(path, "utf8")).auths[reg.host], undefined);
    assert.match(ok(await soci("logout", reg.host)).stdout, /Not logged in/);
    assert.equal((await soci("verify", `${reg.host}/app:soci-login`)).code, 1, "anonymous again after logout");
  });
});

describe("registry commands with token auth", { skip: skip ? `skipped: ${skip}` : false, timeout: 600_000 }, () => {
  let reg: RunningRegistry;
  let tokens: TokenServer;
  let dir: string;
  let soci: ReturnType<typeof sociAsync>; // the token server lives in this process: never block it

  before(async () => {
    buildCliAndFixtures(["sample"]);
    dir = tempDir("soci-regcli-token-");
    tokens = await startTokenServer({ dir, users: { [USER]: PASS } });
    reg = await startRegistry({ token: { realm: tokens.realm, service: tokens.service, issuer: tokens.issuer, certPath: tokens.certPath } });
    soci = sociAsync(dir, join(dir, "store"));
    await skopeoCopyAsync(`oci:${join(IMAGES, "sample")}:latest`, `docker://${reg.host}/team/app:1`, [`--dest-creds=${USER}:${PASS}`]);
  });
  after(async () => {
    await reg?.stop();
    await tokens?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("convert registry → registry with Bearer tokens, across repositories (mount), then verify", async () => {
    const r = ok(await soci("-u", `${USER}:${PASS}`, ...CONVERT, "-q", `${reg.host}/team/app:1`, `${reg.host}/team/app-soci:1`));
    assert.match(r.stdout.trim(), /^sha256:[0-9a-f]{64}$/);
    ok(await soci("-u", `${USER}:${PASS}`, "verify", `${reg.host}/team/app-soci:1`));
    assert.ok(tokens.requests.some((q) => q.scopes.some((s) => s === "repository:team/app:pull")), "a pull token for the source was asked");
    assert.ok(tokens.requests.some((q) => q.scopes.some((s) => s.startsWith("repository:team/app-soci:") && s.includes("push"))), "a push token for the destination was asked");
  });

  test("a wrong password is a clear failure", async () => {
    const r = await soci("-u", `${USER}:nope`, "verify", `${reg.host}/team/app:1`);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^soci: Cannot /m);
    assert.ok(!r.stderr.includes("nope"));
  });
});

describe("SOCI index v1: create + push without the referrers API, found through the tag schema", { skip: skip ? `skipped: ${skip}` : false, timeout: 600_000 }, () => {
  let reg: RunningRegistry;
  let dir: string;
  let soci: ReturnType<typeof sociAsync>;

  before(async () => {
    buildCliAndFixtures(["sample", "multiarch"]);
    reg = await startRegistry();
    dir = tempDir("soci-regcli-v1-");
    soci = sociAsync(dir, join(dir, "store"));
    await skopeoCopyAsync(`oci:${join(IMAGES, "sample")}:latest`, `docker://${reg.host}/app:1`);
  });
  after(async () => {
    await reg?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("create from the registry ref, push, then index list --ref finds it on the registry", async () => {
    const created = ok(await soci("create", "--min-layer-size", "0", "-q", `${reg.host}/app:1`)).stdout.trim();
    assert.match(created, /^sha256:[0-9a-f]{64}$/);
    const p = ok(await soci("push", `${reg.host}/app:1`));
    assert.match(p.stdout, /^pushing artifact with digest: sha256:/m);
    assert.match(p.stdout, new RegExp(`^pushing soci index with digest: ${created}$`, "m"));
    assert.match(p.stdout, /listed under tag sha256-[0-9a-f]{64} \(the registry has no referrers API\)/);
    const subject = sha256(await manifestBytes(reg.host, "app", "1"));
    const fallback = JSON.parse(new TextDecoder().decode(await manifestBytes(reg.host, "app", subject.replace(":", "-"))));
    assert.deepEqual(fallback.manifests.map((d: { digest: string }) => d.digest), [created]);
    assert.equal(fallback.manifests[0].artifactType, "application/vnd.amazon.soci.index.v1+json");

    // A fresh store knows nothing: the listing comes from the registry.
    const fresh = sociAsync(dir, join(dir, "fresh-store"));
    const rows = JSON.parse(ok(await fresh("--json", "index", "list", "--ref", `${reg.host}/app:1`)).stdout) as { digest: string; manifestVersion: string; source?: string; platform: string }[];
    assert.deepEqual(rows.map((r) => [r.digest, r.manifestVersion, r.source, r.platform]), [[created, "v1", "registry", "linux/amd64"]]);
    const table = ok(await fresh("index", "list", "--ref", `${reg.host}/app:1`)).stdout;
    assert.match(table, new RegExp(`^${created}\\s+\\d+\\s+${reg.host.replace(/\./g, "\\.")}/app:1\\s+linux/amd64\\s+application/vnd\\.oci\\.image\\.manifest\\.v1\\+json\\s+v1\\s+n/a`, "m"));

    // Pushing again skips; pulling brings the v1 index into a fresh store.
    assert.match(ok(await soci("push", `${reg.host}/app:1`)).stdout, /already attached .*; skipped/);
    const pulled = ok(await fresh("pull", `${reg.host}/app:1`));
    assert.match(pulled.stdout, new RegExp(`soci index ${created} \\(v1, linux/amd64\\)`));
  });

  test("push SRC DST pushes a converted layout as an image; push of an unknown image says what to do", async () => {
    const out = join(dir, "converted");
    const digest = ok(await soci(...CONVERT, "--all-platforms", "--format", "oci-dir", "-q", join(IMAGES, "multiarch"), out)).stdout.trim();
    const r = ok(await soci("push", out, `${reg.host}/multi:soci`));
    assert.match(r.stdout, new RegExp(`pushed image ${digest} to ${reg.host}/multi:soci`));
    assert.equal(sha256(await manifestBytes(reg.host, "multi", "soci")), digest);
    ok(await soci("verify", `${reg.host}/multi:soci`));

    const none = await soci("push", `${reg.host}/multi:soci`);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /^soci: Cannot push SOCI indexes for .*: the local store has no v1 index/m);
    assert.match(none.stderr, /^hint: Run "soci create /m);
  });

  test("a missing image is a clear 404 with a hint", async () => {
    const r = await soci(...CONVERT, `${reg.host}/nothing:1`, `${reg.host}/nothing:2`);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^soci: Cannot find image 127\.0\.0\.1:\d+\/nothing:1: the registry has no manifest "1"/m);
    assert.match(r.stderr, /MANIFEST_UNKNOWN|NAME_UNKNOWN/);
    assert.match(r.stderr, /^hint: Check the repository name and the tag or digest/m);
  });
});
