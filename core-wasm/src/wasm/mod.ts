/**
 * The binding to the WebAssembly inflate kernel — the sole door to
 * `WebAssembly` (STYLE §6.1). Everyone else uses `Inflater` (one kernel
 * instance per stream), the `InflateStatus` codes and `inflateError`.
 *
 * What it does not do: gzip framing, checkpoints or span maths (gzip/).
 */
export { Inflater, inflateError, WINDOW_SIZE, type InflateCallOptions } from "./inflater.ts";
export { InflateStatus, describeInflateError, type InflateStatusCode } from "./status.ts";
