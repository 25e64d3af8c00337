/**
 * Builds the SOCI index of one image manifest (formats §9): decides per layer
 * (layer_selection.ts), builds the zTOCs in parallel through an injected
 * builder with at most `jobs` in flight, and assembles the index in layer
 * order. A layer listed twice is built once and listed twice (§9.4).
 *
 * Skip policy (deliberately more lenient than upstream's §9.3): a layer whose
 * zTOC cannot be built from its content (FormatError, InvalidArgumentError —
 * a malformed tar, gzip data error, unsupported entry) is skipped with the
 * reason in its result line and the rest of the image still gets an index;
 * the snapshotter simply pulls that layer in full. I/O and missing blobs
 * still fail the build, and so does any error from reading the blob itself
 * (digest or size not matching its descriptor): the image is broken then.
 *
 * The builder has the shape of ztoc/'s `buildZtoc` (so the worker pool's
 * `build` fits as well); tests pass a fake. It hashes every blob anyway, so
 * blobs are opened unverified (`openBlob(…, { verify: false })`, sizes still
 * checked) and the builder's digest check is the one SHA-256 pass: a builder
 * result whose blob digest/size match the descriptor marks the layer
 * verified (`verifiedBlobs`, so the sink need not hash it again). When the
 * builder reports that the bytes do not match the descriptor (`isBlobMismatch`;
 * it drains and hashes a blob even after a parse error, so a corrupt blob is
 * reported as such), the blob is read once more with the source's own check,
 * so it fails the build with the source's error rather than skipping the layer.
 *
 * Prefetch artifacts (§9.6): with `prefetchPaths`, once the zTOCs are
 * built or reused, prefetch.ts turns the paths into one artifact per layer
 * over the layers that got a zTOC (layer order); their descriptors follow the
 * zTOC descriptors in the index (§9.4) and their blobs are returned beside
 * the zTOC blobs. No paths: no artifacts, the index is unchanged.
 *
 * Not here: where blobs are written (the caller gets the zTOC and artifact bytes).
 */
import { sha256Digest } from "../bytes/mod.ts";
import { FormatError, InvalidArgumentError, SociError } from "../errors.ts";
import type { BlobLocation, Descriptor, ImageSource, Manifest } from "../oci/mod.ts";
import { buildZtoc, decodeZtoc, isBlobMismatch, type BuildZtocOptions, type BuiltZtoc, type Ztoc } from "../ztoc/mod.ts";
import { selectLayer } from "./layer_selection.ts";
import { buildPrefetchArtifacts, type PrefetchArtifact } from "./prefetch.ts";
import { buildSociIndex, DEFAULT_BUILD_TOOL_IDENTIFIER, type BuiltSociIndex, type SociIndexVersion, type ZtocLayer } from "./soci_index.ts";

/**
 * `file`, when given, holds the same bytes as `blob` in a local file: a
 * builder on another thread may read it there instead of iterating `blob`.
 */
export type BuildLayerZtoc = (blob: AsyncIterable<Uint8Array>, opts: BuildZtocOptions, file?: BlobLocation) => Promise<BuiltZtoc>;

export interface IndexBuildOptions {
  spanSize: number;
  minLayerSize: number;
  buildToolIdentifier?: string;
  /** Only `"xattr"` exists (formats §9.5). */
  optimizations?: readonly string[];
  /** zTOC builds in flight at once; default 1. */
  jobs?: number;
  /** Default: ztoc/'s `buildZtoc` on this thread. */
  buildLayerZtoc?: BuildLayerZtoc;
  upstreamCompat?: boolean;
  /** A stored zTOC for (layer, span size) to reuse (formats §9.7); null → build. Ignored with `force`. */
  findZtoc?(layerDigest: string, spanSize: number): Promise<Uint8Array | null>;
  force?: boolean;
  /** Paths to prefetch (formats §9.6: `--prefetch-file`, `--prefetch-files-json`); none → no artifacts. */
  prefetchPaths?: readonly string[];
  /** Called as each layer finishes (completion order); the result lists are in layer order. */
  onLayer?(result: LayerResult): void;
}

export type LayerResult =
  | {
      status: "built";
      layer: Descriptor;
      ztocDigest: string;
      ztocSize: number;
      /** Taken from the store instead of built. */
      reused: boolean;
      disableXattrs: boolean;
      warnings: string[];
      /** The upstream output line (formats §11.2). */
      line: string;
    }
  | {
      status: "skipped";
      layer: Descriptor;
      reason: "min-layer-size" | "unsupported-compression" | "build-failed";
      line: string;
      error?: SociError;
    };

export interface ManifestIndexBuild {
  /** One per layer that is not a prefetch artifact, in layer order. */
  layers: LayerResult[];
  /** zTOC blobs by digest, to be stored with the index. */
  ztocBlobs: Map<string, Uint8Array>;
  /** Parsed zTOCs by digest (for prefetch and the xattr check). */
  ztocs: Map<string, Ztoc>;
  /** null when every layer was skipped. */
  index: BuiltSociIndex | null;
  /** Layer digests whose blobs were read whole and matched their descriptors in this build. */
  verifiedBlobs: Set<string>;
  /** Prefetch artifacts in index order (bottom to top); empty without `prefetchPaths`. */
  prefetch: PrefetchArtifact[];
  /** Prefetch artifact blobs by digest, to be stored with the index (media type `MEDIA_TYPE_SOCI_PREFETCH`). */
  prefetchBlobs: Map<string, Uint8Array>;
  /** One line per prefetch path found in no indexed layer. */
  prefetchWarnings: string[];
}

