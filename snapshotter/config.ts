/**
 * The snapshotter's TOML configuration (snapshotter §13), upstream-compatible:
 * the same tables, keys and defaults as `soci-snapshotter-grpc`'s
 * config.toml. Keys we parse but do not act on are kept so a file written for
 * upstream loads unchanged; unknown keys are ignored as upstream does.
 * Our extensions: `[directory_cache] max_cache_bytes` (span cache budget per
 * layer, default 1 GiB) and `[registry] config_path` = a containerd hosts.toml directory
 * (mirrors, plain-http endpoints). Loopback registries always use plain HTTP.
 * `[prefetch] enable` (default false) and `max_concurrency` (default 0 =
 * unlimited; a non-negative integer) act on the SOCI index's prefetch
 * artifacts (formats §9.6): a lazily mounted layer's listed spans are fetched
 * before the layer is reported ready; `max_concurrency` bounds how many of one
 * layer's span ranges are fetched at once (the registry's range-request limit
 * applies on top).
 *
 * A missing file at the default path means defaults; a missing file that was
 * asked for explicitly is an error.
 *
 * Not here: command-line flags (daemon/), acting on the values.
 */
import { readFileSync } from "node:fs";
import { InvalidArgumentError, NotFoundError } from "../core-wasm/src/errors.ts";
import { parseToml, type TomlTable, type TomlValue } from "../core-wasm/src/registry/mod.ts";

export const DEFAULT_CONFIG_PATH = "/etc/soci-snapshotter-grpc/config.toml";
export const DEFAULT_ROOT = "/var/lib/soci-snapshotter-grpc";
export const DEFAULT_ADDRESS = "/run/soci-snapshotter-grpc/soci-snapshotter-grpc.sock";

export interface MirrorConfig {
  host: string;
  insecure: boolean;
  requestTimeoutSec: number;
}

export interface SnapshotterConfig {
  metricsAddress: string;
  skipCheckSnapshotterSupported: boolean;
  disableVerification: boolean;
  maxConcurrency: number;
  mountTimeoutSec: number;
  http: { dialTimeoutMsec: number; responseHeaderTimeoutMsec: number; requestTimeoutMsec: number; maxRetries: number; minWaitMsec: number; maxWaitMsec: number };
  blob: { validInterval: number; checkAlways: boolean; fetchingTimeoutSec: number; maxSpanVerificationRetries: number; forceSingleRangeMode: boolean };
  /** `max_cache_bytes` is ours: the span cache budget per layer. */
  directoryCache: { maxLruCacheEntry: number; maxCacheFds: number; direct: boolean; maxCacheBytes: number };
  fuse: { attrTimeout: number; entryTimeout: number; negativeTimeout: number; logFuseOperations: boolean };
  backgroundFetch: { disable: boolean; silencePeriodMsec: number; fetchPeriodMsec: number; maxQueueSize: number; dropPolicy: "newest" | "oldest"; emitMetricPeriodSec: number };
  contentStore: { type: "soci" | "containerd"; containerdAddress: string };
  pullModes: { sociV1: { enable: boolean }; sociV2: { enable: boolean }; parallelPullUnpack: { enable: boolean } };
  resolver: { hosts: Record<string, { mirrors: MirrorConfig[] }> };
  snapshotter: { minLayerSize: number; allowInvalidMountsOnRestart: boolean };
  /** Prefetch artifacts (formats §9.6): `maxConcurrency` 0 = unlimited. */
  prefetch: { enable: boolean; maxConcurrency: number };
  /** Ours: containerd hosts.toml directory. */
  registry: { configPath: string };
}

type Getter = <T extends TomlValue>(key: string, fallback: T) => T;

function table(t: TomlTable | undefined, where: string): { get: Getter; sub: (k: string) => TomlTable | undefined } {
  const get: Getter = (key, fallback) => {
    const v = t?.[key];
    if (v === undefined) return fallback;
    if (typeof v !== typeof fallback || Array.isArray(v) !== Array.isArray(fallback)) {
      throw new InvalidArgumentError(`Cannot load config key ${where}${key}: expected a ${typeof fallback}, got ${JSON.stringify(v)}`);
    }
    return v as typeof fallback;
  };
  const sub = (k: string) => {
    const v = t?.[k];
    if (v === undefined) return undefined;
    if (typeof v !== "object" || Array.isArray(v)) throw new InvalidArgumentError(`Cannot load config key ${where}${k}: expected a table`);
    return v as TomlTable;
  };
  return { get, sub };
}

