import { test } from "node:test";
import assert from "node:assert/strict";
import { RegistryError } from "../errors.ts";
import { staticCredentials } from "./credentials.ts";
import { Transport } from "./transport.ts";

interface Seen {
  url: string;
  method: string;
  auth: string | null;
}

/** A fake fetch: `handler` answers each request; every request is recorded. */
function fakeFetch(handler: (url: URL, init: RequestInit, seen: Seen[]) => Response | Promise<Response>) {
  const seen: Seen[] = [];
  const f = (async (input: string | URL | Request, init: RequestInit = {}) => {
    const url = new URL(String(input));
    const headers = new Headers(init.headers);
    seen.push({ url: url.toString(), method: init.method ?? "GET", auth: headers.get("authorization") });
    return handler(url, init, seen);
  }) as typeof fetch;
  return { f, seen };
}

const CHALLENGE = 'Bearer realm="https://auth.test/token",service="reg",scope="repository:app:pull"';
const spec = (url = "https://reg.test/v2/app/manifests/1") => ({
  method: "GET", url: new URL(url), scopes: ["repository:app:pull"], action: "fetch manifest \"reg.test/app:1\"", ok: [200],
});

test("Transport answers a Bearer challenge, retries once, then authorises up front with the cached token", async () => {
  let issued = 0;
  const { f, seen } = fakeFetch((url, init) => {
    if (url.host === "auth.test") {
      assert.equal(url.searchParams.get("service"), "reg");
      assert.deepEqual(url.searchParams.getAll("scope"), ["repository:app:pull"]);
      assert.equal(url.searchParams.get("account"), "u");
      return Response.json({ token: `tok-${++issued}-secret`, expires_in: 300 });
    }
    const auth = new Headers(init.headers).get("authorization");
    if (auth !== `Bearer tok-1-secret`) return new Response("", { status: 401, headers: { "WWW-Authenticate": CHALLENGE } });
    return new Response("{}", { status: 200 });
  });
  const t = new Transport({ fetch: f, credentials: staticCredentials("u:p") });
  assert.equal((await t.request(spec())).status, 200);
  await Promise.all([1, 2, 3].map(() => t.request(spec())));
  assert.equal(issued, 1);
  assert.deepEqual(seen.map((s) => `${new URL(s.url).host} ${s.auth ?? "-"}`), [
    "reg.test -",
    "auth.test Basic dTpw",
    "reg.test Bearer tok-1-secret",
    "reg.test Bearer tok-1-secret",
    "reg.test Bearer tok-1-secret",
    "reg.test Bearer tok-1-secret",
  ]);
});

test("Transport collapses concurrent token fetches for the same scope into one", async () => {
  let issued = 0;
  const { f } = fakeFetch(async (url, init) => {
    if (url.host === "auth.test") {
      await new Promise((r) => setTimeout(r, 20));
      return Response.json({ access_token: `tok-${++issued}`, expires_in: 300 });
    }
    return new Headers(init.headers).get("authorization")?.startsWith("Bearer ")
      ? new Response("{}")
      : new Response("", { status: 401, headers: { "WWW-Authenticate": CHALLENGE } });
  });
  const t = new Transport({ fetch: f });
  await t.request(spec()); // learns the challenge
  const fresh = new Transport({ fetch: f });
  await fresh.request(spec());
  assert.equal(issued, 2);
  // Same transport, a new scope, five at once: one fetch.
  await Promise.all([1, 2, 3, 4, 5].map(() => t.request({ ...spec(), scopes: ["repository:other:pull"] })));
  assert.equal(issued, 3);
});

test("Transport refreshes a rejected token once, then reports 401 without the token", async () => {
  let issued = 0;
  const { f } = fakeFetch((url) => {
    if (url.host === "auth.test") return Response.json({ token: `SECRET-TOKEN-${++issued}` });
    // The registry echoes the token in its error text: it must not reach the message.
    return Response.json({ errors: [{ code: "UNAUTHORIZED", message: `bad token SECRET-TOKEN-${issued}` }] }, {
      status: 401, headers: { "WWW-Authenticate": CHALLENGE },
    });
  });
  const lines: string[] = [];
  const t = new Transport({ fetch: f, debug: (l) => lines.push(l) });
  await assert.rejects(t.request(spec()), (e: unknown) => {
    assert.ok(e instanceof RegistryError);
    assert.equal(e.details.status, 401);
    assert.deepEqual(e.details.diagnostics, ["UNAUTHORIZED: bad token REDACTED"]);
    assert.ok(!e.message.includes("SECRET-TOKEN"), e.message);
    assert.equal(e.details.url, "https://reg.test/v2/app/manifests/1");
    return true;
  });
  assert.equal(issued, 1, "one challenge answered, then the error");
  for (const l of lines) assert.ok(!l.includes("SECRET-TOKEN"), l);
});

