import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FormatError } from "../errors.ts";
import { hostBaseUrl, isLoopbackHost, parseHostsToml, resolveHosts } from "./hosts.ts";
import { parseToml } from "./_toml.ts";

test("resolveHosts() maps docker.io to registry-1.docker.io over https", async () => {
  const [h] = await resolveHosts("docker.io");
  assert.equal(hostBaseUrl(h), "https://registry-1.docker.io/v2");
  assert.deepEqual(h.capabilities, ["pull", "resolve", "push"]);
  assert.equal(h.isMirror, false);
});

test("resolveHosts() uses plain http only when configured", async () => {
  const url = async (r: string, o = {}) => hostBaseUrl((await resolveHosts(r, o))[0]);
  assert.equal(await url("127.0.0.1:5000"), "https://127.0.0.1:5000/v2");
  assert.equal(await url("127.0.0.1:5000", { plainHttpLoopback: true }), "http://127.0.0.1:5000/v2");
  assert.equal(await url("localhost:5000", { plainHttpLoopback: true }), "http://localhost:5000/v2");
  assert.equal(await url("reg.example", { plainHttpLoopback: true }), "https://reg.example/v2");
  assert.equal(await url("reg.example:5000", { plainHttp: true }), "http://reg.example:5000/v2");
  assert.equal(await url("reg.example:5000", { insecureHosts: ["reg.example"] }), "http://reg.example:5000/v2");
  assert.equal(await url("reg.example:5000", { insecureHosts: ["reg.example:5001"] }), "https://reg.example:5000/v2");
});

test("isLoopbackHost() knows localhost, 127/8 and ::1", () => {
  for (const h of ["localhost", "localhost:5000", "a.localhost", "127.0.0.1", "127.1.2.3:80", "[::1]:5000"]) assert.ok(isLoopbackHost(h), h);
  for (const h of ["10.0.0.1", "example.com", "localhost.example.com", "[::2]"]) assert.ok(!isLoopbackHost(h), h);
});

test("parseHostsToml() lists mirrors in file order, then the server", () => {
  const hosts = parseHostsToml(`
# containerd hosts.toml
server = "https://registry-1.docker.io"

[host."http://mirror.local:5000"]
  capabilities = ["pull", "resolve"]
  skip_verify = true
  [host."http://mirror.local:5000".header]
    x-team = "builds"
    x-multi = ["a", "b"]

[host."https://cache.example/custom/path"]
  capabilities = ["pull"]
  ca = "/etc/certs/cache.pem"

[host."https://proxy.example/v2/exact"]
  override_path = true
`, "docker.io");
  assert.deepEqual(hosts.map(hostBaseUrl), [
    "http://mirror.local:5000/v2",
    "https://cache.example/custom/path/v2",
    "https://proxy.example/v2/exact",
    "https://registry-1.docker.io/v2",
  ]);
  assert.deepEqual(hosts[0].capabilities, ["pull", "resolve"]);
  assert.equal(hosts[0].skipVerify, true);
  assert.deepEqual(hosts[0].headers, { "x-team": "builds", "x-multi": "a, b" });
  assert.deepEqual(hosts[1].caFiles, ["/etc/certs/cache.pem"]);
  assert.deepEqual(hosts.map((h) => h.isMirror), [true, true, true, false]);
  assert.deepEqual(hosts[3].capabilities, ["pull", "resolve", "push"]);
});

test("parseHostsToml() defaults the server and the scheme from the options", () => {
  const hosts = parseHostsToml('[host."mirror.local:5000"]\n', "127.0.0.1:5000", { plainHttp: true });
  assert.deepEqual(hosts.map(hostBaseUrl), ["http://mirror.local:5000/v2", "http://127.0.0.1:5000/v2"]);
});

test("parseHostsToml() rejects bad values with FormatError", () => {
  assert.throws(() => parseHostsToml('[host."https://m"]\ncapabilities = ["fly"]\n', "r"), FormatError);
  assert.throws(() => parseHostsToml('[host."https://m"]\nskip_verify = "yes"\n', "r"), FormatError);
  assert.throws(() => parseHostsToml('server = 5\n', "r"), FormatError);
  assert.throws(() => parseHostsToml('[host."ftp://m"]\n', "r"), /scheme "ftp"/);
});

