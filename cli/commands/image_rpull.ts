/**
 * `soci image rpull REF` (snapshotter §3.2): pulls a registry image into
 * containerd (`--address`, `--namespace`, `--snapshotter`, default `soci`)
 * with the labels that let the SOCI snapshotter mount layers lazily, then
 * prints per layer whether it was lazy and the bytes this command fetched.
 * Registry flags (`--plain-http`, `--hosts-dir`, `-u`) apply as elsewhere.
 */
import { UsageError } from "../../core-wasm/src/errors.ts";
import { parsePlatform } from "../../core-wasm/src/oci/mod.ts";
import { rpull } from "../../snapshotter/mod.ts";
import { stringFlag, type CommandSpec } from "../command.ts";
import { formatReference, openRegistrySource, registryReferenceOf } from "./_registry.ts";

export const imageRpullCommand: CommandSpec = {
  name: "image rpull",
  args: "<ref>",
  description: "Pull an image into containerd for lazy loading by the SOCI snapshotter",
  options: [
    { flags: "--address <path>", description: "containerd's socket", defaultText: "/run/containerd/containerd.sock" },
    { flags: "-n, --namespace <ns>", description: "containerd namespace", defaultText: "default" },
    { flags: "--snapshotter <name>", description: "containerd snapshotter (the proxy plugin name)", defaultText: "soci" },
    { flags: "--platform <platform>", description: "Platform to pull", defaultText: "the host's" },
    { flags: "--soci-index-digest <digest>", description: "Use this SOCI index instead of discovering one" },
  ],
  examples: ["soci image rpull --address /run/containerd/containerd.sock 127.0.0.1:5000/app:1"],
  async run(ctx, args, flags) {
    const text = args[0] as string;
    const ref = registryReferenceOf(text);
    if (ref === undefined) throw new UsageError(`Cannot pull ${JSON.stringify(text)}: it is not a registry reference`, { hint: "Pass registry/repository:tag" });
    const platformText = stringFlag(flags, "platform", "--platform");
    const indexDigest = stringFlag(flags, "sociIndexDigest", "--soci-index-digest");
    const imageName = formatReference(ref);
    const r = await rpull({
      source: openRegistrySource(ctx, ref),
      imageName,
      address: stringFlag(flags, "address", "--address", ctx.env.CONTAINERD_ADDRESS ?? "/run/containerd/containerd.sock")!,
      namespace: stringFlag(flags, "namespace", "--namespace", ctx.env.CONTAINERD_NAMESPACE ?? "default")!,
      snapshotter: stringFlag(flags, "snapshotter", "--snapshotter", "soci")!,
      ...(platformText ? { platform: parsePlatform(platformText) } : {}),
      ...(indexDigest ? { sociIndexDigest: indexDigest } : {}),
      log: (line) => ctx.out.trace(line),
    });
    if (ctx.out.json) return ctx.out.printJson(r);
    if (ctx.out.quiet) return ctx.out.line(r.manifestDigest);
    ctx.out.info(`pulled ${imageName} (${r.manifestDigest}, ${r.platform})`);
    ctx.out.table(
      ["LAYER", "CHAIN ID", "SIZE", "MODE", "FETCHED"],
      r.layers.map((l) => [l.digest, l.chainId, String(l.size), l.mode, String(l.bytesFetched)]),
    );
    const total = r.layers.reduce((s, l) => s + l.size, 0);
    ctx.out.info(`fetched ${r.bytesFetched} bytes by rpull; layers total ${total} bytes; lazy layers: ${r.layers.filter((l) => l.mode === "lazy").length} of ${r.layers.length}`);
  },
};
