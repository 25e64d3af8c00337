import { test } from "node:test";
import assert from "node:assert/strict";
import { challengeScopes, mergeScopes, parseChallenges } from "./challenge.ts";

test("parseChallenges() reads a Bearer challenge with a quoted comma in the scope", () => {
  const [c] = parseChallenges('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"');
  assert.deepEqual(c, {
    scheme: "bearer",
    params: { realm: "https://auth.example/token", service: "registry.example", scope: "repository:a/b:pull,push" },
  });
});

test("parseChallenges() reads several challenges in one header, case-insensitively", () => {
  const cs = parseChallenges('Basic realm="test-realm", BEARER Realm="http://x/t", Service=reg');
  assert.deepEqual(cs, [
    { scheme: "basic", params: { realm: "test-realm" } },
    { scheme: "bearer", params: { realm: "http://x/t", service: "reg" } },
  ]);
});

test("parseChallenges() unescapes quoted strings and tolerates spaces", () => {
  const [c] = parseChallenges('Bearer  realm = "a\\"b\\\\c" ,  scope="x y"');
  assert.equal(c.params.realm, 'a"b\\c');
  assert.deepEqual(challengeScopes(c), ["x", "y"]);
});

test("parseChallenges() survives hostile input", () => {
  assert.deepEqual(parseChallenges(""), []);
  assert.deepEqual(parseChallenges(null), []);
  assert.deepEqual(parseChallenges('Bearer realm="unterminated'), [{ scheme: "bearer", params: { realm: "unterminated" } }]);
  assert.ok(parseChallenges(",,,;;;===").length <= 16);
  const long = parseChallenges("Bearer " + "a=b,".repeat(10_000)); // cut at 8 KiB, mid-parameter
  assert.ok(long.length <= 2 && long[0].params.a === "b");
  assert.equal(Object.keys(parseChallenges("Bearer " + Array.from({ length: 100 }, (_, i) => `k${i}=v`).join(","))[0].params).length, 32);
  assert.ok(parseChallenges("x ".repeat(10_000)).length <= 16);
});

test("mergeScopes() unions actions per resource and sorts", () => {
  assert.deepEqual(mergeScopes(["repository:b:pull", "repository:a:push", "repository:a:pull"]), ["repository:a:pull,push", "repository:b:pull"]);
  assert.deepEqual(mergeScopes(["repository:a:pull,push", "repository:a:pull"]), ["repository:a:pull,push"]);
  assert.deepEqual(mergeScopes(["registry:catalog:*"]), ["registry:catalog:*"]);
});
