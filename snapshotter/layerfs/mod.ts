/**
 * layerfs/: one read-only FUSE filesystem per layer, built from the layer's
 * zTOC entries (snapshotter §8; fuse.md §7–§8 for what the kernel expects).
 * Serve a `LayerFs` with `mountFuse` (snapshotter/fuse); file data comes from
 * a `LayerReader` (the span manager of snapshotter/spans, or anything with
 * the same `read`).
 *
 *   _mod_time.ts  TOC `mod_time` text → seconds + nanoseconds
 *   _tree.ts      the inode tree: names, implicit parents, replacement,
 *                 hardlinks, whiteout/opaque translation
 *   layer_fs.ts   `LayerFs`: the `ReadOnlyFileSystem` over that tree
 *
 * Not here: fetching or inflating spans (spans/), choosing and mounting
 * layers (layers/).
 */
export { LAYER_CACHE_TIMEOUTS, LayerFs, type LayerFsOptions, type LayerReader, type OpaqueXattrMode } from "./layer_fs.ts";
