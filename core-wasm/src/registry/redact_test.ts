import { test } from "node:test";
import assert from "node:assert/strict";
import { redactHeaders, redactText, redactUrl } from "./redact.ts";

test("redactUrl() drops user info and secret query values but keeps safe ones", () => {
  assert.equal(
    redactUrl("https://user:pw@reg.example/v2/app/blobs/uploads/abc?_state=SECRETSTATE&digest=sha256:00&X-Amz-Signature=sig#frag"),
    "https://reg.example/v2/app/blobs/uploads/abc?_state=REDACTED&digest=sha256%3A00&X-Amz-Signature=REDACTED",
  );
  assert.equal(redactUrl("http://127.0.0.1:5000/v2/app/blobs/uploads/?mount=sha256:ab&from=base"), "http://127.0.0.1:5000/v2/app/blobs/uploads/?mount=sha256:ab&from=base");
  assert.equal(redactUrl("not a url"), "<invalid URL>");
});

test("redactHeaders() hides credentials, keeps the scheme, and redacts Locations", () => {
  const h = redactHeaders({
    Authorization: "Bearer eyJhbGciOi.secret.sig",
    "Proxy-Authorization": "Basic dXNlcjpwYXNz",
    Cookie: "a=b",
    "X-Auth-Token": "tok",
    Location: "/v2/app/blobs/uploads/u?_state=SECRET",
    Link: '</v2/_catalog?last=a&n=1>; rel="next"',
    Accept: "application/json",
  });
  assert.deepEqual(h, {
    Authorization: "Bearer REDACTED",
    "Proxy-Authorization": "Basic REDACTED",
    Cookie: "REDACTED",
    "X-Auth-Token": "REDACTED",
    Location: "/v2/app/blobs/uploads/u?_state=REDACTED",
    Link: '</v2/_catalog?last=a&n=1>; rel="next"',
    Accept: "application/json",
  });
  const fromHeaders = redactHeaders(new Headers({ "www-authenticate": 'Bearer realm="x"', authorization: "Basic abc" }));
  assert.equal(fromHeaders.authorization, "Basic REDACTED");
  assert.equal(fromHeaders["www-authenticate"], 'Bearer realm="x"');
});

test("redactText() replaces every known secret of 4+ characters", () => {
  assert.equal(redactText("token abcd and abcd, pw xyz", ["abcd", "xyz"]), "token REDACTED and REDACTED, pw xyz");
});
