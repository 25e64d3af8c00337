/**
 * Number and string parsing with Go `archive/tar` + `strconv` semantics
 * (formats §3.1): octal and base-256 header fields, decimal PAX values,
 * NUL-terminated strings. Every parser returns `null` where Go reports
 * `ErrHeader` or a strconv error, so the walker decides the message.
 *
 * Values beyond ±2^53 are refused (`null` plus `tooLarge`) rather than
 * rounded: no real archive needs them and a rounded size would corrupt every
 * later offset.
 */

import { keepOutOfFtl } from "../runtime/mod.ts";

const SPACE = 0x20;
const NUL = 0x00;

/** Index of the first NUL in `b[start, end)`, or `end` (Go `parser.parseString`). */
export function cStringEnd(b: Uint8Array, start: number, end: number): number {
  for (let i = start; i < end; i++) if (b[i] === NUL) return i;
  return end;
}

/** A copy of the NUL-terminated string in `b[start, end)`. */
export function cString(b: Uint8Array, start: number, end: number): Uint8Array {
  return b.slice(start, cStringEnd(b, start, end));
}

/** The outcome of a numeric parse: a value, or why there is none. */
export interface NumberResult {
  value: number;
  ok: boolean;
  /** The value was valid for Go but outside the safe integer range. */
  tooLarge: boolean;
}

const BAD: NumberResult = Object.freeze({ value: 0, ok: false, tooLarge: false });
const TOO_LARGE: NumberResult = Object.freeze({ value: 0, ok: false, tooLarge: true });

function ok(value: number): NumberResult {
  return { value, ok: true, tooLarge: false };
}

/**
 * Go `parser.parseOctal`: trim spaces and NULs at both ends, an empty field is
 * 0, otherwise digits 0–7 up to the first NUL. Fields are at most 12 bytes, so
 * the value always fits.
 */
export function parseOctal(b: Uint8Array, start: number, end: number): NumberResult {
  while (start < end && (b[start] === SPACE || b[start] === NUL)) start++;
  while (end > start && (b[end - 1] === SPACE || b[end - 1] === NUL)) end--;
  if (start === end) return ok(0);
  end = cStringEnd(b, start, end);
  let v = 0;
  for (let i = start; i < end; i++) {
    const d = b[i] - 0x30;
    if (d < 0 || d > 7) return BAD;
    v = v * 8 + d;
  }
  return ok(v);
}

/**
 * Go `parser.parseNumeric`: base-256 two's complement when the top bit of the
 * first byte is set (the 0x40 bit is the sign), else octal.
 */
export function parseNumeric(b: Uint8Array, start: number, end: number): NumberResult {
  if (end > start && (b[start] & 0x80) !== 0) {
    const inv = (b[start] & 0x40) !== 0 ? 0xff : 0x00;
    let x = 0n;
    for (let i = start; i < end; i++) {
      let c = b[i] ^ inv;
      if (i === start) c &= 0x7f;
      if (x >> 56n > 0n) return BAD; // would overflow uint64
      x = (x << 8n) | BigInt(c);
    }
    if (x >> 63n > 0n) return BAD; // would overflow int64
    const v = inv === 0xff ? -x - 1n : x;
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) return TOO_LARGE;
    return ok(Number(v));
  }
  return parseOctal(b, start, end);
}

const INT64_MAX = (1n << 63n) - 1n;
const INT64_MIN = -(1n << 63n);

/**
 * Go `strconv.ParseInt(s, 10, 64)` over bytes: an optional `+`/`-`, then one
 * or more ASCII digits, within int64. Returns a bigint or `null`.
 */
export function parseGoInt(b: Uint8Array, start = 0, end = b.length): bigint | null {
  let i = start;
  let negative = false;
  if (i < end && (b[i] === 0x2b || b[i] === 0x2d)) {
    negative = b[i] === 0x2d;
    i++;
  }
  if (i === end) return null;
  // Up to 15 digits fit a double exactly; longer inputs continue in bigint.
  let small = 0;
  let big: bigint | null = null;
  let digits = 0;
  for (; i < end; i++) {
    const d = b[i] - 0x30;
    if (d < 0 || d > 9) return null;
    if (big === null) {
      small = small * 10 + d;
      if (++digits === 15) big = BigInt(small);
    } else {
      big = big * 10n + BigInt(d);
      if (big > INT64_MAX + 1n) return null; // bounds the work on absurd inputs
    }
  }
  let v = big ?? BigInt(small);
  if (negative) v = -v;
  return v > INT64_MAX || v < INT64_MIN ? null : v;
}

/** `parseGoInt` narrowed to a safe integer number. */
export function parseGoNumber(b: Uint8Array, start = 0, end = b.length): NumberResult {
  const v = parseGoInt(b, start, end);
  if (v === null) return BAD;
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) return TOO_LARGE;
  return ok(Number(v));
}

/** Go `tar.blockPadding`: bytes to the next multiple of 512. */
export function blockPadding(n: number): number {
  return (512 - (n % 512)) % 512;
}

keepOutOfFtl(parseOctal, parseNumeric); // runtime/jit_hints.ts
