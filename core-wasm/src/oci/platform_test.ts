import { test } from "node:test";
import assert from "node:assert/strict";
import { InvalidArgumentError } from "../errors.ts";
import type { Platform } from "./model.ts";
import { formatPlatform, matchPlatform, normalizePlatform, parsePlatform } from "./platform.ts";

const AMD64_HOST: Platform = { architecture: "amd64", os: "linux" };

const normalisation: Array<[Platform, Platform]> = [
  [{ architecture: "x86_64", os: "linux" }, { architecture: "amd64", os: "linux" }],
  [{ architecture: "x86-64", os: "Linux" }, { architecture: "amd64", os: "linux" }],
  [{ architecture: "amd64", os: "linux", variant: "v1" }, { architecture: "amd64", os: "linux" }],
  [{ architecture: "amd64", os: "linux", variant: "v3" }, { architecture: "amd64", os: "linux", variant: "v3" }],
  [{ architecture: "aarch64", os: "linux" }, { architecture: "arm64", os: "linux" }],
  [{ architecture: "arm64", os: "linux", variant: "v8" }, { architecture: "arm64", os: "linux" }],
  [{ architecture: "arm64", os: "linux", variant: "8" }, { architecture: "arm64", os: "linux" }],
  [{ architecture: "arm64", os: "linux", variant: "v9.0" }, { architecture: "arm64", os: "linux", variant: "v9" }],
  [{ architecture: "arm", os: "linux" }, { architecture: "arm", os: "linux", variant: "v7" }],
  [{ architecture: "arm", os: "linux", variant: "6" }, { architecture: "arm", os: "linux", variant: "v6" }],
  [{ architecture: "armhf", os: "linux" }, { architecture: "arm", os: "linux", variant: "v7" }],
  [{ architecture: "armel", os: "linux" }, { architecture: "arm", os: "linux", variant: "v6" }],
  [{ architecture: "i386", os: "linux", variant: "x" }, { architecture: "386", os: "linux" }],
  [{ architecture: "amd64", os: "macOS" }, { architecture: "amd64", os: "darwin" }],
  [{ architecture: "amd64", os: "windows", osVersion: "10.0.17763.1", osFeatures: ["win32k"] }, { architecture: "amd64", os: "windows", osVersion: "10.0.17763.1", osFeatures: ["win32k"] }],
];
for (const [input, want] of normalisation) {
  test(`normalizePlatform() turns ${JSON.stringify(input)} into ${formatPlatform(want)}`, () => {
    assert.deepEqual(normalizePlatform(input), want);
  });
}

const specifiers: Array<[string, Platform]> = [
  ["linux/amd64", { architecture: "amd64", os: "linux" }],
  ["linux/x86_64", { architecture: "amd64", os: "linux" }],
  ["linux/arm64", { architecture: "arm64", os: "linux" }],
  ["linux/arm64/v8", { architecture: "arm64", os: "linux" }],
  ["linux/arm", { architecture: "arm", os: "linux", variant: "v7" }],
  ["linux/arm/v6", { architecture: "arm", os: "linux", variant: "v6" }],
  ["linux", { architecture: "amd64", os: "linux" }],
  ["arm64", { architecture: "arm64", os: "linux" }],
  ["windows(10.0.17763)/amd64", { architecture: "amd64", os: "windows", osVersion: "10.0.17763" }],
];
for (const [spec, want] of specifiers) {
  test(`parsePlatform("${spec}") gives ${formatPlatform(want)} on an amd64 Linux host`, () => {
    assert.deepEqual(parsePlatform(spec, AMD64_HOST), want);
  });
}

for (const bad of ["", "linux/amd64/v1/x", "linux//amd64", "nope", "linux/am d64"]) {
  test(`parsePlatform(${JSON.stringify(bad)}) throws an InvalidArgumentError naming the specifier`, () => {
    assert.throws(() => parsePlatform(bad, AMD64_HOST), (e: unknown) => e instanceof InvalidArgumentError && e.message.includes(JSON.stringify(bad)));
  });
}

test("matchPlatform() is strict: equal after normalising, variants must agree", () => {
  assert.ok(matchPlatform({ architecture: "arm64", os: "linux", variant: "v8" }, { architecture: "aarch64", os: "linux" }));
  assert.ok(matchPlatform({ architecture: "arm", os: "linux" }, { architecture: "arm", os: "linux", variant: "v7" }));
  assert.ok(!matchPlatform({ architecture: "arm", os: "linux", variant: "v6" }, { architecture: "arm", os: "linux", variant: "v7" }));
  assert.ok(!matchPlatform({ architecture: "amd64", os: "linux" }, { architecture: "386", os: "linux" }));
  assert.ok(!matchPlatform({ architecture: "amd64", os: "linux" }, { architecture: "amd64", os: "windows" }));
  assert.ok(!matchPlatform({ architecture: "amd64", os: "linux" }, { architecture: "unknown", os: "unknown" }));
});

test("matchPlatform() compares Windows OS versions on major.minor.build only", () => {
  const w = (osVersion: string): Platform => ({ architecture: "amd64", os: "windows", osVersion });
  assert.ok(matchPlatform(w("10.0.17763"), w("10.0.17763.1234")));
  assert.ok(!matchPlatform(w("10.0.17763"), w("10.0.20348.1")));
});
