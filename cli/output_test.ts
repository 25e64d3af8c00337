import assert from "node:assert/strict";
import { test } from "node:test";
import { FormatError, NotFoundError, SociError, UsageError } from "../core-wasm/src/errors.ts";
import { ago, formatTable, humanSize, Output, Progress, reportError, type Writer } from "./output.ts";

function capture(isTTY = false): Writer & { text: string } {
  const w = { text: "", isTTY, columns: 80, write(s: string) { w.text += s; return true; } };
  return w;
}

test("formatTable() pads every column but the last to its widest cell plus four spaces", () => {
  const t = formatTable(["DIGEST", "SIZE", "LAYER DIGEST"], [["sha256:aa", "12345", "sha256:bb"], ["sha256:cccc", "1", "sha256:d"]]);
  assert.equal(
    t,
    "DIGEST         SIZE     LAYER DIGEST\n" +
      "sha256:aa      12345    sha256:bb\n" +
      "sha256:cccc    1        sha256:d\n",
  );
});

test("formatTable() prints only the header for no rows", () => {
  assert.equal(formatTable(["A", "B"], []), "A    B\n");
});

test("humanSize() uses decimal units with four significant digits", () => {
  assert.equal(humanSize(999), "999 B");
  assert.equal(humanSize(1000), "1 kB");
  assert.equal(humanSize(12_345_678), "12.35 MB");
  assert.equal(humanSize(4_194_304), "4.194 MB");
});

test("ago() formats elapsed time like upstream's CREATED column", () => {
  const now = 1_000_000_000;
  assert.equal(ago(undefined, now), "n/a");
  assert.equal(ago(now - 5_000, now), "5s ago");
  assert.equal(ago(now - 192_000, now), "3m12s ago");
  assert.equal(ago(now - 2 * 3600_000 - 60_000, now), "2h1m ago");
  assert.equal(ago(now - 3 * 86400_000, now), "3d0h ago");
});

test("reportError() prints `soci: <message>` and the hint on the next line, exit 1", () => {
  const err = capture();
  const code = reportError(new NotFoundError('Cannot find index "sha256:00": not in the store', { hint: "Run soci index list" }), err, false);
  assert.equal(code, 1);
  assert.equal(err.text, 'soci: Cannot find index "sha256:00": not in the store\nhint: Run soci index list\n');
});

test("reportError() exits 2 for a UsageError", () => {
  const err = capture();
  assert.equal(reportError(new UsageError("Cannot use --jobs \"x\": expected an integer ≥ 1"), err, false), 2);
  assert.match(err.text, /^soci: Cannot use --jobs/);
});

test("reportError() shows cause messages not already in the message, and no stack without --debug", () => {
  const err = capture();
  const cause = new FormatError("Cannot inflate layer: invalid block type", { compressedOffset: 12 });
  reportError(new SociError('Cannot convert "img"', { cause }), err, false);
  assert.equal(err.text, 'soci: Cannot convert "img"\n  caused by: Cannot inflate layer: invalid block type (at compressed offset 12)\n');
  assert.doesNotMatch(err.text, /\n\s+at /);
});

test("reportError() prints stacks of the error and its causes with --debug", () => {
  const err = capture();
  reportError(new SociError("Cannot do it", { cause: new Error("inner") }), err, true);
  assert.match(err.text, /^soci: Cannot do it\n/);
  assert.match(err.text, /SociError: Cannot do it\n\s+at /);
  assert.match(err.text, /caused by: Error: inner/);
});

test("reportError() hints that a TypeError is a bug", () => {
  const err = capture();
  assert.equal(reportError(new TypeError("x is undefined"), err, false), 1);
  assert.match(err.text, /^soci: x is undefined\nhint: This is a bug/);
});

test("Output.info() is silent under --quiet and --json; warnings always print", () => {
  const out = capture();
  const err = capture();
  const o = new Output(out, err, { quiet: true });
  o.info("layer x -> ztoc y");
  o.warn("something");
  assert.equal(out.text, "");
  assert.equal(err.text, "soci: warning: something\n");
  const j = new Output(out, err, { json: true });
  j.info("nope");
  j.printJson({ a: [1] });
  assert.equal(out.text, '{\n  "a": [\n    1\n  ]\n}\n');
});

test("Progress prints one plain line per finished item when not on a TTY", () => {
  const err = capture(false);
  let now = 0;
  const p = new Progress(err, false, () => now);
  p.start("a", "layer sha256:aa", 2_000_000);
  p.update("a", 1_000_000);
  now = 1000;
  p.finish("a");
  p.close();
  assert.equal(err.text, "layer sha256:aa: 2 MB in 1.00s (2.0 MB/s)\n");
});

test("Progress redraws in place on a TTY and clears before the final line", () => {
  const err = capture(true);
  let now = 0;
  const p = new Progress(err, true, () => now);
  p.start("a", "layer a", 1_000_000);
  now = 500;
  p.update("a", 500_000);
  assert.match(err.text, /layer a {2}500 kB\/1 MB 50% {2}1\.0 MB\/s {2}ETA 1s\n$/);
  assert.match(err.text, /\x1b\[1F\x1b\[J/);
  now = 1000;
  p.finish("a");
  p.close();
  assert.match(err.text, /layer a: 1 MB in 1\.00s \(1\.0 MB\/s\)\n$/);
});

test("Progress is silent under --quiet", () => {
  const err = capture(true);
  const o = new Output(capture(), err, { quiet: true });
  const p = o.progress();
  p.start("a", "x", 10);
  p.finish("a");
  assert.equal(err.text, "");
});
