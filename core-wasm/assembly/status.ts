/**
 * Status codes returned by `inflate` (the ABI; mirrored in
 * core-wasm/src/wasm/status.ts — change both together). Non-negative codes
 * say why a call stopped; negative codes are corrupt input (STYLE §6.8).
 */
export const NEED_INPUT: i32 = 0; // every input byte used (a partial symbol or header waits for more)
export const BOUNDARY: i32 = 1; // stopped at a non-final block boundary by the span rule
export const STREAM_END: i32 = 2; // the final block ended; the rest of its last byte was dropped
export const OUTPUT_FULL: i32 = 3; // the output arena (or the caller's cap) is full; call again

export const ERR_BLOCK_TYPE: i32 = -1; // block type 3
export const ERR_STORED_LENGTH: i32 = -2; // stored LEN != ~NLEN
export const ERR_TOO_MANY_CODES: i32 = -3; // HLIT > 286 or HDIST > 30
export const ERR_CODE_LENGTHS_CODE: i32 = -4; // code-length code over-subscribed or incomplete
export const ERR_LENGTH_REPEAT: i32 = -5; // repeat with no previous length, or past the end
export const ERR_MISSING_EOB: i32 = -6; // litlen code has no end-of-block symbol
export const ERR_LITLEN_CODE: i32 = -7; // litlen code over-subscribed or incomplete
export const ERR_DIST_CODE: i32 = -8; // distance code over-subscribed or incomplete
export const ERR_LITLEN_SYMBOL: i32 = -9; // invalid literal/length symbol (286, 287, unused code)
export const ERR_DIST_SYMBOL: i32 = -10; // invalid distance symbol (30, 31, unused code)
export const ERR_DISTANCE_TOO_FAR: i32 = -11; // distance beyond the available history

// Internal only (never returned by `inflate`).
export const CONTINUE: i32 = 100;
export const BLOCK_END: i32 = 101;
