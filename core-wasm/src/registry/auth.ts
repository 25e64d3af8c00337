/**
 * Registry authentication (snapshotter §11.2; distribution token auth).
 *
 * A request starts anonymous. A `401` carries a challenge: `Basic` → send the
 * host's credentials; `Bearer realm=…,service=…,scope=…` → get a token from
 * the realm (`GET realm?service=…&scope=…` with the credentials as Basic auth,
 * or an OAuth2 refresh-token `POST` for an identity token) and retry once.
 * Once a host has challenged, later requests authorise up front. Tokens are
 * cached per host and scope set until shortly before `expires_in` runs out;
 * concurrent requests for the same token share one fetch. A token that stops
 * working (401 again) is dropped and fetched once more.
 *
 * Every credential and token that passes through here is remembered in
 * `secrets()` so the transport can scrub any text before it leaves.
 */
import { Buffer } from "node:buffer";
import { RegistryError } from "../errors.ts";
import { challengeScopes, mergeScopes, parseChallenges, type Challenge } from "./challenge.ts";
import type { CredentialSource, Credentials } from "./credentials.ts";
import { networkError, parseDiagnostics, statusError } from "./_errors.ts";
import { redactUrl } from "./redact.ts";
import { TlsSetupFailure } from "./_tls.ts";

export interface AuthorizerOptions {
  credentials?: CredentialSource;
  fetch: typeof fetch;
  userAgent: string;
  timeoutMs: number;
  debug?: (line: string) => void;
  /** Clock, for token expiry tests. */
  now?: () => number;
}

interface HostAuth {
  scheme: "basic" | "bearer";
  realm?: string;
  service?: string;
  tokens: Map<string, { token: string; expiresAt: number }>;
  pending: Map<string, Promise<string>>;
}

/** Tokens are refreshed this long before they expire. */
const EXPIRY_MARGIN_MS = 10_000;
const DEFAULT_TOKEN_LIFETIME_S = 60;
const MAX_TOKEN_RESPONSE = 1 << 20;

export class Authorizer {
  #opts: AuthorizerOptions;
  #hosts = new Map<string, HostAuth>();
  #creds = new Map<string, Promise<Credentials | undefined>>();
  #secrets = new Set<string>();

  constructor(options: AuthorizerOptions) {
    this.#opts = options;
  }

  /** Every credential and token seen so far (for scrubbing text). */
  secrets(): Iterable<string> {
    return this.#secrets;
  }

  /** The Authorization header for a request to `host` needing `scopes`, if the host has challenged before. */
  async authorization(host: string, scopes: readonly string[]): Promise<string | undefined> {
    const state = this.#hosts.get(host);
    if (state === undefined) return undefined;
    if (state.scheme === "basic") return this.#basic(host);
    return "Bearer " + (await this.#token(host, state, scopes, false));
  }

  /**
   * Reacts to a 401's `WWW-Authenticate`. Returns true when a retry may succeed
   * (new credentials or a fresh token), false when there is nothing new to try.
   * Throws RegistryError when the token endpoint fails. `sentScheme` is the
   * scheme the refused request carried (undefined: it went out anonymously,
   * e.g. in parallel with the request that met the first challenge).
   */
  async challenge(host: string, header: string | null, scopes: readonly string[], sentScheme?: string): Promise<boolean> {
    const challenges = parseChallenges(header);
    const bearer = challenges.find((c) => c.scheme === "bearer" && c.params.realm);
    const basic = challenges.find((c) => c.scheme === "basic");
    if (bearer !== undefined) {
      const state = this.#bearerState(host, bearer);
      const wanted = mergeScopes([...scopes, ...challengeScopes(bearer)]);
      // A refused token is fetched again; an anonymous request reuses one a parallel request just got.
      await this.#token(host, state, wanted, sentScheme === "bearer", mergeScopes(scopes).join(" "));
      return true;
    }
    if (basic !== undefined) {
      const prior = this.#hosts.get(host);
      // Basic credentials this request carried were refused: nothing new to try.
      // A request sent anonymously before another one met the challenge retries with them.
      if (prior?.scheme === "basic") return sentScheme !== "basic";
      if ((await this.#basic(host)) === undefined) return false;
      this.#hosts.set(host, { scheme: "basic", tokens: new Map(), pending: new Map() });
      return true;
    }
    return false;
  }

  #bearerState(host: string, c: Challenge): HostAuth {
    let state = this.#hosts.get(host);
    if (state === undefined || state.scheme !== "bearer" || state.realm !== c.params.realm || state.service !== c.params.service) {
      state = { scheme: "bearer", realm: c.params.realm, service: c.params.service, tokens: new Map(), pending: new Map() };
      this.#hosts.set(host, state);
    }
    return state;
  }

  #credentials(host: string): Promise<Credentials | undefined> {
    let p = this.#creds.get(host);
    if (p === undefined) {
      p = (this.#opts.credentials?.(host) ?? Promise.resolve(undefined)).then((c) => {
        for (const s of [c?.password, c?.identityToken]) if (s) this.#secrets.add(s);
        if (c?.username && c.password) this.#secrets.add(Buffer.from(`${c.username}:${c.password}`).toString("base64"));
        return c;
      });
      this.#creds.set(host, p);
    }
    return p;
  }

