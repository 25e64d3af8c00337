/**
 * `NotLazyError`: a layer cannot be mounted lazily (snapshotter §5 step 4,
 * §7 step 3–4): the image has no SOCI index, the index has no zTOC for the
 * layer, its zTOC failed to load, or the layer is under the minimum size.
 * Callers branch on it: unpack the layer locally (or, for "no SOCI index" in
 * containerd's Prepare, defer to the runtime — `noIndex` tells which).
 */
import { FailedPreconditionError } from "../../core-wasm/src/errors.ts";

export class NotLazyError extends FailedPreconditionError {
  /** The layer digest. */
  readonly layerDigest: string;
  /** Why, in words ("the image has no SOCI v2 index …"). */
  readonly reason: string;
  /** True when the whole image has no SOCI index (not just this layer). */
  readonly noIndex: boolean;

  constructor(layerDigest: string, reason: string, noIndex: boolean) {
    super(`Cannot mount layer ${layerDigest} lazily: not lazy: ${reason}`, { hint: "The layer is downloaded and unpacked instead" });
    this.layerDigest = layerDigest;
    this.reason = reason;
    this.noIndex = noIndex;
  }
}
