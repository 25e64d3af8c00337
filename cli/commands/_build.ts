/**
 * The core calls behind `convert` and `create`, and their output: the
 * per-layer lines of formats §11.2 (in completion order, as upstream prints
 * them), byte progress per layer, warnings and the no-index notice, then a
 * summary; `--quiet` keeps only the resulting digests, `--json` one document.
 * Prefetch artifacts (formats §9.6) get upstream's `Created prefetch artifact
 * for layer …` line each; a prefetch path found in no indexed layer is a
 * warning on stderr (also under --json, where it is listed too).
 *
 * zTOCs are built `--jobs` at a time: on this thread plus jobs − 1 worker
 * threads when the program can serve as its own worker (`ctx.workerUrl`, set
 * by `main`), else all on this thread, interleaved. The worker pool starts
 * only when a second build is asked for while this thread is busy (an image
 * with one layer to index starts no worker). A gzip layer built on this thread
 * from a local file has its SHA-256 passes (blob and span digests) done by a
 * small helper thread, so a lone build uses both cores.
 * Private to commands/.
 */
import { SociError, UsageError } from "../../core-wasm/src/errors.ts";
import { type Descriptor, formatPlatform, openImageSink, parseImageLocation, type ImageTarget } from "../../core-wasm/src/oci/mod.ts";
import {
  convertImage,
  createSociIndexes,
  recordConversion,
  recordCreation,
  type BuildLayerZtoc,
  type IndexBuildOptions,
  type LayerResult,
  type Notice,
  type PrefetchArtifact,
} from "../../core-wasm/src/soci/mod.ts";
import { LocalStore } from "../../core-wasm/src/store/mod.ts";
import { reusedFileChunks, startBlobHashHelper, ZtocWorkerPool, type BlobHashHelper } from "../../core-wasm/src/workers/mod.ts";
import { buildZtoc } from "../../core-wasm/src/ztoc/mod.ts";
import type { Context } from "../command.ts";
import type { Progress } from "../output.ts";
import type { BuildFlags } from "./convert.ts";
import { imageRefOf, locationOf, sinkLocationOf } from "./_location.ts";
import { openRegistrySink, openSource } from "./_registry.ts";

export interface ConvertRequest {
  src: string;
  dst: string;
  format: "oci-archive" | "oci-dir";
  build: BuildFlags;
}

export interface CreateRequest {
  image: string;
  build: BuildFlags;
}

function short(digest: string): string {
  return digest.length > 19 ? digest.slice(0, 19) : digest;
}

/**
 * Deno's node:worker_threads lose badly (measured: 12 MB layer 0.55 s
 * in-thread vs 3.3 s through the pool; debian-python --jobs 2 6.2 s with 9 s
 * of CPU vs 1.1 s in-thread, also after batching chunks into 4 MiB messages
 * with 4× fewer acks — so it is not the message count); Node and Bun (and
 * the compiled binary) gain from them.
 */
function workersPay(): boolean {
  return (globalThis as { Deno?: unknown }).Deno === undefined;
}

/** The zTOC builder for this run, with progress, and how to release it. */
function layerBuilder(ctx: Context, jobs: number, progress: Progress): { build: BuildLayerZtoc; close(): Promise<void> } {
  const usePool = ctx.workerUrl !== undefined && jobs > 1 && workersPay();
  // This thread is one of the `jobs` builders: it would otherwise only wait, and it
  // needs no start-up of its own (one worker fewer to start and warm up). The pool
  // is made when a build finds this thread busy (largest layers start first).
  let pool: ZtocWorkerPool | null = null;
  const poolNow = (): ZtocWorkerPool => (pool ??= new ZtocWorkerPool({ size: jobs - 1, workerUrl: ctx.workerUrl! }));
  // This thread's SHA-256 passes (local gzip layers) go to a small helper thread,
  // started now so its start-up overlaps reading the image. Beside a running pool
  // it neither helps nor hurts (BENCHMARKS "Convert analysis", session 2); alone it
  // is the second core: debian-minbase with the default --jobs 2, 478 → 444 ms.
  const hashing: BlobHashHelper | null = ctx.workerUrl !== undefined && workersPay() ? startBlobHashHelper() : null;
  ctx.out.trace(`building zTOCs on the main thread${usePool ? ` and up to ${jobs - 1} worker thread(s)` : ` (${jobs} interleaved)`}${hashing ? ", hashing on a helper thread" : ""}`);
  const here: BuildLayerZtoc = hashing
    ? (blob, o, file) => (file !== undefined && o.compression === "gzip" ? buildZtoc(reusedFileChunks(file), { ...o, hasher: hashing.hasher(file) }) : buildZtoc(blob, o))
    : buildZtoc;
  let hereBusy = false;
  const inner: BuildLayerZtoc = usePool
    ? async (blob, o, file) => {
        if (hereBusy) return poolNow().build(blob, o, file);
        hereBusy = true;
        try {
          return await here(blob, o, file);
        } finally {
          hereBusy = false;
        }
      }
    : here;
  const t0 = performance.now();
  const ms = () => `+${Math.round(performance.now() - t0)} ms`;
  const build: BuildLayerZtoc = async (blob, o, file) => {
    const id = o.source ?? String(Math.random());
    progress.start(id, `layer ${short(id)}`, o.expectedSize ?? 0);
    ctx.out.trace(`layer ${short(id)}: zTOC build started ${ms()}`);
    try {
      // Progress comes from the builder: buildZtoc per chunk, the pool per ack (a worker may read the file itself).
      const r = await inner(blob, { ...o, onProgress: (n) => progress.update(id, n) }, file);
      progress.finish(id);
      ctx.out.trace(`layer ${short(id)}: zTOC build finished ${ms()}`);
      return r;
    } catch (e) {
      progress.fail(id);
      throw e;
    }
  };
  return { build, close: async () => void (await Promise.all([(pool as ZtocWorkerPool | null)?.close(), hashing?.close()])) };
}