test("resolveHosts() reads <dir>/<host>/hosts.toml, else <dir>/_default/hosts.toml", async () => {
  const dir = mkdtempSync(join(tmpdir(), "soci-hosts-"));
  try {
    mkdirSync(join(dir, "127.0.0.1:5000"));
    writeFileSync(join(dir, "127.0.0.1:5000", "hosts.toml"), 'server = "http://127.0.0.1:5000"\n');
    mkdirSync(join(dir, "_default"));
    writeFileSync(join(dir, "_default", "hosts.toml"), '[host."https://fallback.example"]\n');
    assert.deepEqual((await resolveHosts("127.0.0.1:5000", { hostsDir: dir })).map(hostBaseUrl), ["http://127.0.0.1:5000/v2"]);
    assert.deepEqual((await resolveHosts("other.example", { hostsDir: dir })).map(hostBaseUrl), [
      "https://fallback.example/v2",
      "https://other.example/v2",
    ]);
    rmSync(join(dir, "_default"), { recursive: true });
    assert.deepEqual((await resolveHosts("other.example", { hostsDir: dir })).map(hostBaseUrl), ["https://other.example/v2"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("parseToml() reads the subset: tables, dotted and quoted keys, strings, numbers, arrays, inline tables", () => {
  const t = parseToml(`
a = "x\\ty\\u00e9" # comment
'lit' = 'C:\\path'
b.c = 1_000
[t."q.k"]
arr = [
  1, 2.5, -3, # trailing comma next
  true,
]
inl = { k = "v", n = { m = false } }
`);
  assert.deepEqual(JSON.parse(JSON.stringify(t)), {
    a: "x\tyé",
    lit: "C:\\path",
    b: { c: 1000 },
    t: { "q.k": { arr: [1, 2.5, -3, true], inl: { k: "v", n: { m: false } } } },
  });
});

test("parseToml() reads [[arrays of tables]]; later [headers] and keys go to the array's last table", () => {
  const t = parseToml(`
[resolver.host."docker.io"]
  [[resolver.host."docker.io".mirrors]]
    host = "mirror-a:5000"
    insecure = true
  [[resolver.host."docker.io".mirrors]]
    host = "mirror-b"
  [resolver.host."docker.io".mirrors.extra]
    k = 1
`);
  assert.deepEqual(JSON.parse(JSON.stringify(t)), {
    resolver: { host: { "docker.io": { mirrors: [{ host: "mirror-a:5000", insecure: true }, { host: "mirror-b", extra: { k: 1 } }] } } },
  });
});

test("parseToml() rejects what it does not support and hostile input, with the line", () => {
  const bad: [string, RegExp][] = [
    ['a = """x"""', /multi-line/],
    ["a = [1]\n[[a]]", /not an array of tables/],
    ["[[arr]", /expected \]\] after table array name/],
    ["a = 1979-05-27", /expected a value/],
    ['a = "x"\na = "y"', /duplicate key "a" on line 2/],
    ["[t]\n[t]", /defined twice/],
    ['a = "unterminated', /unterminated/],
    ["a = 1 b = 2", /unexpected/],
    ["a = [1, 2", /expected/],
    ["a = " + "[".repeat(50) + "]".repeat(50), /nest deeper/],
    ['a = "\\uD800"', /unicode/],
    ['a = "\\q"', /bad escape/],
    ["= 1", /expected a key/],
  ];
  for (const [text, re] of bad) assert.throws(() => parseToml(text), (e: unknown) => e instanceof FormatError && re.test(e.message), text);
  assert.throws(() => parseToml("x".repeat(70_000)), /larger than/);
  assert.throws(() => parseToml(Array.from({ length: 5000 }, (_, i) => `k${i} = 1`).join("\n")), /more than 4096 keys/);
  assert.throws(() => parseToml("a.b = 1\na.b.c = 2"), /not a table/);
});

test("parseHostsToml() records TLS settings: skip_verify, ca (relative to the file) and the three client forms", () => {
  const hosts = parseHostsToml(`
server = "https://reg.example"
ca = "certs/ca.pem"
client = [["/etc/c.cert", "c.key"], ["/etc/both.pem", ""]]

[host."https://mirror.example"]
  skip_verify = true
  ca = ["/abs/a.pem", "b.pem"]
  client = "one.pem"
`, "reg.example", {}, "/etc/soci/hosts/reg.example/hosts.toml");
  const [mirror, server] = hosts;
  assert.equal(mirror.skipVerify, true);
  assert.deepEqual(mirror.caFiles, ["/abs/a.pem", "/etc/soci/hosts/reg.example/b.pem"]);
  assert.deepEqual(mirror.clientPairs, [["/etc/soci/hosts/reg.example/one.pem", ""]]);
  assert.equal(server.skipVerify, false);
  assert.deepEqual(server.caFiles, ["/etc/soci/hosts/reg.example/certs/ca.pem"]);
  assert.deepEqual(server.clientPairs, [["/etc/c.cert", "/etc/soci/hosts/reg.example/c.key"], ["/etc/both.pem", ""]]);
  for (const bad of ['ca = 3', 'client = [["a", "b", "c"]]', 'client = [1]', 'ca = [""]']) {
    assert.throws(() => parseHostsToml(`server = "https://r"\n${bad}\n`, "r"), FormatError, bad);
  }
});
