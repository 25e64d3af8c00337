/**
 * `soci mount IMAGE DIR` (issue 5; snapshotter §7): mounts an image read-only
 * at DIR — layers with a zTOC lazily over FUSE, the others downloaded and
 * unpacked — merged with overlayfs, and returns once DIR is ready while a
 * detached daemon keeps serving (`--foreground` stays attached; Ctrl-C
 * unmounts). IMAGE is a registry reference, an OCI layout / archive, or a
 * pulled image path. `soci mount --stats DIR` prints the per-layer figures of
 * a running mount (`--json` for the status document).
 *
 * Defaults: `--root` /var/lib/soci-ts/mounts as root, else
 * $XDG_DATA_HOME/soci/mounts; background fetch off (so what a workload reads
 * is what is fetched); span cache 2 GiB (shared by the layers under --root); v1 indexes only with
 * `--soci-v1`; prefetch artifacts (formats §9.6) used only with `--prefetch`
 * (their spans are fetched before each layer is mounted; `--stats` shows
 * PREFETCHED and what happened). The daemon is this program started again with
 * `--foreground --ready-fd 3` and the resolved arguments.
 */
import { resolve } from "node:path";
import { UsageError } from "../../core-wasm/src/errors.ts";
import { parsePlatform } from "../../core-wasm/src/oci/mod.ts";
import { LocalStore } from "../../core-wasm/src/store/mod.ts";
import { defaultMountRoot, MountDir, readMountStatus, selfCommand, serveMount, startDetached, type MountStatus } from "../../snapshotter/mod.ts";
import { boolFlag, intFlag, stringFlag, type CommandSpec, type Context, type Flags } from "../command.ts";
import { locationOf } from "./_location.ts";
import { openSource, registryReferenceOf, repositoryOf } from "./_registry.ts";

const DEFAULT_SPAN_CACHE = 2 * 1024 * 1024 * 1024;

export function mountRootOf(ctx: Context, flags: Flags): string {
  const r = stringFlag(flags, "root", "--root");
  return r !== undefined ? resolve(ctx.cwd, r) : defaultMountRoot(ctx.env);
}