test("Transport retries parallel anonymous requests refused by a Basic challenge another request answered first", async () => {
  const { f, seen } = fakeFetch(async (_url, init) => {
    await new Promise((r) => setTimeout(r, 5)); // all four go out before any answer arrives
    const auth = new Headers(init.headers).get("authorization");
    if (auth === "Basic dTpw") return new Response("{}", { status: 200 });
    return new Response("", { status: 401, headers: { "WWW-Authenticate": 'Basic realm="r"' } });
  });
  const t = new Transport({ fetch: f, credentials: staticCredentials("u:p") });
  const answers = await Promise.all([1, 2, 3, 4].map(() => t.request(spec())));
  assert.deepEqual(answers.map((r) => r.status), [200, 200, 200, 200]);
  assert.equal(seen.filter((s) => s.auth === null).length, 4);
  assert.equal(seen.filter((s) => s.auth === "Basic dTpw").length, 4);
  // Refused credentials are not retried: wrong ones answer 401 after one authorised attempt.
  const bad = fakeFetch(() => new Response("", { status: 401, headers: { "WWW-Authenticate": 'Basic realm="r"' } }));
  const t2 = new Transport({ fetch: bad.f, credentials: staticCredentials("u:wrong") });
  await assert.rejects(t2.request(spec()), (e: unknown) => e instanceof RegistryError && e.details.status === 401);
  assert.deepEqual(bad.seen.map((s) => s.auth === null ? "-" : "basic"), ["-", "basic"]);
});

test("Transport does not send credentials along a redirect to another host", async () => {
  const { f, seen } = fakeFetch((url) => {
    if (url.host === "reg.test" && url.pathname.includes("blobs")) {
      return new Response(null, { status: 307, headers: { Location: "https://storage.test/blob?X-Amz-Signature=abc" } });
    }
    if (url.host === "storage.test") return new Response("data");
    return new Response("", { status: 401, headers: { "WWW-Authenticate": 'Basic realm="r"' } });
  });
  const t = new Transport({ fetch: f, credentials: staticCredentials("u:p") });
  await t.request(spec("https://reg.test/v2/")).catch(() => {}); // learn Basic
  const res = await t.request(spec("https://reg.test/v2/app/blobs/sha256:00"));
  assert.equal(new TextDecoder().decode(await res.bytes(100)), "data");
  const last = seen.slice(-2);
  assert.equal(last[0].auth, "Basic dTpw");
  assert.equal(last[1].url, "https://storage.test/blob?X-Amz-Signature=abc");
  assert.equal(last[1].auth, null);
});

test("Transport retries idempotent requests on 5xx and 429 but not a POST unless asked", async () => {
  let n = 0;
  const { f } = fakeFetch(() => (++n < 3 ? new Response("", { status: n === 1 ? 502 : 429, headers: { "Retry-After": "0" } }) : new Response("ok")));
  const t = new Transport({ fetch: f, retry: { minWaitMs: 1, maxWaitMs: 2 } });
  assert.equal((await t.request(spec())).status, 200);
  assert.equal(n, 3);
  n = 0;
  await assert.rejects(t.request({ ...spec(), method: "POST" }), (e: unknown) => e instanceof RegistryError && e.details.status === 502 && e.retryable);
  assert.equal(n, 1);
  n = 0;
  assert.equal((await t.request({ ...spec(), method: "POST", retry: true })).status, 200);
});

test("Transport reports 501 and 4xx at once, with the registry's codes", async () => {
  let n = 0;
  const { f } = fakeFetch(() => {
    n++;
    return Response.json({ errors: [{ code: "UNSUPPORTED", message: "nope" }] }, { status: 501 });
  });
  const t = new Transport({ fetch: f });
  await assert.rejects(t.request(spec()), (e: unknown) => {
    assert.ok(e instanceof RegistryError);
    assert.equal(e.message, 'Cannot fetch manifest "reg.test/app:1": registry answered 501 UNSUPPORTED: nope (GET https://reg.test/v2/app/manifests/1)');
    assert.equal(e.retryable, false);
    return true;
  });
  assert.equal(n, 1);
});
