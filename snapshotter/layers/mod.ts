/**
 * snapshotter/layers/: resolving images and mounting their layers, one layer
 * at a time (snapshotter §5, §7, §12). Used by `soci mount` (mount/) and by
 * the containerd snapshotter's Prepare (snapshots/).
 *
 *   const lm = new LayerManager({ root, spanCacheBytes, backgroundFetch: false });
 *   const image = await lm.resolveImage(source, { platform, repository, sociV1 });
 *   for (const layer of image.layers) {
 *     const ref = { source, repository, layer, noIndex: image.sociIndex === undefined };
 *     try {
 *       await lm.mountLayer(ref, dir);              // FUSE at dir, lazily
 *     } catch (e) {
 *       if (!(e instanceof NotLazyError)) throw e;  // e.reason, e.noIndex
 *       await lm.unpackLayer(ref, e.reason);        // → <root>/layers/<hex>/fs
 *     }
 *   }
 *   lm.stats(); await lm.unmountLayer(dir); await lm.close();
 *
 * Contracts:
 * * `resolveImage` picks the platform manifest (NotFoundError when none
 *   matches), finds the v2 index from the manifest annotation, v1 (referrers,
 *   local store records) only with `sociV1`, and fetches + verifies the index
 *   and every zTOC; index failures become `noIndexReason`, zTOC failures the
 *   layer's `notLazyReason` — never an exception.
 * * `mountLayer(ref, dir)` → `LayerMountInfo` once mounted; `NotLazyError`
 *   ("not lazy: <reason>", `noIndex` for image-wide) when there is no usable
 *   zTOC or the layer is under `minLayerSize`.
 * * `unpackLayer(ref, reason)` streams the blob, verifies digest and size,
 *   extracts safely (no `..`, no writes through symlinked parents, hardlinks
 *   only within the layer; whiteouts → 0:0 char devices, opaque →
 *   `trusted.overlay.opaque=y`; owners/devices/xattrs as root) into
 *   `<root>/layers/<hex>/fs`, built aside and renamed; an existing one is
 *   reused. FormatError for a bad blob or hostile tar.
 * * `restore(dirs)` cleans mounts a dead daemon left (ENOTCONN).
 * * `unpackLayer` (the function) is also exported for callers with their own
 *   destination (a snapshot's `fs`).
 */
export { LayerManager, hexOf, type LayerManagerOptions, type LayerMountInfo, type LayerRef, type LayerStats } from "./layer_manager.ts";
export { NotLazyError } from "./not_lazy_error.ts";
export { resolveImage, type ResolvedImage, type ResolvedLayer, type ResolveImageOptions } from "./resolve_image.ts";
export { compressionOf, unpackLayer, type UnpackOptions, type UnpackResult } from "./unpack_layer.ts";
export { cleanName, type ExtractSummary } from "./_extract.ts";
