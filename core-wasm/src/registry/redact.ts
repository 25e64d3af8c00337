/**
 * Redaction of secrets before anything reaches an error, a log or debug output
 * (STYLE §7: RegistryError carries a *redacted* URL).
 *
 * A URL keeps scheme, host and path; user info is dropped and every query value
 * is replaced by `REDACTED` except for a short allow-list of parameters that
 * carry no secret (digest, mount, from, …). Upload `Location`s carry a `_state`
 * token and pre-signed storage URLs carry signatures — both are redacted.
 * Headers that carry credentials are replaced wholesale.
 */

const SAFE_QUERY_KEYS = new Set(["digest", "mount", "from", "n", "last", "artifactType", "ns", "service", "scope", "account"]);
const SECRET_HEADERS = new Set(["authorization", "proxy-authorization", "cookie", "set-cookie", "x-registry-auth", "x-amz-security-token"]);

export const REDACTED = "REDACTED";

/** The URL with user info removed and non-allow-listed query values replaced. Never throws. */
export function redactUrl(url: string | URL): string {
  let u: URL;
  try {
    u = new URL(String(url));
  } catch {
    return "<invalid URL>";
  }
  u.username = "";
  u.password = "";
  u.hash = "";
  const keys = [...new Set([...u.searchParams.keys()])];
  for (const k of keys) {
    if (SAFE_QUERY_KEYS.has(k)) continue;
    u.searchParams.set(k, REDACTED);
  }
  return u.toString();
}

/** A copy of the headers for display: credential-bearing ones become `REDACTED`. */
export function redactHeaders(headers: Headers | Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  const entries = headers instanceof Headers ? [...headers.entries()] : Object.entries(headers);
  for (const [k, v] of entries) {
    const lower = k.toLowerCase();
    if (SECRET_HEADERS.has(lower) || lower.includes("token")) {
      // Keep the scheme so debug output still shows *how* we authenticated.
      const scheme = /^(Basic|Bearer)\s/i.exec(v)?.[1];
      out[k] = scheme ? `${scheme} ${REDACTED}` : REDACTED;
    } else if (lower === "location" || lower === "content-location" || lower === "link") {
      out[k] = /^</.test(v) ? v.replace(/<([^>]*)>/g, (_m, inner: string) => `<${redactUrlRef(inner)}>`) : redactUrlRef(v);
    } else {
      out[k] = v;
    }
  }
  return out;
}

/** Like redactUrl, but keeps a relative reference relative. */
function redactUrlRef(ref: string): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(ref)) return redactUrl(ref);
  const base = "http://relative.invalid";
  return redactUrl(new URL(ref, base)).slice(base.length);
}

/** Replaces every occurrence of each secret (≥ 4 chars) in `text` with `REDACTED`. */
export function redactText(text: string, secrets: Iterable<string>): string {
  let out = text;
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join(REDACTED);
  return out;
}
