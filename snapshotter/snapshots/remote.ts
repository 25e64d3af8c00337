/**
 * The remote path of Prepare (snapshotter §4, §5, §7.1, §12.1): given the
 * labels containerd's unpacker (or our rpull) passes, decide per layer:
 *
 * 1. required labels missing (`cri.image-ref`, `cri.layer-digest`,
 *    `cri.manifest-digest`) → defer (containerd applies the layer);
 * 2. resolve the image once per manifest digest (cached, failures too): SOCI
 *    index from the explicit `soci.index.digest` label, else v2 from the
 *    manifest annotation when `[pull_modes.soci_v2]` is on, else v1 via
 *    referrers when `[pull_modes.soci_v1] enable = true`;
 * 3. no SOCI index → defer; `soci.size` (or the layer size) under
 *    `[snapshotter] min_layer_size` → unpack locally;
 * 4. mount lazily (FUSE on the snapshot's `fs`) → lazy; the layer has no
 *    zTOC, or the mount fails → unpack locally;
 * 5. a local unpack that fails → defer (the `fs` dir is emptied first).
 *
 * Each decision is recorded with its reason (pull_log.ts) and logged.
 * Restart: `restore` re-mounts a remote snapshot from its stored labels.
 *
 * Not here: committing and ALREADY_EXISTS (snapshotter.ts), FUSE and spans
 * (layers/).
 */