/** A typed config from TOML text (defaults for every absent key). Throws InvalidArgumentError/FormatError. */
export function parseConfig(text: string, source = "config.toml"): SnapshotterConfig {
  const top = table(parseToml(text, source), "");
  const http = table(top.sub("http"), "http.");
  const blob = table(top.sub("blob"), "blob.");
  const dc = table(top.sub("directory_cache"), "directory_cache.");
  const fuse = table(top.sub("fuse"), "fuse.");
  const bf = table(top.sub("background_fetch"), "background_fetch.");
  const cs = table(top.sub("content_store"), "content_store.");
  const pm = table(top.sub("pull_modes"), "pull_modes.");
  const v1 = table(pm.sub("soci_v1"), "pull_modes.soci_v1.");
  const v2 = table(pm.sub("soci_v2"), "pull_modes.soci_v2.");
  const pp = table(pm.sub("parallel_pull_unpack"), "pull_modes.parallel_pull_unpack.");
  const snap = table(top.sub("snapshotter"), "snapshotter.");
  const reg = table(top.sub("registry"), "registry.");
  const pf = table(top.sub("prefetch"), "prefetch.");
  const resolverHosts = table(table(top.sub("resolver"), "resolver.").sub("host"), "resolver.host.");

  const dropPolicy = bf.get("drop_policy", "newest");
  if (dropPolicy !== "newest" && dropPolicy !== "oldest") {
    throw new InvalidArgumentError(`Cannot load config key background_fetch.drop_policy: ${JSON.stringify(dropPolicy)} is not "newest" or "oldest"`);
  }
  const csType = cs.get("type", "soci");
  if (csType !== "soci" && csType !== "containerd") throw new InvalidArgumentError(`Cannot load config key content_store.type: ${JSON.stringify(csType)} is not "soci" or "containerd"`);
  const maxRetries = http.get("MaxRetries", 8);
  const hosts: SnapshotterConfig["resolver"]["hosts"] = {};
  for (const h of Object.keys(top.sub("resolver")?.host as TomlTable ?? {})) {
    const mirrors = (table(resolverHosts.sub(h), `resolver.host.${h}.`).get("mirrors", [] as TomlValue[]) as TomlTable[]).map((m, i) => {
      const mt = table(m, `resolver.host.${h}.mirrors[${i}].`);
      return { host: mt.get("host", ""), insecure: mt.get("insecure", false), requestTimeoutSec: mt.get("request_timeout_sec", 0) };
    });
    hosts[h] = { mirrors };
  }
  const queue: number = bf.get<number>("max_queue_size", 300);
  const minLayerSize: number = snap.get<number>("min_layer_size", 0);
  if (minLayerSize < 0) throw new InvalidArgumentError(`Cannot load config key snapshotter.min_layer_size: ${minLayerSize} is negative`);
  const prefetchConcurrency: number = pf.get<number>("max_concurrency", 0);
  if (!(Number.isSafeInteger(prefetchConcurrency) && prefetchConcurrency >= 0)) {
    throw new InvalidArgumentError(`Cannot load config key prefetch.max_concurrency: ${prefetchConcurrency} is not a non-negative integer`, { hint: "Use 0 for unlimited" });
  }
  return {
    metricsAddress: top.get("metrics_address", ""),
    skipCheckSnapshotterSupported: top.get("skip_check_snapshotter_supported", false),
    disableVerification: top.get("disable_verification", false),
    maxConcurrency: top.get("max_concurrency", 100),
    mountTimeoutSec: top.get("mount_timeout_sec", 30),
    http: {
      dialTimeoutMsec: http.get("DialTimeoutMsec", 3000),
      responseHeaderTimeoutMsec: http.get("ResponseHeaderTimeoutMsec", 3000),
      requestTimeoutMsec: http.get("RequestTimeoutMsec", 300000),
      maxRetries,
      minWaitMsec: http.get("MinWaitMsec", 30),
      maxWaitMsec: http.get("MaxWaitMsec", 300000),
    },
    blob: {
      validInterval: blob.get("valid_interval", 60),
      checkAlways: blob.get("check_always", false),
      fetchingTimeoutSec: blob.get("fetching_timeout_sec", 300),
      maxSpanVerificationRetries: blob.get("max_span_verification_retries", 0),
      forceSingleRangeMode: blob.get("force_single_range_mode", false),
    },
    directoryCache: { maxLruCacheEntry: dc.get("max_lru_cache_entry", 0) || 10, maxCacheFds: dc.get("max_cache_fds", 0) || 10, direct: dc.get("direct", true), maxCacheBytes: dc.get("max_cache_bytes", 1024 * 1024 * 1024) },
    fuse: { attrTimeout: fuse.get("attr_timeout", 1), entryTimeout: fuse.get("entry_timeout", 1), negativeTimeout: fuse.get("negative_timeout", 1), logFuseOperations: fuse.get("log_fuse_operations", false) },
    backgroundFetch: {
      disable: bf.get("disable", false),
      silencePeriodMsec: bf.get("silence_period_msec", 30000),
      fetchPeriodMsec: bf.get("fetch_period_msec", 500),
      maxQueueSize: queue === 0 ? 300 : queue,
      dropPolicy,
      emitMetricPeriodSec: bf.get("emit_metric_period_sec", 10),
    },
    contentStore: { type: csType, containerdAddress: cs.get("containerd_address", "/run/containerd/containerd.sock").replace(/^unix:\/\//, "") },
    pullModes: { sociV1: { enable: v1.get("enable", false) }, sociV2: { enable: v2.get("enable", true) }, parallelPullUnpack: { enable: pp.get("enable", false) } },
    resolver: { hosts },
    snapshotter: { minLayerSize, allowInvalidMountsOnRestart: snap.get("allow_invalid_mounts_on_restart", false) },
    prefetch: { enable: pf.get("enable", false), maxConcurrency: prefetchConcurrency },
    registry: { configPath: reg.get("config_path", "") },
  };
}

/** Loads `path`; a missing file is defaults only when `explicit` is false. */
export function loadConfig(path = DEFAULT_CONFIG_PATH, explicit = false): SnapshotterConfig {
  let text = "";
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    if (explicit) throw new NotFoundError(`Cannot load config ${JSON.stringify(path)}: no such file`, { hint: "Pass --config with an existing file, or leave it out for defaults" });
  }
  return parseConfig(text, path);
}
