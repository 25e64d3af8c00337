/**
 * `soci snapshotter`: the containerd remote snapshotter daemon (snapshotter
 * §1, §12, §12.1). Start order: config → snapshot records → registry client
 * and layer manager → remote handler → restore the lazy mounts of remote
 * snapshots (refuse to start if one fails, unless
 * `allow_invalid_mounts_on_restart`) → listen on the socket → status file.
 * Stop: SIGINT unmounts every FUSE mount then exits; SIGTERM exits leaving
 * them (a later start cleans and re-mounts them), as upstream.
 *
 * Layout under `--root`: `snapshotter/` (records, snapshot dirs), `soci/`
 * (span caches and unpacked layers of the layer manager), `status.json`.
 *
 * Not here: the gRPC translation (grpc/), snapshot rules (snapshots/).
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { SociError } from "../../core-wasm/src/errors.ts";
import { chainCredentials, defaultDockerConfigPath, dockerConfigCredentials, RegistryClient, resolveHosts, type RegistryHost } from "../../core-wasm/src/registry/mod.ts";
import { DEFAULT_ADDRESS, DEFAULT_CONFIG_PATH, DEFAULT_ROOT, loadConfig, type SnapshotterConfig } from "../config.ts";
import { serveSnapshots, socketPathOf, type RunningServer } from "../grpc/mod.ts";
import { LayerManager } from "../layers/mod.ts";
import { PullLog, SociRemote, Snapshotter } from "../snapshots/mod.ts";
import { jsonLogger, parseLogLevel, type LogFn } from "./log.ts";

export interface SnapshotterDaemonOptions {
  address?: string;
  root?: string;
  /** Config file; `configExplicit` makes a missing file an error. */
  config?: string;
  configExplicit?: boolean;
  logLevel?: string;
  /** Where log lines go (default stderr). */
  writeLog?: (line: string) => void;
}

export interface RunningDaemon {
  address: string;
  root: string;
  /** Stops serving; `unmount` releases every FUSE mount (SIGINT), otherwise they stay (SIGTERM). */
  stop(unmount: boolean): Promise<void>;
}

/**
 * The registry client of the daemon: loopback over http, `[registry]
 * config_path` hosts.toml, `[resolver.host]` mirrors first, credentials from
 * the daemon user's Docker config (§11.2; no kubeconfig/CRI keychains).
 */
export function daemonRegistryClient(config: SnapshotterConfig, env: NodeJS.ProcessEnv = process.env): RegistryClient {
  const hostOpts = { plainHttpLoopback: true, ...(config.registry.configPath ? { hostsDir: config.registry.configPath } : {}) };
  const dockerConfig = defaultDockerConfigPath(env);
  return new RegistryClient({
    ...hostOpts,
    credentials: chainCredentials(...(dockerConfig !== undefined ? [dockerConfigCredentials({ path: dockerConfig, env })] : [])),
    resolveHosts: async (registry: string): Promise<RegistryHost[]> => {
      const own = await resolveHosts(registry, hostOpts);
      const mirrors: RegistryHost[] = [];
      for (const m of config.resolver.hosts[registry]?.mirrors ?? []) {
        const [h] = await resolveHosts(m.host, { ...hostOpts, insecureHosts: m.insecure ? [m.host] : [] });
        if (h) mirrors.push({ ...h, isMirror: true });
      }
      return [...mirrors, ...own];
    },
  });
}

