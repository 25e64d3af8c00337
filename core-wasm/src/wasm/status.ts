/**
 * Mirror of core-wasm/assembly/status.ts (the kernel ABI): change both
 * together. Non-negative codes say why a call stopped; negative codes mean the
 * compressed data is corrupt and map to a FormatError message here.
 */
export const InflateStatus = {
  NEED_INPUT: 0,
  BOUNDARY: 1,
  STREAM_END: 2,
  OUTPUT_FULL: 3,
  ERR_BLOCK_TYPE: -1,
  ERR_STORED_LENGTH: -2,
  ERR_TOO_MANY_CODES: -3,
  ERR_CODE_LENGTHS_CODE: -4,
  ERR_LENGTH_REPEAT: -5,
  ERR_MISSING_EOB: -6,
  ERR_LITLEN_CODE: -7,
  ERR_DIST_CODE: -8,
  ERR_LITLEN_SYMBOL: -9,
  ERR_DIST_SYMBOL: -10,
  ERR_DISTANCE_TOO_FAR: -11,
} as const;

export type InflateStatusCode = (typeof InflateStatus)[keyof typeof InflateStatus];

const ERROR_TEXT: Record<number, string> = {
  [-1]: "invalid deflate block type 3",
  [-2]: "stored block length does not match its complement",
  [-3]: "too many literal/length or distance codes",
  [-4]: "invalid code-length code (over-subscribed or incomplete)",
  [-5]: "invalid code-length repeat",
  [-6]: "literal/length code has no end-of-block symbol",
  [-7]: "invalid literal/length code lengths (over-subscribed or incomplete)",
  [-8]: "invalid distance code lengths (over-subscribed or incomplete)",
  [-9]: "invalid literal/length symbol",
  [-10]: "invalid distance symbol",
  [-11]: "distance reaches before the start of the available history",
};

/** What a negative status means, for error messages. */
export function describeInflateError(status: number): string {
  return ERROR_TEXT[status] ?? `unknown kernel status ${status}`;
}
