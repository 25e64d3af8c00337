/**
 * `soci snapshotter` — the containerd remote snapshotter daemon, flags as
 * upstream's `soci-snapshotter-grpc` (snapshotter §12): `--address`
 * (`SOCI_SNAPSHOTTER_ADDRESS`), `--config` (`SOCI_SNAPSHOTTER_CONFIG`),
 * `--root` (`SOCI_SNAPSHOTTER_ROOT`), `--log-level`
 * (`SOCI_SNAPSHOTTER_LOG_LEVEL`). Runs in the foreground until SIGINT
 * (unmount all, exit) or SIGTERM (exit, mounts restored at the next start).
 *
 * `soci snapshotter status` prints which pull mode each layer got and why,
 * with the bytes fetched and, for layers with a prefetch artifact, the spans
 * prefetched (`[prefetch] enable`), from the daemon's status file under `--root`.
 */
import { UsageError } from "../../core-wasm/src/errors.ts";
import { readSnapshotterStatus, runSnapshotterDaemon, SNAPSHOTTER_DEFAULTS } from "../../snapshotter/mod.ts";
import { stringFlag, type CommandSpec } from "../command.ts";

export const snapshotterCommand: CommandSpec = {
  name: "snapshotter",
  args: "[action]",
  description: "Run the containerd remote snapshotter (lazy pulls with SOCI); \"snapshotter status\" shows per-layer pull modes",
  options: [
    { flags: "--address <path>", description: "Unix socket to serve containerd's Snapshots API on", defaultText: SNAPSHOTTER_DEFAULTS.address },
    { flags: "--config <file>", description: "Config TOML (upstream-compatible keys)", defaultText: SNAPSHOTTER_DEFAULTS.config },
    { flags: "--root <dir>", description: "State directory", defaultText: SNAPSHOTTER_DEFAULTS.root },
    { flags: "--log-level <level>", description: "debug, info, warn or error (JSON lines on stderr)", defaultText: "info" },
  ],
  examples: ["soci snapshotter --root /var/lib/soci-snapshotter-grpc", "soci snapshotter status --root /var/lib/soci-snapshotter-grpc"],
  async run(ctx, args, flags) {
    const action = args[0] as string | undefined;
    const root = stringFlag(flags, "root", "--root", (ctx.env.SOCI_SNAPSHOTTER_ROOT || undefined) ?? SNAPSHOTTER_DEFAULTS.root)!;
    if (action === "status") {
      const s = await readSnapshotterStatus(root);
      if (ctx.out.json) return ctx.out.printJson(s);
      ctx.out.line(`snapshotter ${s.running ? "running" : "not running"} (pid ${s.pid}, ${s.address}), status at ${s.updatedAt}`);
      const rows: string[][] = [];
      const notes: string[] = [];
      for (const img of s.images) {
        for (const l of img.layers) {
          rows.push([img.ref, l.digest, l.mode, String(l.bytesFetched), String(l.size), l.prefetch !== undefined ? String(l.prefetchedSpans ?? 0) : "-", l.reason]);
          if (l.prefetch !== undefined) notes.push(`${l.digest} prefetch: ${l.prefetch}`);
        }
      }
      ctx.out.table(["IMAGE", "LAYER", "MODE", "FETCHED", "SIZE", "PREFETCHED", "REASON"], rows);
      for (const n of notes) ctx.out.line(n);
      return;
    }
    if (action !== undefined) throw new UsageError(`Cannot run "snapshotter ${action}": unknown action`, { hint: 'Use "soci snapshotter" to run the daemon or "soci snapshotter status"' });
    const config = stringFlag(flags, "config", "--config", ctx.env.SOCI_SNAPSHOTTER_CONFIG || undefined);
    await runSnapshotterDaemon({
      address: stringFlag(flags, "address", "--address", (ctx.env.SOCI_SNAPSHOTTER_ADDRESS || undefined) ?? SNAPSHOTTER_DEFAULTS.address)!,
      root,
      config: config ?? SNAPSHOTTER_DEFAULTS.config,
      configExplicit: config !== undefined,
      logLevel: stringFlag(flags, "logLevel", "--log-level", (ctx.env.SOCI_SNAPSHOTTER_LOG_LEVEL || undefined) ?? "info")!,
    });
  },
};