export async function startSnapshotterDaemon(opts: SnapshotterDaemonOptions = {}): Promise<RunningDaemon> {
  const log: LogFn = jsonLogger(parseLogLevel(opts.logLevel ?? "info"), opts.writeLog ?? ((l) => process.stderr.write(l)));
  const config = loadConfig(opts.config ?? DEFAULT_CONFIG_PATH, opts.configExplicit ?? false);
  const root = opts.root ?? DEFAULT_ROOT;
  const address = opts.address ?? DEFAULT_ADDRESS;
  socketPathOf(address);
  await mkdir(root, { recursive: true, mode: 0o700 });

  const snapshots = await Snapshotter.open(join(root, "snapshotter"), { log });
  const layers = new LayerManager({
    root: join(root, "soci"),
    spanCacheBytes: config.directoryCache.maxCacheBytes,
    backgroundFetch: !config.backgroundFetch.disable,
    backgroundSilenceMs: config.backgroundFetch.silencePeriodMsec,
    backgroundPeriodMs: config.backgroundFetch.fetchPeriodMsec,
    backgroundMaxQueue: config.backgroundFetch.maxQueueSize,
    backgroundDropPolicy: config.backgroundFetch.dropPolicy,
    prefetch: { enable: config.prefetch.enable, maxConcurrency: config.prefetch.maxConcurrency },
    privileged: process.getuid?.() === 0,
    disableVerification: config.disableVerification,
    log: (line) => log("debug", line),
  });
  let remote: SociRemote;
  const pullLog = new PullLog(root, address, (doc) => {
    const stats = new Map(layers.stats().map((s) => [s.digest, s]));
    for (const img of doc.images) {
      for (const l of img.layers) {
        const s = stats.get(l.digest);
        if (l.mode === "lazy" && s) {
          l.bytesFetched = s.bytesFetched;
          if (s.prefetch !== undefined) [l.prefetchedSpans, l.prefetch] = [s.prefetchedSpans, s.prefetch];
        }
        if (l.mode === "unpacked") l.bytesFetched = remote.unpackedBytes.get(l.digest) ?? l.bytesFetched;
      }
    }
  });
  remote = new SociRemote({ config, layers, registry: daemonRegistryClient(config), pullLog, log });
  snapshots.setRemote(remote);

  for (const { info, fsDir } of snapshots.remoteSnapshots()) {
    try {
      await remote.restore(info, fsDir);
      log("info", "restored remote snapshot", { name: info.name, fsDir });
    } catch (e) {
      if (!config.snapshotter.allowInvalidMountsOnRestart) {
        await layers.close();
        throw new SociError(`Cannot start the snapshotter: remote snapshot ${JSON.stringify(info.name)} could not be mounted again: ${(e as Error).message}`, {
          cause: e,
          hint: "Set [snapshotter] allow_invalid_mounts_on_restart = true to start anyway, then remove the snapshot",
        });
      }
      log("warn", "remote snapshot left unavailable after restart", { name: info.name, error: (e as Error).message });
    }
  }

  let server: RunningServer;
  try {
    server = await serveSnapshots(snapshots, address, log);
  } catch (e) {
    await layers.close();
    throw e;
  }
  pullLog.start();
  await pullLog.flush();
  log("info", "soci snapshotter serving", { address: server.socketPath, root, pid: process.pid, sociV1: config.pullModes.sociV1.enable, sociV2: config.pullModes.sociV2.enable, prefetch: config.prefetch.enable });
  return {
    address: server.socketPath,
    root,
    async stop(unmount: boolean) {
      await server.close();
      await pullLog.stop();
      if (unmount) await layers.close();
      log("info", "soci snapshotter stopped", { unmounted: unmount });
    },
  };
}

/** Runs the daemon until SIGINT (unmount, exit) or SIGTERM (exit, mounts left for the next start); ends the process. */
export async function runSnapshotterDaemon(opts: SnapshotterDaemonOptions = {}): Promise<void> {
  const d = await startSnapshotterDaemon(opts);
  const sig = await new Promise<NodeJS.Signals>((resolve) => {
    process.once("SIGINT", () => resolve("SIGINT"));
    process.once("SIGTERM", () => resolve("SIGTERM"));
  });
  await d.stop(sig === "SIGINT");
  if (sig === "SIGTERM") {
    // SIGTERM leaves the FUSE mounts up, so device-reader threads stay blocked in
    // read(2) and a normal exit would wait for them forever. End the process the
    // way SIGTERM's default action does (status "terminated by SIGTERM", a clean
    // stop to service managers), with SIGKILL as the fallback if something still
    // catches it; the mounts become stale and are restored at the next start (§12.1).
    process.removeAllListeners("SIGTERM");
    setTimeout(() => process.kill(process.pid, "SIGKILL"), 2000);
    process.kill(process.pid, "SIGTERM");
    return;
  }
  process.exit(0);
}

export { DEFAULT_ADDRESS, DEFAULT_CONFIG_PATH, DEFAULT_ROOT };
