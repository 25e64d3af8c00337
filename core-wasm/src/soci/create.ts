/**
 * `soci create` (formats §11.2): one SOCI index v1 per platform, attached to
 * the platform's image manifest through `subject` (as found in the source:
 * media type, digest, size). The image itself is not changed; the zTOCs, the
 * prefetch artifacts (formats §9.6), the `{}` config and the indexes go to
 * `sink` when one is given (the local store), without setting a root.
 *
 * A platform whose layers are all skipped gets no index; when no platform
 * gets one the result carries a notice instead of failing (see convert.ts).
 *
 * Not here: records (store_records.ts), pushing (registry/).
 */
import type { Descriptor, ImageSink, ImageSource, Platform } from "../oci/mod.ts";
import { planImage, type PlanOptions } from "./plan_image.ts";
import { buildIndexForManifest, platformIndex, type IndexBuildOptions, type PlatformIndex } from "./build_soci_index.ts";
import { noIndexNotice, type Notice } from "./convert.ts";
import { putSociArtifacts } from "./soci_index.ts";

export interface CreateOptions extends IndexBuildOptions, PlanOptions {}

export interface CreatedIndex extends PlatformIndex {
  platform: Platform;
  /** The image manifest the index is for (its subject). */
  imageManifest: Descriptor;
}

export interface CreateResult {
  /** The root the source resolved to (manifest or index). */
  image: Descriptor;
  indexes: CreatedIndex[];
  notice?: Notice;
}

/** Builds v1 indexes; errors as for `convertImage` (nothing is written to `sink` for a platform that failed). */
export async function createSociIndexes(source: ImageSource, opts: CreateOptions, sink?: ImageSink): Promise<CreateResult> {
  const plan = await planImage(source, opts);
  const indexes: CreatedIndex[] = [];
  for (const target of plan.targets) {
    const subject: Descriptor = { mediaType: target.descriptor.mediaType, digest: target.descriptor.digest, size: target.descriptor.size };
    const build = await buildIndexForManifest(source, target.manifest, "v1", opts, subject);
    if (sink && build.index !== null) await putSociArtifacts(sink, { ...build, index: build.index });
    indexes.push({ platform: target.platform, imageManifest: subject, ...platformIndex(build) });
  }
  const result: CreateResult = { image: plan.root.descriptor, indexes };
  if (indexes.every((x) => x.sociIndex === null)) result.notice = noIndexNotice(indexes.flatMap((x) => x.layers), opts.minLayerSize);
  return result;
}