export const mountCommand: CommandSpec = {
  name: "mount",
  args: "<image> [dir]",
  description: "Mount an image read-only at DIR, lazily where it has a SOCI index (--stats DIR: figures of a mount)",
  options: [
    { flags: "--platform <platform>", description: "Platform to mount from a multi-platform image", defaultText: "the host's" },
    { flags: "--root <dir>", description: "State dir: span cache, unpacked layers, mount state", defaultText: "/var/lib/soci-ts/mounts as root, else $XDG_DATA_HOME/soci/mounts" },
    { flags: "--foreground", description: "Stay attached and serve until Ctrl-C (SIGINT) or soci umount" },
    { flags: "--background-fetch", description: "Fetch the remaining spans in the background while idle (--no-background-fetch: off)", defaultText: "off" },
    { flags: "--prefetch", description: "Fetch the spans listed in the SOCI index's prefetch artifacts before each layer is mounted", defaultText: "off" },
    { flags: "--span-cache-size <bytes>", description: "Span cache budget (all layers under --root)", defaultText: String(DEFAULT_SPAN_CACHE) },
    { flags: "--min-layer-size <bytes>", description: "Unpack layers smaller than this even when they have a zTOC", defaultText: "0" },
    { flags: "--soci-v1", description: "Also look for SOCI v1 indexes (referrers API, local store) when the image has no v2 index" },
    { flags: "--stats", description: "Print the per-layer figures of the mount at the one DIR argument" },
    { flags: "--ready-fd <fd>", description: "(internal) readiness pipe of a detaching parent" },
  ],
  examples: [
    "soci mount 127.0.0.1:5000/app:1-soci /mnt/app",
    "soci mount --platform linux/arm64 oci:./image /mnt/app",
    "soci mount --stats /mnt/app",
    "soci umount /mnt/app",
  ],
  async run(outerCtx, args, flags) {
    // The detached daemon gets `--user` through its environment, never its
    // command line (argv is world-readable in ps; /proc/PID/environ is not).
    const envUser = outerCtx.env[DAEMON_USER_ENV];
    const ctx: Context = envUser !== undefined && envUser !== "" && outerCtx.registry.user === undefined
      ? { ...outerCtx, env: { ...outerCtx.env, [DAEMON_USER_ENV]: undefined }, registry: { ...outerCtx.registry, user: envUser } }
      : outerCtx;
    const root = mountRootOf(ctx, flags);
    if (boolFlag(flags, "stats")) {
      if (args[1] !== undefined && args[1] !== "undefined") throw new UsageError("Cannot use --stats with an image: pass only the mounted DIR", { hint: "soci mount --stats DIR" });
      return printStats(ctx, await readMountStatus({ root, target: resolve(ctx.cwd, args[0] as string) }));
    }
    const dirArg = args[1];
    if (dirArg === undefined || dirArg === "undefined") throw new UsageError("Cannot run \"mount\": missing DIR (usage: soci mount IMAGE DIR)");
    const target = resolve(ctx.cwd, dirArg as string);
    const location = locationOf(ctx, args[0] as string);
    const platformText = stringFlag(flags, "platform", "--platform");
    const spanCacheBytes = intFlag(flags, "spanCacheSize", "--span-cache-size", DEFAULT_SPAN_CACHE, 1 << 20);
    const minLayerSize = intFlag(flags, "minLayerSize", "--min-layer-size", 0, 0);
    const readyFd = stringFlag(flags, "readyFd", "--ready-fd");
    if (boolFlag(flags, "foreground") || readyFd !== undefined) {
      const ref = registryReferenceOf(location);
      const log = (line: string) => ctx.out.stderr.write(`${new Date().toISOString()} soci mount: ${line}\n`);
      await serveMount({
        source: await openSource(ctx, location),
        ...(ref ? { repository: repositoryOf(ctx, ref) } : {}),
        // The store only holds v1 indexes (soci create) and their zTOCs.
        ...(boolFlag(flags, "sociV1") ? { store: await LocalStore.open(ctx.storeDir) } : {}),
        target, root,
        ...(platformText ? { platform: parsePlatform(platformText) } : {}),
        sociV1: boolFlag(flags, "sociV1"),
        backgroundFetch: boolFlag(flags, "backgroundFetch"),
        prefetch: boolFlag(flags, "prefetch"),
        spanCacheBytes, minLayerSize, log,
        ...(readyFd !== undefined ? { readyFd: Number(readyFd) } : {}),
        onReady: (r) => {
          if (readyFd === undefined) ctx.out.info(`mounted ${location} at ${r.target} (${r.layers} layers: ${r.lazy} lazy, ${r.unpacked} unpacked); Ctrl-C unmounts`);
        },
      });
      return;
    }
    const self = selfCommand(ctx.workerUrl, ctx.env);
    if (self === null) throw new UsageError("Cannot start the mount daemon: this program's path is unknown", { hint: "Pass --foreground, or set SOCI_PROGRAM to the soci program" });
    const r = ctx.registry;
    const argv = [
      ...self, "--store", ctx.storeDir,
      ...(r.plainHttp ? ["--plain-http"] : []),
      ...r.insecureHosts.flatMap((h) => ["--insecure-registry", h]),
      ...(r.hostsDir ? ["--hosts-dir", r.hostsDir] : []),
      "--max-concurrent-downloads", String(r.maxConcurrentDownloads),
      ...(r.timeoutSeconds !== undefined ? ["--registry-timeout", String(r.timeoutSeconds)] : []),
      ...(ctx.out.debug ? ["--debug"] : []),
      "mount", "--ready-fd", "3", "--root", root,
      ...(platformText ? ["--platform", platformText] : []),
      ...(boolFlag(flags, "sociV1") ? ["--soci-v1"] : []),
      ...(boolFlag(flags, "backgroundFetch") ? ["--background-fetch"] : []),
      ...(boolFlag(flags, "prefetch") ? ["--prefetch"] : []),
      "--span-cache-size", String(spanCacheBytes), "--min-layer-size", String(minLayerSize),
      location, target,
    ];
    const env = { ...ctx.env, ...(r.user ? { [DAEMON_USER_ENV]: r.user } : {}) };
    const ready = await startDetached(argv, { logPath: new MountDir(root, target).logPath, env, cwd: ctx.cwd });
    if (ctx.out.json) ctx.out.printJson(ready);
    else if (ctx.out.quiet) ctx.out.line(target);
    else {
      ctx.out.line(`mounted ${location} at ${ready.target} (pid ${ready.pid}; ${ready.layers} layers: ${ready.lazy} lazy, ${ready.unpacked} unpacked)`);
      if (ready.note) ctx.out.line(`note: every layer was downloaded and unpacked: ${ready.note}`);
    }
  },
};

/** Carries `--user` from `soci mount` to its detached daemon. */
const DAEMON_USER_ENV = "SOCI_MOUNT_REGISTRY_USER";

const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;

function printStats(ctx: Context, s: MountStatus): void {
  if (ctx.out.json) return ctx.out.printJson(s);
  ctx.out.line(`${s.target}: ${s.image} (${s.platform}, manifest ${s.manifestDigest}), pid ${s.pid}, ${s.state}`);
  ctx.out.line(s.sociIndex ? `SOCI index ${s.sociIndex.digest} (${s.sociIndex.version})` : `no SOCI index: ${s.note ?? "every layer unpacked"}`);
  const rows = s.layers.map((l, n) => [
    String(n), l.digest, l.mode, l.mode === "lazy" ? `${l.spansFetched}/${l.spansFromCache}/${l.spanCount}` : "-",
    `${mib(l.bytesFetched)} / ${mib(l.size)}`, l.mode === "lazy" ? String(l.fetchErrors) : "-",
    l.mode === "lazy" && l.prefetch !== undefined ? String(l.prefetchedSpans ?? 0) : "-", l.reason ?? "",
  ]);
  ctx.out.table(["LAYER", "DIGEST", "MODE", "SPANS FETCHED/CACHED/TOTAL", "FETCHED / SIZE", "ERRORS", "PREFETCHED", "WHY UNPACKED"], rows);
  s.layers.forEach((l, n) => {
    if (l.mode === "lazy" && l.prefetch !== undefined) ctx.out.line(`layer ${n} prefetch: ${l.prefetch}`);
  });
  const fetched = s.layers.reduce((a, l) => a + l.bytesFetched, 0);
  const size = s.layers.reduce((a, l) => a + l.size, 0);
  ctx.out.line(`total: ${mib(fetched)} fetched of ${mib(size)} (${size > 0 ? ((100 * fetched) / size).toFixed(1) : "0.0"}%)`);
}
