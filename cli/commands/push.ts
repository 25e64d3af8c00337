/**
 * `soci push` (formats §11.2, §7.4–§7.5), two forms:
 *
 *   soci push REF        the SOCI index v1 of each platform of the registry
 *                        image REF, as `soci create` left them in the store
 *                        (matched by image ref, or by the manifest digests REF
 *                        has on the registry): zTOCs and the `{}` config, then
 *                        the index, attached to its manifest by `subject` —
 *                        through the referrers API, or the `sha256-<hex>` tag
 *                        schema where the registry has none.
 *   soci push SRC DST    a local image (OCI layout or archive, e.g. one written
 *                        by `soci convert`: a SOCI v2 image is pushed as an
 *                        image) to the registry reference DST, every digest
 *                        unchanged, tag last; v1 indexes recorded for SRC ride
 *                        along as referrers.
 *
 * `--existing-index warn|skip|allow` (default warn): what to do when the
 * manifest already has a v1 index on the registry. Prints upstream's lines
 * (`pushing artifact with digest: …`, `successfully pushed artifact with
 * digest: …`, `skipped artifact with digest: …`, `pushing soci index with
 * digest: …`); `--quiet` only the index digests.
 */
import { NotFoundError, UsageError } from "../../core-wasm/src/errors.ts";
import { formatPlatform, isImageManifestMediaType, MEDIA_TYPE_OCI_MANIFEST, MEDIA_TYPE_SOCI_INDEX_V1, normalizePlatform, parseIndex, parsePlatform, type Descriptor, type Reference } from "../../core-wasm/src/oci/mod.ts";
import { copyImage, mapConcurrent, type Repository } from "../../core-wasm/src/registry/mod.ts";
import { parseSociIndex } from "../../core-wasm/src/soci/mod.ts";
import { LocalStore, type IndexRecord } from "../../core-wasm/src/store/mod.ts";
import { boolFlag, choiceFlag, listFlag, type CommandSpec, type Context } from "../command.ts";
import { imageRefOf, locationOf, sinkLocationOf } from "./_location.ts";
import { formatReference, openRegistrySink, openRegistrySource, openSource, registryReferenceOf, repositoryOf } from "./_registry.ts";

const EXISTING = ["warn", "skip", "allow"] as const;
type Existing = (typeof EXISTING)[number];

export const pushCommand: CommandSpec = {
  name: "push",
  args: "<ref> [dst]",
  description: "Push SOCI index v1 artifacts for a registry image, or push a local (converted) image to a registry",
  options: [
    { flags: "-p, --platform <platform>", description: "Only these platforms (repeatable, comma separated)", defaultText: "every platform with a v1 index" },
    { flags: "--all-platforms", description: "Every platform (the default; accepted for upstream compatibility)" },
    { flags: "--existing-index <mode>", description: "When the registry already has a v1 index for the manifest: warn, skip or allow", defaultText: "warn" },
  ],
  examples: ["soci create 127.0.0.1:5000/app:1 && soci push 127.0.0.1:5000/app:1", "soci push ./app-soci 127.0.0.1:5000/app:1-soci"],
  async run(ctx, args, flags) {
    const [ref, dst] = args as string[];
    const existing = choiceFlag(flags, "existingIndex", "--existing-index", EXISTING, "warn");
    const platforms = listFlag(flags, "platform", "--platform").map((p) => formatPlatform(normalizePlatform(parsePlatform(p))));
    if (boolFlag(flags, "allPlatforms") && platforms.length > 0) throw new UsageError("Cannot use --all-platforms and --platform together", { hint: "Pass one of them" });
    if (dst !== undefined && dst !== "undefined") return pushImage(ctx, ref, dst, existing);
    const target = registryReferenceOf(locationOf(ctx, ref));
    if (target === undefined) {
      throw new UsageError(`Cannot push ${JSON.stringify(ref)}: it is not a registry reference`, { hint: "Pass registry/repository:tag, or SRC DST to push a local image" });
    }
    await pushIndexes(ctx, target, platforms, existing);
  },
};

/** `soci push REF`: the newest v1 index per manifest of the registry image. */
async function pushIndexes(ctx: Context, ref: Reference, platforms: string[], existing: Existing): Promise<void> {
  const store = await LocalStore.open(ctx.storeDir);
  const source = openRegistrySource(ctx, ref);
  const root = await source.resolveRoot();
  const remote = new Set<string>([root.descriptor.digest]);
  if (root.kind === "index") for (const d of parseIndex(root.bytes, `image index ${root.descriptor.digest}`).manifests) if (isImageManifestMediaType(d.mediaType)) remote.add(d.digest);
  const name = formatReference(ref);
  const all = await store.listIndexes({});
  const mine = all.filter((r) => (r.imageRef === name || remote.has(r.manifestDigest)) && (platforms.length === 0 || platforms.includes(r.platform)));
  for (const r of mine.filter((x) => x.manifestVersion === "v2")) {
    ctx.out.warn(`skipped v2 index ${r.digest}: a SOCI index v2 belongs inside its image; push the converted image with "soci push SRC DST" or "soci copy"`);
  }
  const newest = new Map<string, IndexRecord>(); // listIndexes is newest first
  for (const r of mine) if (r.manifestVersion === "v1" && remote.has(r.manifestDigest) && !newest.has(r.manifestDigest)) newest.set(r.manifestDigest, r);
  if (newest.size === 0) {
    throw new NotFoundError(`Cannot push SOCI indexes for ${name}: the local store has no v1 index for its manifests${platforms.length ? ` (${platforms.join(", ")})` : ""}`, {
      hint: `Run "soci create ${name}" first`,
    });
  }
  await pushRecorded(ctx, store, source.repo, [...newest.values()], existing);
}

