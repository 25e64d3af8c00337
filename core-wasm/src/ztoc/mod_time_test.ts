import { test } from "node:test";
import assert from "node:assert/strict";
import { formatModTime } from "./mod.ts";

const text = (s: number, ns = 0) => new TextDecoder().decode(formatModTime(s, ns));

test("formatModTime() writes whole seconds without a fraction", () => {
  assert.equal(text(1700000000), "2023-11-14T22:13:20Z");
  assert.equal(text(0), "1970-01-01T00:00:00Z");
});

test("formatModTime() trims trailing zeros of the nanosecond fraction", () => {
  assert.equal(text(1700000000, 123456789), "2023-11-14T22:13:20.123456789Z");
  assert.equal(text(1700000000, 500000000), "2023-11-14T22:13:20.5Z");
  assert.equal(text(1700000000, 1), "2023-11-14T22:13:20.000000001Z");
});

test("formatModTime() handles times before 1970 and leap days", () => {
  assert.equal(text(-1), "1969-12-31T23:59:59Z");
  assert.equal(text(-1, 500000000), "1969-12-31T23:59:59.5Z");
  assert.equal(text(951782400), "2000-02-29T00:00:00Z");
  assert.equal(text(-2208988800), "1900-01-01T00:00:00Z");
});

test("formatModTime() covers years 0000 to 9999 and is empty outside them, like Go's MarshalText", () => {
  assert.equal(text(-62167219200), "0000-01-01T00:00:00Z");
  assert.equal(text(253402300799, 999999999), "9999-12-31T23:59:59.999999999Z");
  assert.equal(text(-62167219201), "");
  assert.equal(text(253402300800), "");
  assert.equal(text(Infinity), "");
  assert.equal(text(-Infinity), "");
});

test("formatModTime() agrees with Date on a spread of whole-second instants", () => {
  for (let s = -62135596800; s < 253402300799; s += 987654321) {
    assert.equal(text(s), new Date(s * 1000).toISOString().replace(".000Z", "Z"), `t=${s}`);
  }
});
