/**
 * `mod_time` text (formats §3.4): Go's `time.Time.MarshalText` in UTC, i.e.
 * RFC 3339 with a nanosecond fraction stripped of trailing zeros (omitted when
 * zero) and a `Z` suffix. Computed from epoch seconds and nanoseconds with
 * integer civil-date arithmetic — no JS `Date`, which has millisecond
 * precision. Years outside 0000–9999 make Go's MarshalText fail and upstream
 * then writes an empty string; so do we.
 *
 * Upstream writes the builder's local zone; we always write UTC (equal to
 * upstream run with TZ=UTC).
 */
import { keepOutOfFtl } from "../runtime/mod.ts";

const MIN_SECONDS = -62167219200; // 0000-01-01T00:00:00Z
const MAX_SECONDS = 253402300799; // 9999-12-31T23:59:59Z
const EMPTY = new Uint8Array(0);

function pad(n: number, width: number): string {
  return String(n).padStart(width, "0");
}

/**
 * The `mod_time` bytes for `seconds` since the epoch (integer, may be
 * negative or ±Infinity) plus `nanoseconds` (0..999999999).
 */
export function formatModTime(seconds: number, nanoseconds: number): Uint8Array {
  if (!Number.isInteger(seconds) || seconds < MIN_SECONDS || seconds > MAX_SECONDS) return EMPTY;
  if (!Number.isInteger(nanoseconds) || nanoseconds < 0 || nanoseconds >= 1e9) throw new RangeError(`nanoseconds ${nanoseconds} outside 0..999999999`);
  const days = Math.floor(seconds / 86400);
  const secOfDay = seconds - days * 86400;
  // Civil date from days since 1970-01-01 (proleptic Gregorian, 400-year eras).
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  const hh = Math.floor(secOfDay / 3600);
  const mm = Math.floor((secOfDay % 3600) / 60);
  const ss = secOfDay % 60;
  let text = `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}T${pad(hh, 2)}:${pad(mm, 2)}:${pad(ss, 2)}`;
  if (nanoseconds !== 0) text += "." + pad(nanoseconds, 9).replace(/0+$/, "");
  text += "Z";
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

keepOutOfFtl(formatModTime); // runtime/jit_hints.ts