async function pushRecorded(ctx: Context, store: LocalStore, repo: Repository, records: IndexRecord[], existing: Existing): Promise<void> {
  const { out } = ctx;
  for (const r of records) {
    if (existing !== "allow") {
      const { descriptors } = await repo.listReferrers(r.manifestDigest, { artifactType: MEDIA_TYPE_SOCI_INDEX_V1 });
      const other = descriptors.find((d) => d.digest !== r.digest);
      if (descriptors.some((d) => d.digest === r.digest)) {
        out.info(`soci index ${r.digest} is already attached to manifest ${r.manifestDigest}; skipped`);
        if (out.quiet) out.line(r.digest);
        continue;
      }
      if (other !== undefined && existing === "skip") {
        out.info(`manifest ${r.manifestDigest} already has soci index ${other.digest}; skipped (--existing-index skip)`);
        continue;
      }
      if (other !== undefined) out.warn(`manifest ${r.manifestDigest} already has soci index ${other.digest}; pushing another (--existing-index allow silences this, skip avoids it)`);
    }
    const bytes = await store.readBlob(r.digest);
    const parsed = parseSociIndex(bytes, `SOCI index ${r.digest}`);
    const blobs: Descriptor[] = [...parsed.ztocs, ...parsed.prefetch, parsed.manifest.config];
    await mapConcurrent(blobs, ctx.registry.maxConcurrentUploads, async (d) => {
      out.info(`pushing artifact with digest: ${d.digest}`);
      const result = await repo.pushBlob(d, await store.readBlob(d.digest, 1 << 30));
      out.info(result === "exists" ? `skipped artifact with digest: ${d.digest}` : `successfully pushed artifact with digest: ${d.digest}`);
    });
    out.info(`pushing soci index with digest: ${r.digest}`);
    const pushed = await repo.pushReferrer(bytes, MEDIA_TYPE_OCI_MANIFEST);
    if (pushed.fallbackTag !== undefined) out.info(`soci index ${r.digest} listed under tag ${pushed.fallbackTag} (the registry has no referrers API)`);
    if (out.quiet) out.line(r.digest);
  }
}

/** `soci push SRC DST`: a local image to a registry, then its recorded v1 indexes. */
async function pushImage(ctx: Context, src: string, dst: string, existing: Existing): Promise<void> {
  const { out } = ctx;
  const target = sinkLocationOf(ctx, dst, "oci-dir").registry;
  if (target === undefined) throw new UsageError(`Cannot push to ${JSON.stringify(dst)}: it is not a registry reference`, { hint: "Pass registry/repository:tag (or docker://…); use soci copy between local paths" });
  const location = locationOf(ctx, src);
  const source = await openSource(ctx, location);
  try {
    const sink = openRegistrySink(ctx, target, source, {
      onEvent: (e) => {
        if (e.kind === "blob") out.info(e.result === "exists" ? `skipped artifact with digest: ${e.descriptor.digest}` : `successfully pushed artifact with digest: ${e.descriptor.digest}${e.result === "mounted" ? " (mounted)" : ""}`);
      },
    });
    const tag = target.digest === undefined ? (target.tag ?? "latest") : undefined;
    const copied = await copyImage(source, sink, { ...(tag ? { tag } : {}), concurrency: ctx.registry.maxConcurrentUploads });
    const name = formatReference({ ...target, ...(tag ? { tag } : {}) });
    const store = await LocalStore.open(ctx.storeDir);
    const imageRef = imageRefOf(ctx, src);
    const manifests = new Set(copied.manifests.map((m) => m.digest));
    const v1 = (await store.listIndexes({ imageRef })).filter((r) => r.manifestVersion === "v1" && manifests.has(r.manifestDigest));
    const newest = new Map<string, IndexRecord>();
    for (const r of v1) if (!newest.has(r.manifestDigest)) newest.set(r.manifestDigest, r);
    if (newest.size > 0) await pushRecorded(ctx, store, repositoryOf(ctx, target), [...newest.values()], existing);
    if (out.json) out.printJson({ image: { mediaType: copied.descriptor.mediaType, digest: copied.descriptor.digest, size: copied.descriptor.size }, destination: name, blobs: copied.blobs, indexesPushed: [...newest.keys()].map((k) => newest.get(k)!.digest) });
    else if (out.quiet) out.line(copied.descriptor.digest);
    else out.info(`pushed image ${copied.descriptor.digest} to ${name}`);
  } finally {
    await source.close();
  }
}