function indexOptions(ctx: Context, b: BuildFlags, store: LocalStore, build: BuildLayerZtoc, progress: Progress): IndexBuildOptions & { platforms: string[]; allPlatforms: boolean } {
  return {
    spanSize: b.spanSize,
    minLayerSize: b.minLayerSize,
    buildToolIdentifier: b.buildToolIdentifier,
    optimizations: b.optimizations,
    jobs: b.jobs,
    force: b.force,
    ...(b.prefetchPaths.length > 0 ? { prefetchPaths: b.prefetchPaths } : {}),
    platforms: b.platforms,
    allPlatforms: b.allPlatforms,
    buildLayerZtoc: build,
    findZtoc: (layer, span) => store.findZtoc(layer, span),
    onLayer: (r) => {
      // Result lines go between progress redraws, never into them.
      progress.interject(() => {
        ctx.out.info(r.line);
        if (r.status === "built") for (const w of r.warnings) ctx.out.warn(`layer ${r.layer.digest}: ${w}`);
      });
    },
  };
}

function layerJson(r: LayerResult): Record<string, unknown> {
  const base = { digest: r.layer.digest, size: r.layer.size, mediaType: r.layer.mediaType, status: r.status };
  if (r.status === "built") return { ...base, ztoc: r.ztocDigest, ztocSize: r.ztocSize, reused: r.reused, disableXattrs: r.disableXattrs, warnings: r.warnings };
  return { ...base, reason: r.reason, ...(r.error ? { error: r.error.message } : {}) };
}

function descJson(d: Descriptor): Record<string, unknown> {
  return { mediaType: d.mediaType, digest: d.digest, size: d.size };
}

function prefetchJson(artifacts: PrefetchArtifact[]): Record<string, unknown>[] {
  return artifacts.map((a) => ({ layer: a.layerDigest, ...descJson(a.descriptor), spans: a.spans.map((s) => ({ startSpan: s.startSpan, endSpan: s.endSpan })) }));
}

/**
 * The prefetch lines of one platform: one `Created prefetch artifact …` line
 * per artifact (stdout, not under --quiet/--json), one warning per path
 * found in no indexed layer (stderr, always). `tag` names the platform when
 * several were indexed.
 */
function printPrefetch(ctx: Context, p: { prefetch: PrefetchArtifact[]; prefetchWarnings: string[] }, tag: string): void {
  for (const a of p.prefetch) ctx.out.info(`Created prefetch artifact for layer ${a.layerDigest}: ${a.descriptor.digest}`);
  for (const w of p.prefetchWarnings) ctx.out.warn(`${w}${tag}`);
}

function printNotice(ctx: Context, notice: Notice | undefined): void {
  if (notice === undefined) return;
  ctx.out.warn(notice.message);
  ctx.out.stderr.write(`hint: ${notice.hint}\n`);
}

/**
 * Makes a conversion error name the source image: an error whose message does
 * not already name it (a malformed manifest, a non-layer media type) becomes
 * `Cannot convert <src>: <message>`, hint and exit code kept.
 */
function namingSource(e: unknown, src: string, location: string): unknown {
  if (!(e instanceof SociError) || e instanceof UsageError) return e;
  let path = location;
  try {
    const loc = parseImageLocation(location);
    if (loc.transport !== "docker") path = loc.path;
  } catch {
    // not a location we can parse: compare with the text as given
  }
  if (e.message.includes(path)) return e;
  const inner = e.message.startsWith("Cannot ") ? "cannot " + e.message.slice(7) : e.message;
  return new SociError(`Cannot convert ${src}: ${inner}`, { ...(e.hint !== undefined ? { hint: e.hint } : {}), ...(e.cause !== undefined ? { cause: e.cause } : {}) }, e.code);
}

