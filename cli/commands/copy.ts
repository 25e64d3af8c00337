/**
 * `soci copy SRC DST` (ours): copies an image — every platform, every SOCI
 * index v2 (they are entries of the image index) — between registries, OCI
 * layouts and archives with every digest unchanged, the OCI index's included
 * (skopeo 1.9 drops `artifactType` from index entries and so changes it;
 * real-components §2). Blobs stream from source to destination; within one
 * registry they are mounted across repositories; the destination tag is
 * written last. Between two registries, SOCI index v1 referrers of the
 * image's manifests are copied too (referrers API or tag schema).
 *
 * Prints the image digest; `--json` one document.
 */
import { UsageError } from "../../core-wasm/src/errors.ts";
import { MEDIA_TYPE_SOCI_INDEX_V1, openImageSink, type ImageTarget } from "../../core-wasm/src/oci/mod.ts";
import { copyImage, copyReferrers, RegistryImageSource, type CopiedReferrer } from "../../core-wasm/src/registry/mod.ts";
import { choiceFlag, type CommandSpec } from "../command.ts";
import { FORMATS } from "./convert.ts";
import { locationOf, sinkLocationOf } from "./_location.ts";
import { formatReference, openRegistrySink, openSource, repositoryOf } from "./_registry.ts";

export const copyCommand: CommandSpec = {
  name: "copy",
  aliases: ["cp"],
  args: "<src> <dst>",
  description: "Copy an image with all its platforms and SOCI indexes, keeping every digest",
  options: [{ flags: "--format <format>", description: "Format of a local DST path: oci-archive or oci-dir", defaultText: "oci-dir" }],
  examples: ["soci copy 127.0.0.1:5000/app:1-soci 127.0.0.1:5001/app:1-soci", "soci copy ./app-soci 127.0.0.1:5000/app:1-soci"],
  async run(ctx, args, flags) {
    const [src, dst] = args as string[];
    const { out } = ctx;
    const format = choiceFlag(flags, "format", "--format", FORMATS, "oci-dir");
    const d = sinkLocationOf(ctx, dst, format);
    const source = await openSource(ctx, locationOf(ctx, src));
    try {
      let target: ImageTarget;
      if (d.registry) {
        const tag = d.registry.digest === undefined ? (d.registry.tag ?? "latest") : undefined;
        target = { sink: openRegistrySink(ctx, d.registry, source), ...(tag ? { tag } : {}) };
      } else target = await openImageSink(d.location, format);
      const copied = await copyImage(source, target.sink, { ...(target.tag ? { tag: target.tag } : {}), concurrency: Math.max(ctx.registry.maxConcurrentDownloads, ctx.registry.maxConcurrentUploads) });
      let referrers: CopiedReferrer[] = [];
      if (d.registry && source instanceof RegistryImageSource) {
        if (d.registry.digest !== undefined && d.registry.digest !== copied.descriptor.digest) {
          throw new UsageError(`Cannot copy to ${dst}: the image has digest ${copied.descriptor.digest}`);
        }
        referrers = await copyReferrers(source.repo, repositoryOf(ctx, d.registry), copied.manifests.map((m) => m.digest), MEDIA_TYPE_SOCI_INDEX_V1);
      }
      for (const r of referrers) out.info(`soci index ${r.descriptor.digest} (v1) copied for manifest ${r.subject}`);
      const where = d.registry ? formatReference({ ...d.registry, ...(target.tag ? { tag: target.tag } : {}) }) : d.ref;
      if (out.json) {
        out.printJson({ image: { mediaType: copied.descriptor.mediaType, digest: copied.descriptor.digest, size: copied.descriptor.size }, destination: where, manifests: copied.manifests.length, blobs: copied.blobs, referrers: referrers.map((r) => r.descriptor.digest) });
      } else if (out.quiet) out.line(copied.descriptor.digest);
      else out.info(`copied image ${copied.descriptor.digest} to ${where} (${copied.manifests.length} manifests, ${copied.blobs} blobs)`);
    } finally {
      await source.close();
    }
  },
};