import { mkdir, readdir, rename, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { parseReference, type Reference } from "../../core-wasm/src/oci/mod.ts";
import { RegistryImageSource, type RegistryClient, type Repository } from "../../core-wasm/src/registry/mod.ts";
import { LayerManager, NotLazyError, unpackLayer, type ResolvedImage, type ResolvedLayer } from "../layers/mod.ts";
import type { SnapshotterConfig } from "../config.ts";
import { PullLog, type PullMode } from "./pull_log.ts";
import type { RemoteHandler, RemoteOutcome, RemoteRequest } from "./snapshotter.ts";
import {
  LABEL_IMAGE_REF,
  LABEL_LAYER_DIGEST,
  LABEL_MANIFEST_DIGEST,
  LABEL_NAMESPACE,
  LABEL_SOCI_INDEX_DIGEST,
  LABEL_SOCI_SIZE,
  LABEL_TARGET_REF,
  type Info,
} from "./types.ts";

type Log = (level: "debug" | "info" | "warn" | "error", msg: string, fields?: Record<string, unknown>) => void;

interface ImageContext {
  ref: Reference;
  repository: Repository;
  source: RegistryImageSource;
  resolved: ResolvedImage;
  /** Why no layer of this image can be lazy (no usable SOCI index), if so. */
  noIndexReason: string | undefined;
}

export interface SociRemoteOptions {
  config: SnapshotterConfig;
  layers: LayerManager;
  registry: RegistryClient;
  pullLog: PullLog;
  log: Log;
}

export class SociRemote implements RemoteHandler {
  private readonly images = new Map<string, Promise<ImageContext>>();
  /** Unpacked-by-us byte counts by layer digest (lazy ones come from the layer manager). */
  readonly unpackedBytes = new Map<string, number>();

  constructor(private readonly o: SociRemoteOptions) {}

  private image(imageRef: string, manifestDigest: string, indexDigest: string | undefined): Promise<ImageContext> {
    const key = `${manifestDigest}|${indexDigest ?? ""}`;
    let p = this.images.get(key);
    if (p === undefined) {
      p = (async () => {
        const named = parseReference(imageRef);
        const ref: Reference = { registry: named.registry, repository: named.repository, digest: manifestDigest };
        const repository = this.o.registry.repository(ref);
        const source = new RegistryImageSource(repository, ref);
        const { sociV1, sociV2 } = this.o.config.pullModes;
        const resolved = await this.o.layers.resolveImage(source, { repository, sociV1: sociV1.enable, ...(indexDigest ? { indexDigest } : {}) });
        let noIndexReason: string | undefined;
        if (resolved.sociIndex === undefined) noIndexReason = resolved.noIndexReason ?? "the image has no SOCI index";
        else if (!indexDigest && resolved.sociIndex.version === "v2" && !sociV2.enable) noIndexReason = "the image has a SOCI v2 index but [pull_modes.soci_v2] is disabled";
        else if (!indexDigest && resolved.sociIndex.version === "v1" && !sociV1.enable) noIndexReason = "the image has only a SOCI v1 index and [pull_modes.soci_v1] is not enabled";
        return { ref, repository, source, resolved, noIndexReason };
      })();
      this.images.set(key, p);
    }
    return p;
  }

  async prepare(req: RemoteRequest): Promise<RemoteOutcome> {
    const l = req.labels;
    const imageRef = l[LABEL_IMAGE_REF];
    const layerDigest = l[LABEL_LAYER_DIGEST];
    const manifestDigest = l[LABEL_MANIFEST_DIGEST];
    const base = { ref: imageRef ?? "", manifestDigest: manifestDigest ?? "", sociIndex: "", namespace: req.namespace };
    const done = (mode: PullMode, reason: string, size = 0, bytes = 0): RemoteOutcome => {
      this.o.pullLog.record(base, { digest: layerDigest ?? "", chainId: req.target, mode, reason, bytesFetched: bytes, size, at: new Date().toISOString() });
      this.o.log("info", `layer ${mode}`, { image: imageRef, layer: layerDigest, chainId: req.target, mode, reason });
      return { mode, reason };
    };
    if (!imageRef || !layerDigest || !manifestDigest) return done("defer", "the cri.image-ref, cri.layer-digest and cri.manifest-digest labels are required for the remote path");

    let ctx: ImageContext;
    try {
      ctx = await this.image(imageRef, manifestDigest, l[LABEL_SOCI_INDEX_DIGEST] || undefined);
    } catch (e) {
      return done("defer", `the image could not be resolved: ${(e as Error).message}`);
    }
    base.sociIndex = ctx.resolved.sociIndex?.digest ?? "";
    if (ctx.noIndexReason !== undefined) return done("defer", ctx.noIndexReason);
    const layer = ctx.resolved.layers.find((x) => x.descriptor.digest === layerDigest);
    if (layer === undefined) return done("defer", `the layer is not in manifest ${manifestDigest}`);
    const size = Number(l[LABEL_SOCI_SIZE] ?? layer.descriptor.size);
    const min = this.o.config.snapshotter.minLayerSize;

    let why: string;
    if (min > 0 && Number.isFinite(size) && size < min) why = `the layer is ${size} bytes, under min_layer_size ${min}`;
    else {
      try {
        await this.o.layers.mountLayer({ source: ctx.source, repository: ctx.repository, layer }, req.fsDir);
        return done("lazy", `mounted lazily with SOCI ${ctx.resolved.sociIndex?.version} index ${ctx.resolved.sociIndex?.digest}`, layer.descriptor.size);
      } catch (e) {
        why = e instanceof NotLazyError ? e.reason : `the lazy mount failed: ${(e as Error).message}`;
        if (!(e instanceof NotLazyError)) this.o.log("warn", "lazy mount failed; unpacking instead", { layer: layerDigest, error: (e as Error).message });
      }
    }
    try {
      const bytes = await this.unpackInto(ctx, layer, req.fsDir);
      return done("unpacked", why, layer.descriptor.size, bytes);
    } catch (e) {
      await emptyDir(req.fsDir);
      return done("defer", `${why}; the local unpack failed: ${(e as Error).message}`, layer.descriptor.size);
    }
  }

  /** Downloads + unpacks next to `fsDir`, then swaps it in; returns the bytes downloaded. */
  private async unpackInto(ctx: ImageContext, layer: ResolvedLayer, fsDir: string): Promise<number> {
    const staged = join(dirname(fsDir), "unpack");
    await rm(staged, { recursive: true, force: true });
    let bytes = 0;
    const r = await unpackLayer(layer.descriptor, ctx.source.openBlob(layer.descriptor), staged, { privileged: process.getuid?.() === 0, onProgress: (n) => (bytes = n), ...(layer.diffId ? { diffId: layer.diffId } : {}) });
    await rm(fsDir, { recursive: true, force: true });
    await rename(r.dir, fsDir);
    await rm(staged, { recursive: true, force: true });
    this.unpackedBytes.set(layer.descriptor.digest, bytes);
    return bytes;
  }

  /** §12.1: clean a stale mount on `fsDir`, then mount the layer again from the snapshot's labels. */
  async restore(info: Info, fsDir: string): Promise<void> {
    await this.o.layers.restore([fsDir], { force: true });
    await mkdir(fsDir, { recursive: true });
    const l = info.labels;
    const ctx = await this.image(l[LABEL_IMAGE_REF]!, l[LABEL_MANIFEST_DIGEST]!, l[LABEL_SOCI_INDEX_DIGEST] || undefined);
    const layer = ctx.resolved.layers.find((x) => x.descriptor.digest === l[LABEL_LAYER_DIGEST]);
    if (layer === undefined) throw new NotLazyError(l[LABEL_LAYER_DIGEST] ?? "", "the layer is no longer in its image", false);
    await this.o.layers.mountLayer({ source: ctx.source, repository: ctx.repository, layer }, fsDir);
    this.o.pullLog.record(
      { ref: l[LABEL_IMAGE_REF]!, manifestDigest: l[LABEL_MANIFEST_DIGEST]!, sociIndex: ctx.resolved.sociIndex?.digest ?? "", namespace: l[LABEL_NAMESPACE] ?? "" },
      { digest: layer.descriptor.digest, chainId: l[LABEL_TARGET_REF] ?? info.name, mode: "lazy", reason: "restored after a restart", bytesFetched: 0, size: layer.descriptor.size, at: new Date().toISOString() },
    );
  }

  /** §6.1: the lazy layer on `fsDir` must be mounted by this process and, while incomplete, its blob reachable (`[blob] valid_interval`, `check_always`). */
  async check(fsDir: string): Promise<void> {
    const { validInterval, checkAlways } = this.o.config.blob;
    await this.o.layers.checkLayer(fsDir, { validIntervalMs: validInterval * 1000, always: checkAlways });
  }

  async release(fsDir: string): Promise<void> {
    await this.o.layers.unmountLayer(fsDir);
    await this.o.layers.restore([fsDir], { force: true });
  }
}

async function emptyDir(dir: string): Promise<void> {
  for (const n of await readdir(dir).catch(() => [] as string[])) await rm(join(dir, n), { recursive: true, force: true });
}