export async function runConvert(ctx: Context, req: ConvertRequest): Promise<void> {
  const location = locationOf(ctx, req.src);
  try {
    await convertTo(ctx, req, location);
  } catch (e) {
    throw namingSource(e, req.src, location);
  }
}

async function convertTo(ctx: Context, req: ConvertRequest, location: string): Promise<void> {
  const { out } = ctx;
  const store = await LocalStore.open(ctx.storeDir);
  const dst = sinkLocationOf(ctx, req.dst, req.format);
  if (dst.registry?.digest !== undefined) {
    throw new UsageError(`Cannot convert to ${JSON.stringify(req.dst)}: a destination names a tag, not a digest`, { hint: "Pass registry/repository:tag" });
  }
  const source = await openSource(ctx, location);
  const progress = out.progress();
  const builder = layerBuilder(ctx, req.build.jobs, progress);
  try {
    const target: ImageTarget = dst.registry
      ? { sink: openRegistrySink(ctx, dst.registry, source), tag: dst.registry.tag ?? "latest" }
      : await openImageSink(dst.location, req.format);
    const result = await convertImage(source, target.sink, {
      ...indexOptions(ctx, req.build, store, builder.build, progress),
      ...(target.tag !== undefined ? { tag: target.tag } : {}),
    });
    progress.close();
    const records = await recordConversion(store, result, { imageRef: dst.ref, spanSize: req.build.spanSize });
    const several = result.platforms.length > 1;
    for (const p of result.platforms) printPrefetch(ctx, p, several ? ` (${formatPlatform(p.platform)})` : "");
    if (out.json) {
      out.printJson({
        image: descJson(result.descriptor),
        destination: dst.ref,
        format: dst.registry ? "registry" : req.format,
        platforms: result.platforms.map((p) => ({
          platform: formatPlatform(p.platform),
          sourceManifest: p.sourceManifest.digest,
          imageManifest: p.imageManifest.digest,
          sociIndex: p.sociIndex ? descJson(p.sociIndex.descriptor) : null,
          layers: p.layers.map(layerJson),
          prefetch: prefetchJson(p.prefetch),
          warnings: p.prefetchWarnings,
        })),
        indexesRecorded: records.map((r) => r.digest),
        ...(result.notice ? { notice: result.notice } : {}),
      });
      printNotice(ctx, result.notice);
      return;
    }
    printNotice(ctx, result.notice);
    for (const p of result.platforms) {
      if (p.sociIndex) out.info(`soci index ${p.sociIndex.descriptor.digest} (v2, ${formatPlatform(p.platform)}) for manifest ${p.imageManifest.digest}`);
    }
    if (out.quiet) out.line(result.descriptor.digest);
    else out.info(`converted image ${result.descriptor.digest} written to ${dst.registry ? `${dst.ref} (registry)` : `${req.dst} (${req.format})`}`);
  } finally {
    progress.close();
    await builder.close();
    await source.close();
  }
}

export async function runCreate(ctx: Context, req: CreateRequest): Promise<void> {
  const { out } = ctx;
  const store = await LocalStore.open(ctx.storeDir);
  const src = locationOf(ctx, req.image);
  const source = await openSource(ctx, src);
  const progress = out.progress();
  const builder = layerBuilder(ctx, req.build.jobs, progress);
  try {
    const result = await createSociIndexes(source, indexOptions(ctx, req.build, store, builder.build, progress));
    progress.close();
    const records = await recordCreation(store, result, { imageRef: imageRefOf(ctx, req.image), spanSize: req.build.spanSize });
    const several = result.indexes.length > 1;
    for (const x of result.indexes) printPrefetch(ctx, x, several ? ` (${formatPlatform(x.platform)})` : "");
    if (out.json) {
      out.printJson({
        image: descJson(result.image),
        indexes: result.indexes.map((x) => ({
          platform: formatPlatform(x.platform),
          imageManifest: x.imageManifest.digest,
          sociIndex: x.sociIndex ? descJson(x.sociIndex.descriptor) : null,
          layers: x.layers.map(layerJson),
          prefetch: prefetchJson(x.prefetch),
          warnings: x.prefetchWarnings,
        })),
        indexesRecorded: records.map((r) => r.digest),
        ...(result.notice ? { notice: result.notice } : {}),
      });
      printNotice(ctx, result.notice);
      return;
    }
    printNotice(ctx, result.notice);
    for (const x of result.indexes) {
      if (!x.sociIndex) continue;
      if (out.quiet) out.line(x.sociIndex.descriptor.digest);
      else out.info(`soci index ${x.sociIndex.descriptor.digest} (v1, ${formatPlatform(x.platform)}) for manifest ${x.imageManifest.digest}`);
    }
  } finally {
    progress.close();
    await builder.close();
    await source.close();
  }
}
