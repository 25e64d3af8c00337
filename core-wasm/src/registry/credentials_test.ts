import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chainCredentials, defaultDockerConfigPath, dockerConfigCredentials, parseUserPass, staticCredentials } from "./credentials.ts";

test("parseUserPass() splits at the first colon and never echoes the input", () => {
  assert.deepEqual(parseUserPass("u:p:q"), { username: "u", password: "p:q" });
  assert.throws(() => parseUserPass("justapassword"), (e: unknown) => !(e as Error).message.includes("justapassword"));
});

test("staticCredentials() can be limited to one registry; chainCredentials() takes the first answer", async () => {
  const only = staticCredentials("a:b", "reg.example");
  assert.deepEqual(await only("reg.example"), { username: "a", password: "b" });
  assert.equal(await only("other.example"), undefined);
  const hub = staticCredentials({ username: "h", password: "p" }, "docker.io");
  assert.deepEqual(await hub("registry-1.docker.io"), { username: "h", password: "p" });
  const chain = chainCredentials(only, staticCredentials("c:d"));
  assert.deepEqual(await chain("other.example"), { username: "c", password: "d" });
});

test("defaultDockerConfigPath() honours DOCKER_CONFIG, then HOME", () => {
  assert.equal(defaultDockerConfigPath({ DOCKER_CONFIG: "/cfg", HOME: "/home/u" }), "/cfg/config.json");
  assert.equal(defaultDockerConfigPath({ HOME: "/home/u" }), "/home/u/.docker/config.json");
  assert.equal(defaultDockerConfigPath({}), undefined);
});

test("dockerConfigCredentials() matches auths keys with scheme/path, Docker Hub aliases and identity tokens", async () => {
  const dir = mkdtempSync(join(tmpdir(), "soci-creds-"));
  try {
    const path = join(dir, "config.json");
    writeFileSync(path, JSON.stringify({
      auths: {
        "https://index.docker.io/v1/": { auth: Buffer.from("hub:hubpass").toString("base64") },
        "https://reg.example:5000": { username: "u", password: "p" },
        "tok.example": { identitytoken: "refresh-me" },
        "empty.example": {},
      },
    }));
    const src = dockerConfigCredentials({ path });
    assert.deepEqual(await src("registry-1.docker.io"), { username: "hub", password: "hubpass" });
    assert.deepEqual(await src("reg.example:5000"), { username: "u", password: "p" });
    assert.deepEqual(await src("tok.example"), { identityToken: "refresh-me" });
    assert.equal(await src("empty.example"), undefined);
    assert.equal(await src("reg.example"), undefined);
    writeFileSync(join(dir, "bad.json"), '{"auths": {"x": {"auth": "SECRET-NOT-JSON"');
    await assert.rejects(dockerConfigCredentials({ path: join(dir, "bad.json") })("x"), (e: unknown) => {
      assert.match((e as Error).message, /not a valid JSON object/);
      assert.ok(!(e as Error).message.includes("SECRET"));
      return true;
    });
    assert.equal(await dockerConfigCredentials({ path: join(dir, "absent.json") })("x"), undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
