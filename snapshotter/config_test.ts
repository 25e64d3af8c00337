import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { loadConfig, parseConfig } from "./config.ts";

test("parseConfig('') gives upstream's defaults (snapshotter §13)", () => {
  const c = parseConfig("");
  assert.equal(c.pullModes.sociV1.enable, false);
  assert.equal(c.pullModes.sociV2.enable, true);
  assert.equal(c.snapshotter.minLayerSize, 0);
  assert.equal(c.snapshotter.allowInvalidMountsOnRestart, false);
  assert.deepEqual(c.backgroundFetch, { disable: false, silencePeriodMsec: 30000, fetchPeriodMsec: 500, maxQueueSize: 300, dropPolicy: "newest", emitMetricPeriodSec: 10 });
  assert.equal(c.http.maxRetries, 8);
  assert.equal(c.mountTimeoutSec, 30);
  assert.equal(c.contentStore.type, "soci");
  assert.equal(c.directoryCache.maxLruCacheEntry, 10);
});

test("parseConfig() reads an upstream-style file", () => {
  const c = parseConfig(`
metrics_address = "127.0.0.1:8000"
[http]
MaxRetries = 2
[pull_modes]
  [pull_modes.soci_v1]
  enable = true
  [pull_modes.soci_v2]
  enable = false
[background_fetch]
disable = true
drop_policy = "oldest"
max_queue_size = 0
[snapshotter]
min_layer_size = 10000000
allow_invalid_mounts_on_restart = true
[content_store]
containerd_address = "unix:///run/c.sock"
[resolver.host."registry.example"]
mirrors = [{ host = "127.0.0.1:5000", insecure = true }]
[registry]
config_path = "/etc/containerd/certs.d"
[unknown_table]
x = 1
`);
  assert.equal(c.metricsAddress, "127.0.0.1:8000");
  assert.equal(c.http.maxRetries, 2);
  assert.equal(c.pullModes.sociV1.enable, true);
  assert.equal(c.pullModes.sociV2.enable, false);
  assert.equal(c.backgroundFetch.disable, true);
  assert.equal(c.backgroundFetch.dropPolicy, "oldest");
  assert.equal(c.backgroundFetch.maxQueueSize, 300, "0 means the default");
  assert.equal(c.snapshotter.minLayerSize, 10000000);
  assert.equal(c.snapshotter.allowInvalidMountsOnRestart, true);
  assert.equal(c.contentStore.containerdAddress, "/run/c.sock");
  assert.deepEqual(c.resolver.hosts["registry.example"], { mirrors: [{ host: "127.0.0.1:5000", insecure: true, requestTimeoutSec: 0 }] });
  assert.equal(c.registry.configPath, "/etc/containerd/certs.d");
});

test("parseConfig() rejects wrong types and values with the key named", () => {
  assert.throws(() => parseConfig(`[pull_modes.soci_v1]\nenable = "yes"`), /pull_modes\.soci_v1\.enable: expected a boolean/);
  assert.throws(() => parseConfig(`[background_fetch]\ndrop_policy = "random"`), /drop_policy/);
  assert.throws(() => parseConfig(`[snapshotter]\nmin_layer_size = -1`), /min_layer_size/);
  assert.throws(() => parseConfig(`[content_store]\ntype = "x"`), /content_store\.type/);
  assert.throws(() => parseConfig(`[pull_modes\nenable = true`));
});

test("[prefetch]: enable defaults to false, max_concurrency to 0 (unlimited); both are read and type-checked", () => {
  assert.deepEqual(parseConfig("").prefetch, { enable: false, maxConcurrency: 0 });
  assert.deepEqual(parseConfig("[prefetch]\n").prefetch, { enable: false, maxConcurrency: 0 });
  assert.deepEqual(parseConfig("[prefetch]\nenable = true\n").prefetch, { enable: true, maxConcurrency: 0 });
  assert.deepEqual(parseConfig("[prefetch]\nenable = true\nmax_concurrency = 4\n").prefetch, { enable: true, maxConcurrency: 4 });
  assert.throws(() => parseConfig(`[prefetch]\nenable = "true"`), /Cannot load config key prefetch\.enable: expected a boolean/);
  assert.throws(() => parseConfig(`[prefetch]\nenable = 1`), /prefetch\.enable: expected a boolean/);
  assert.throws(() => parseConfig(`[prefetch]\nmax_concurrency = "4"`), /prefetch\.max_concurrency: expected a number/);
  assert.throws(() => parseConfig(`[prefetch]\nmax_concurrency = -1`), /prefetch\.max_concurrency: -1 is not a non-negative integer/);
  assert.throws(() => parseConfig(`[prefetch]\nmax_concurrency = 1.5`), /prefetch\.max_concurrency: 1\.5/);
  assert.throws(() => parseConfig(`prefetch = true`), /prefetch: expected a table/);
});

test("loadConfig(): a missing default file is defaults, a missing explicit one is NotFound", () => {
  const d = mkdtempSync(join(tmpdir(), "soci-cfg-"));
  try {
    assert.equal(loadConfig(join(d, "none.toml")).pullModes.sociV2.enable, true);
    assert.throws(() => loadConfig(join(d, "none.toml"), true), (e: Error & { code?: string }) => e.code === "not_found");
    writeFileSync(join(d, "c.toml"), "[pull_modes.soci_v1]\nenable = true\n");
    assert.equal(loadConfig(join(d, "c.toml"), true).pullModes.sociV1.enable, true);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test("upstream's [[resolver.host.\"…\".mirrors]] array-of-tables form is read like the inline form", () => {
  const c = parseConfig(`
[resolver.host."registry.example"]
  [[resolver.host."registry.example".mirrors]]
    host = "127.0.0.1:5000"
    insecure = true
  [[resolver.host."registry.example".mirrors]]
    host = "mirror.example"
`);
  assert.deepEqual(c.resolver.hosts["registry.example"].mirrors.map((m) => m.host), ["127.0.0.1:5000", "mirror.example"]);
  assert.equal(c.resolver.hosts["registry.example"].mirrors[0].insecure, true);
});