/** What convert and create results keep of one platform's build (`index` as `sociIndex`). */
export interface PlatformIndex {
  layers: LayerResult[];
  /** null when every layer was skipped. */
  sociIndex: BuiltSociIndex | null;
  ztocBlobs: Map<string, Uint8Array>;
  /** Prefetch artifacts listed in `sociIndex` (bottom to top), and their blobs by digest. */
  prefetch: PrefetchArtifact[];
  prefetchBlobs: Map<string, Uint8Array>;
  /** Prefetch paths found in no indexed layer of this platform. */
  prefetchWarnings: string[];
}

export function platformIndex(b: ManifestIndexBuild): PlatformIndex {
  return { layers: b.layers, sociIndex: b.index, ztocBlobs: b.ztocBlobs, prefetch: b.prefetch, prefetchBlobs: b.prefetchBlobs, prefetchWarnings: b.prefetchWarnings };
}

/** Runs `tasks` with at most `jobs` at once; rejects with the first failure after all started tasks settle. */
export async function runLimited<T>(tasks: Array<() => Promise<T>>, jobs: number): Promise<T[]> {
  const results = new Array<T>(tasks.length);
  let next = 0;
  let failure: { error: unknown } | null = null;
  const worker = async () => {
    while (failure === null && next < tasks.length) {
      const i = next++;
      try {
        results[i] = await tasks[i]();
      } catch (e) {
        failure ??= { error: e };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(jobs, tasks.length)) }, worker));
  if (failure !== null) throw (failure as { error: unknown }).error;
  return results;
}

const XATTR_PREFIX = new TextEncoder().encode("SCHILY.xattr.");
const OPAQUE_SUFFIX = new TextEncoder().encode(".wh..wh..opq");

function startsWith(b: Uint8Array, p: Uint8Array): boolean {
  if (b.length < p.length) return false;
  for (let i = 0; i < p.length; i++) if (b[i] !== p[i]) return false;
  return true;
}

function endsWith(b: Uint8Array, s: Uint8Array): boolean {
  if (b.length < s.length) return false;
  const o = b.length - s.length;
  for (let i = 0; i < s.length; i++) if (b[o + i] !== s[i]) return false;
  return true;
}

/** formats §9.5: no `SCHILY.xattr.*` record and no opaque-dir whiteout anywhere in the TOC. */
export function canDisableXattrs(z: Ztoc): boolean {
  for (const e of z.toc) {
    if (endsWith(e.name, OPAQUE_SUFFIX)) return false;
    for (const x of e.xattrs) if (startsWith(x.key, XATTR_PREFIX)) return false;
  }
  return true;
}

/** Passes `blob` through, remembering an error thrown while reading it (the builder may wrap or replace it). */
async function* tracked(blob: AsyncIterable<Uint8Array>, read: { error?: unknown }): AsyncGenerator<Uint8Array> {
  try {
    yield* blob;
  } catch (e) {
    read.error = e;
    throw e;
  }
}

interface Built {
  digest: string;
  size: number;
  bytes: Uint8Array;
  ztoc: Ztoc;
  reused: boolean;
  warnings: string[];
}

/**
 * Builds the SOCI index (`version`) for `manifest`, reading layers from
 * `source`. `subject` is required for v1. Errors: FormatError for a
 * non-layer media type; whatever reading the source throws other than
 * content errors (module header).
 */