  async #basic(host: string): Promise<string | undefined> {
    const c = await this.#credentials(host);
    if (c?.username === undefined || c.password === undefined) return undefined;
    return "Basic " + Buffer.from(`${c.username}:${c.password}`).toString("base64");
  }

  /** A token for `scopes` (cached unless `refresh`); the cache key may differ from the scopes asked for. */
  async #token(host: string, state: HostAuth, scopes: readonly string[], refresh: boolean, key = mergeScopes(scopes).join(" ")): Promise<string> {
    const now = (this.#opts.now ?? Date.now)();
    const cached = state.tokens.get(key);
    if (!refresh && cached !== undefined && cached.expiresAt - EXPIRY_MARGIN_MS > now) return cached.token;
    let pending = state.pending.get(key);
    if (pending === undefined || refresh) {
      pending = this.#fetchToken(host, state, scopes).then(
        ({ token, expiresInS }) => {
          state.tokens.set(key, { token, expiresAt: (this.#opts.now ?? Date.now)() + expiresInS * 1000 });
          state.pending.delete(key);
          return token;
        },
        (e) => {
          state.pending.delete(key);
          throw e;
        },
      );
      state.pending.set(key, pending);
    }
    return pending;
  }

  async #fetchToken(host: string, state: HostAuth, scopes: readonly string[]): Promise<{ token: string; expiresInS: number }> {
    let url: URL;
    try {
      url = new URL(state.realm!);
      if (url.protocol !== "https:" && url.protocol !== "http:") throw new Error("not http(s)");
    } catch {
      throw new RegistryError(`Cannot authenticate to ${host}: the token realm is not an http(s) URL`, { diagnostics: [] });
    }
    const creds = await this.#credentials(host);
    const action = `get a registry token for ${JSON.stringify(scopes.join(" "))} from ${url.host}`;
    const headers: Record<string, string> = { "User-Agent": this.#opts.userAgent, Accept: "application/json" };
    let init: RequestInit;
    if (creds?.identityToken) {
      const form = new URLSearchParams({ grant_type: "refresh_token", refresh_token: creds.identityToken, client_id: "soci-ts" });
      if (state.service) form.set("service", state.service);
      if (scopes.length > 0) form.set("scope", scopes.join(" "));
      headers["Content-Type"] = "application/x-www-form-urlencoded";
      init = { method: "POST", headers, body: form.toString() };
    } else {
      if (state.service) url.searchParams.set("service", state.service);
      for (const s of scopes) url.searchParams.append("scope", s);
      if (creds?.username) url.searchParams.set("account", creds.username);
      const basic = await this.#basic(host);
      if (basic) headers.Authorization = basic;
      init = { method: "GET", headers };
    }
    const method = init.method!;
    this.#opts.debug?.(`auth: ${method} ${redactUrl(url)} (scopes ${JSON.stringify(scopes.join(" "))})`);
    const ctrl = new AbortController();
    const timer = setTimeout(() => ctrl.abort(), this.#opts.timeoutMs);
    let res: Response;
    let text: string;
    try {
      res = await this.#opts.fetch(url, { ...init, signal: ctrl.signal });
      text = await readLimited(res, MAX_TOKEN_RESPONSE);
    } catch (e) {
      if (e instanceof TlsSetupFailure) throw e.inner;
      throw networkError(action, method, url, e, ctrl.signal.aborted ? this.#opts.timeoutMs : undefined);
    } finally {
      clearTimeout(timer);
    }
    if (res.status !== 200) {
      // The token server's text may echo what we sent: keep only registry-style codes.
      const diagnostics = parseDiagnostics(text, res.headers.get("content-type")).map((d) => d.replace(/[A-Za-z0-9+/=_.-]{24,}/g, "REDACTED"));
      const status = res.status === 403 ? 401 : res.status;
      throw statusError(action, method, url, status, diagnostics,
        status === 401 ? "Check credentials with soci login, or pass --user name:password" : undefined);
    }
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      body = JSON.parse(text);
    } catch {
      throw statusError(action, method, url, res.status, ["the token response is not JSON"]);
    }
    const token = typeof body.token === "string" && body.token !== "" ? body.token : body.access_token;
    if (typeof token !== "string" || token === "") throw statusError(action, method, url, res.status, ["the token response has no token"]);
    this.#secrets.add(token);
    const expiresInS = typeof body.expires_in === "number" && body.expires_in > 0 ? body.expires_in : DEFAULT_TOKEN_LIFETIME_S;
    return { token, expiresInS };
  }
}

/** The body as text, refusing more than `max` bytes. */
export async function readLimited(res: Response, max: number): Promise<string> {
  if (res.body === null) return "";
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    n += value.length;
    if (n > max) {
      await reader.cancel();
      throw new RangeError(`response body larger than ${max} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString("utf8");
}
