/**
 * Parses a TOC entry's `mod_time` bytes (formats §3.4: Go's RFC 3339 text,
 * nanosecond fraction, `Z` or a numeric zone — upstream writes the builder's
 * local zone) into epoch seconds + nanoseconds for the FUSE attributes
 * (snapshotter §8.2). Integer civil-date arithmetic, no JS `Date` (millisecond
 * precision, and no years before 1970 in some runtimes' parsers).
 *
 * Empty or unparsable text gives the epoch (0, 0): upstream's Go `time.Time`
 * zero value would show year 1, which no tool expects; the caller logs it.
 * Not here: formatting (ztoc/mod_time.ts).
 */

export interface ModTime {
  /** Seconds since the epoch; negative before 1970. */
  sec: number;
  /** 0..999999999, added to `sec` (floor semantics, as a timespec). */
  nsec: number;
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/;

/** Days since 1970-01-01 of a proleptic Gregorian date (month 1..12). */
function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** The time in `text` (ASCII bytes), or `null` when it is not RFC 3339 as Go writes it. */
export function parseModTime(text: Uint8Array): ModTime | null {
  if (text.length === 0 || text.length > 64) return null;
  let s = "";
  for (const b of text) s += String.fromCharCode(b);
  const m = RFC3339.exec(s);
  if (m === null) return null;
  const [, yy, mo, dd, hh, mi, ss, frac, zone] = m;
  const month = Number(mo), day = Number(dd), hour = Number(hh), minute = Number(mi), second = Number(ss);
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return null;
  let sec = daysFromCivil(Number(yy), month, day) * 86400 + hour * 3600 + minute * 60 + second;
  if (zone !== "Z") {
    const offset = (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6))) * 60;
    sec -= zone[0] === "+" ? offset : -offset;
  }
  const nsec = frac === undefined ? 0 : Number(frac.padEnd(9, "0"));
  return { sec, nsec };
}