export async function buildIndexForManifest(
  source: ImageSource,
  manifest: Manifest,
  version: SociIndexVersion,
  opts: IndexBuildOptions,
  subject?: Descriptor,
): Promise<ManifestIndexBuild> {
  const build = opts.buildLayerZtoc ?? buildZtoc;
  const tool = opts.buildToolIdentifier ?? DEFAULT_BUILD_TOOL_IDENTIFIER;
  const xattrOpt = (opts.optimizations ?? []).includes("xattr");
  const decisions = manifest.layers.map((l) => ({ layer: l, decision: selectLayer(l, opts.minLayerSize) }));
  const pending = new Map<string, () => Promise<Built | SociError>>();
  const verifiedBlobs = new Set<string>();
  for (const { layer, decision } of decisions) {
    if (decision.action !== "build" || pending.has(layer.digest)) continue;
    pending.set(layer.digest, async () => {
      if (opts.findZtoc && !opts.force) {
        const bytes = await opts.findZtoc(layer.digest, opts.spanSize);
        if (bytes !== null) {
          return { digest: sha256Digest(bytes), size: bytes.length, bytes, ztoc: decodeZtoc(bytes), reused: true, warnings: [] };
        }
      }
      const read: { error?: unknown } = {};
      let b: BuiltZtoc;
      try {
        const file = source.blobLocation ? await source.blobLocation(layer) : null;
        const blob = tracked(source.openBlob(layer, { verify: false }), read);
        b = await build(blob, {
          compression: decision.compression,
          spanSize: opts.spanSize,
          buildToolIdentifier: tool,
          source: layer.digest,
          expectedDigest: layer.digest,
          expectedSize: layer.size,
          ...(opts.upstreamCompat ? { upstreamCompat: true } : {}),
        }, file ?? undefined);
      } catch (e) {
        if ("error" in read) throw read.error; // the blob could not be read as described: not a content problem
        if (isBlobMismatch(e)) {
          await verifyBlob(source, layer); // not the layer's bytes: the source's error fails the build
          throw e;
        }
        if (e instanceof FormatError || e instanceof InvalidArgumentError) return e; // content problem: skip the layer
        throw e;
      }
      if (b.blobDigest !== layer.digest || b.blobSize !== layer.size) {
        await verifyBlob(source, layer);
        throw new FormatError(`Cannot build zTOC: the builder read blob ${b.blobDigest} (${b.blobSize} bytes), expected ${layer.digest} (${layer.size} bytes)`, { source: layer.digest });
      }
      verifiedBlobs.add(layer.digest);
      return { digest: b.digest, size: b.size, bytes: b.bytes, ztoc: b.ztoc, reused: false, warnings: b.warnings };
    });
  }
  // Largest first: with several builders the longest build starts at once instead of last.
  const sizeOf = new Map(decisions.map(({ layer }) => [layer.digest, layer.size]));
  const digests = [...pending.keys()].sort((a, b) => (sizeOf.get(b) ?? 0) - (sizeOf.get(a) ?? 0));
  const outcomes = new Map<string, Built | SociError>();
  await runLimited(
    digests.map((d) => async () => {
      const r = await pending.get(d)!();
      outcomes.set(d, r);
      const layer = decisions.find((x) => x.layer.digest === d)!.layer;
      opts.onLayer?.(resultFor(layer, r, xattrOpt));
    }),
    opts.jobs ?? 1,
  );
  const layers: LayerResult[] = [];
  const ztocLayers: ZtocLayer[] = [];
  const ztocBlobs = new Map<string, Uint8Array>();
  const ztocs = new Map<string, Ztoc>();
  for (const { layer, decision } of decisions) {
    if (decision.action === "ignore") continue;
    if (decision.action === "skip") {
      const r: LayerResult = { status: "skipped", layer, reason: decision.reason, line: decision.line };
      layers.push(r);
      opts.onLayer?.(r);
      continue;
    }
    const outcome = outcomes.get(layer.digest)!;
    const r = resultFor(layer, outcome, xattrOpt);
    layers.push(r);
    if (r.status === "built" && !(outcome instanceof SociError)) {
      ztocLayers.push({ ztocDigest: r.ztocDigest, ztocSize: r.ztocSize, layer, spanSize: opts.spanSize, disableXattrs: r.disableXattrs });
      ztocBlobs.set(r.ztocDigest, outcome.bytes);
      ztocs.set(r.ztocDigest, outcome.ztoc);
    }
  }
  const paths = opts.prefetchPaths ?? [];
  const { artifacts: prefetch, warnings: prefetchWarnings } =
    paths.length === 0 ? { artifacts: [], warnings: [] } : buildPrefetchArtifacts(paths, ztocLayers.map((z) => ({ layerDigest: z.layer.digest, ztoc: ztocs.get(z.ztocDigest)! })));
  const prefetchBlobs = new Map(prefetch.map((a) => [a.descriptor.digest, a.bytes]));
  const index =
    ztocLayers.length === 0
      ? null
      : buildSociIndex({ version, ztocs: ztocLayers, ...(prefetch.length > 0 ? { prefetch: prefetch.map((a) => a.descriptor) } : {}), buildToolIdentifier: tool, ...(subject ? { subject } : {}) });
  return { layers, ztocBlobs, ztocs, index, verifiedBlobs, prefetch, prefetchBlobs, prefetchWarnings };
}

/** Reads `layer` through the source's digest and size check; throws what the source throws. */
async function verifyBlob(source: ImageSource, layer: Descriptor): Promise<void> {
  for await (const _ of source.openBlob(layer)) {
    // drained: the check runs as the stream ends
  }
}

function resultFor(layer: Descriptor, outcome: Built | SociError, xattrOpt: boolean): LayerResult {
  if (outcome instanceof SociError) {
    return {
      status: "skipped",
      layer,
      reason: "build-failed",
      line: `ztoc skipped - layer ${layer.digest} (${layer.mediaType}) could not be indexed: ${outcome.message}`,
      error: outcome,
    };
  }
  return {
    status: "built",
    layer,
    ztocDigest: outcome.digest,
    ztocSize: outcome.size,
    reused: outcome.reused,
    disableXattrs: xattrOpt && canDisableXattrs(outcome.ztoc),
    warnings: outcome.warnings,
    line: `layer ${layer.digest} -> ztoc ${outcome.digest}${outcome.reused ? " (already exists)" : ""}`,
  };
}
