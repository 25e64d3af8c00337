/**
 * The one door to HTTP for the registry client: the runtime's global `fetch`
 * (Node ≥ 20, Bun, Deno) wrapped with
 *
 * * authorisation (auth.ts) and one retry after a 401 challenge (a streamed
 *   body too when the caller can re-open it);
 * * retries with backoff + jitter on 429 (honouring Retry-After), 5xx except
 *   501 and connection failures/timeouts — for idempotent requests only unless
 *   the caller says otherwise (snapshotter §11.4);
 * * a timeout until the response headers (`timeoutMs`) and an idle timeout
 *   between body chunks (`idleTimeoutMs`), both aborting the request;
 * * redirects followed by hand (max 5) so credentials never follow a request
 *   to another host;
 * * TLS verified by default; a host given TLS settings (`setHostTls`, from
 *   hosts.toml: `skip_verify`, `ca`, `client`) is reached through a fetch that
 *   applies them (_tls.ts) — its token realm too when it is on the same host;
 * * every failure as a RegistryError with a redacted URL, and debug lines with
 *   redacted URLs and headers.
 *
 * Not here: what a status *means* for an operation (the callers list the
 * statuses they accept in `ok`), body verification (blobs.ts, manifests.ts).
 */
import { RegistryError, SociError } from "../errors.ts";
import { Authorizer } from "./auth.ts";
import { clientCertRefusal, closedBeforeAnswer, hasTlsSettings, probeClientCertAlert, tlsFetch, TlsSetupFailure, type HostTls } from "./_tls.ts";
import type { CredentialSource } from "./credentials.ts";
import { isRetryableStatus, networkError, parseDiagnostics, statusError } from "./_errors.ts";
import { redactHeaders, redactText, redactUrl } from "./redact.ts";
import { backoffMs, DEFAULT_RETRY_POLICY, parseRetryAfter, sleep, type RetryPolicy } from "./retry.ts";
import { concatBytes } from "../bytes/mod.ts";

export interface TransportOptions {
  credentials?: CredentialSource;
  /** Defaults to the global fetch (per-host TLS settings are then applied); a given fetch is used as is. */
  fetch?: typeof fetch;
  /** Default `soci-ts/0.1`. */
  userAgent?: string;
  /** Until response headers arrive, per attempt (default 30000; the CLI's --registry-timeout). */
  timeoutMs?: number;
  /** Longest pause between two body chunks (default 30000). */
  idleTimeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  /** Receives one line per request and response; secrets are already redacted. */
  debug?: (line: string) => void;
}

export interface RequestSpec {
  method: string;
  url: URL;
  headers?: Record<string, string>;
  /**
   * Bytes, or a stream sent as it is produced (one attempt only: never
   * retried or sent along a redirect). A function opening the stream may be
   * called again to re-send it once after a 401 challenge (an expired token
   * mid-upload); a bare stream is not re-sent. The header timeout starts
   * once a stream has ended; a stream's own error is thrown as is.
   */
  body?: Uint8Array | AsyncIterable<Uint8Array> | (() => AsyncIterable<Uint8Array>);
  /** Token scopes this request needs, e.g. `repository:app:pull`. */
  scopes: readonly string[];
  /** For messages: `fetch manifest "reg/app:1"` (→ "Cannot fetch manifest …"). */
  action: string;
  /** Statuses handed back to the caller; any other status throws RegistryError. */
  ok: readonly number[];
  /** Retry on 429/5xx/network failures. Default: GET, HEAD, PUT, DELETE. */
  retry?: boolean;
  /** A hint for a 404 (e.g. "Check the image reference"). */
  notFoundHint?: string;
}

const MAX_ERROR_BODY = 64 * 1024;
const MAX_REDIRECTS = 5;

class TimeoutSignal extends Error {}

/** A response whose body reads are covered by the idle timeout. Read the body once. */
export class RegistryResponse {
  readonly status: number;
  readonly headers: Headers;
  /** Where the response came from (after redirects). */
  readonly url: URL;
  readonly method: string;
  /** The Authorization scheme this request carried ("basic", "bearer"), or undefined when sent anonymously. */
  authScheme?: string;
  #res: Response;
  #ctrl: AbortController;
  #idleMs: number;
  #action: string;

  constructor(res: Response, url: URL, method: string, ctrl: AbortController, idleMs: number, action: string) {
    this.#res = res;
    this.status = res.status;
    this.headers = res.headers;
    this.url = url;
    this.method = method;
    this.#ctrl = ctrl;
    this.#idleMs = idleMs;
    this.#action = action;
  }

  /**
   * The body as chunks. Chunks are fresh views owned by the caller. Throws
   * RegistryError (retryable) when the connection drops or stalls mid-body.
   */
  async *stream(): AsyncGenerator<Uint8Array> {
    if (this.#res.body === null) return;
    const reader = this.#res.body.getReader();
    let done = false;
    try {
      for (;;) {
        let timedOut = false;
        const timer = setTimeout(() => {
          timedOut = true;
          this.#ctrl.abort(new TimeoutSignal());
        }, this.#idleMs);
        let r: ReadableStreamReadResult<Uint8Array>;
        try {
          r = await reader.read();
        } catch (e) {
          throw networkError(this.#action, this.method, this.url, e, timedOut ? this.#idleMs : undefined);
        } finally {
          clearTimeout(timer);
        }
        if (r.done) {
          done = true;
          return;
        }
        yield r.value;
      }
    } finally {
      if (!done) await reader.cancel().catch(() => {});
    }
  }

  /** The whole body, refusing more than `max` bytes (RegistryError, not retryable). */
  async bytes(max: number): Promise<Uint8Array> {
    const declared = Number(this.headers.get("content-length") ?? "NaN");
    if (declared > max) {
      await this.discard();
      throw tooLarge(this.#action, this.method, this.url, declared, max);
    }
    const chunks: Uint8Array[] = [];
    let n = 0;
    for await (const c of this.stream()) {
      n += c.length;
      if (n > max) throw tooLarge(this.#action, this.method, this.url, n, max);
      chunks.push(c);
    }
    return concatBytes(chunks);
  }

  /** Drops the body (lets the connection be reused or closed). Never throws. */
  async discard(): Promise<void> {
    await this.#res.body?.cancel().catch(() => {});
  }
}

function tooLarge(action: string, method: string, url: URL, n: number, max: number): RegistryError {
  const shown = redactUrl(url);
  return new RegistryError(`Cannot ${action}: the response is larger than ${max} bytes (${n}) (${method} ${shown})`, {
    method,
    url: shown,
    diagnostics: [],
    retryable: false,
  });
}

export class Transport {
  readonly retryPolicy: RetryPolicy;
  readonly timeoutMs: number;
  readonly idleTimeoutMs: number;
  #fetch: typeof fetch;
  #custom?: typeof fetch;
  #tls = new Map<string, { config: HostTls; fetch?: Promise<typeof fetch> }>();
  #probes = new Map<string, Promise<"required" | undefined>>();
  #userAgent: string;
  #auth: Authorizer;
  #debug?: (line: string) => void;

  constructor(options: TransportOptions = {}) {
    this.#custom = options.fetch;
    this.#fetch = (input, init) => this.#route(input, init);
    this.#userAgent = options.userAgent ?? "soci-ts/0.1";
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.idleTimeoutMs = options.idleTimeoutMs ?? 30_000;
    this.retryPolicy = { ...DEFAULT_RETRY_POLICY, ...options.retry };
    const debug = options.debug;
    // Belt and braces: even a debug line built elsewhere is scrubbed of known secrets.
    if (debug) this.#debug = (line) => debug(redactText(line, this.#auth.secrets()));
    this.#auth = new Authorizer({
      credentials: options.credentials,
      fetch: this.#fetch,
      userAgent: this.#userAgent,
      timeoutMs: this.timeoutMs,
      debug: this.#debug,
    });
  }

  /**
   * TLS settings for https requests to `host` (`name[:port]`), replacing
   * earlier ones. Settings equal to the default are dropped.
   */
  setHostTls(host: string, tls: HostTls): void {
    if (hasTlsSettings(tls)) this.#tls.set(host, { config: tls });
    else this.#tls.delete(host);
  }

  /** The fetch for one request: the caller's, the host's TLS fetch, or the global one. */
  async #route(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
    if (this.#custom) return this.#custom(input, init);
    const url = new URL(input instanceof Request ? input.url : String(input));
    const entry = url.protocol === "https:" ? this.#tls.get(url.host) : undefined;
    if (entry === undefined) return fetch(input, init);
    entry.fetch ??= tlsFetch(entry.config, url.host);
    // Settings that cannot be applied (unreadable file, runtime limit) are the user's to fix, not a network failure.
    const f = await entry.fetch.catch((e) => {
      throw new TlsSetupFailure(e);
    });
    return f(input, init);
  }

  /**
   * Sends `spec`, retrying as described in the module header. Returns the
   * response when its status is in `spec.ok`; otherwise throws RegistryError
   * with the registry's diagnostics.
   */
  async request(spec: RequestSpec): Promise<RegistryResponse> {
    const streamed = spec.body !== undefined && !(spec.body instanceof Uint8Array);
    const reopenable = typeof spec.body === "function";
    const retryable = !streamed && (spec.retry ?? ["GET", "HEAD", "PUT", "DELETE"].includes(spec.method));
    let attempt = 0;
    let challenged = false;
    for (;;) {
      let res: RegistryResponse;
      try {
        res = await this.#send(spec);
      } catch (e) {
        if (e instanceof SociError && !(e instanceof RegistryError)) throw e;
        const err = e instanceof RegistryError ? e : networkError(spec.action, spec.method, spec.url, e);
        const certErr = await this.#clientCertProblem(spec, err);
        if (certErr !== undefined) throw certErr;
        if (retryable && err.retryable && attempt < this.retryPolicy.maxRetries) {
          await this.#wait(attempt++, undefined, err.message);
          continue;
        }
        throw this.#scrub(err);
      }
      if (spec.ok.includes(res.status)) return res;

      const text = await readErrorBody(res, spec.method);
      const diagnostics = parseDiagnostics(text, res.headers.get("content-type")).map((d) => redactText(d, this.#auth.secrets()));
      if (res.status === 401 && !challenged && (!streamed || reopenable)) {
        challenged = true;
        if (await this.#auth.challenge(res.url.host, res.headers.get("www-authenticate"), spec.scopes, res.authScheme)) continue;
      }
      const err = statusError(spec.action, spec.method, res.url, res.status, diagnostics, res.status === 404 ? spec.notFoundHint : undefined);
      if (retryable && isRetryableStatus(res.status) && attempt < this.retryPolicy.maxRetries) {
        await this.#wait(attempt++, parseRetryAfter(res.headers.get("retry-after")), err.message);
        continue;
      }
      throw err;
    }
  }

  /** A connection to an https host closed before any answer: a client-certificate problem? (probed once per host, _tls.ts) */
  async #clientCertProblem(spec: RequestSpec, err: RegistryError): Promise<RegistryError | undefined> {
    const url = spec.url;
    if (this.#custom || url.protocol !== "https:" || !closedBeforeAnswer(err)) return undefined;
    let probe = this.#probes.get(url.host);
    if (probe === undefined) this.#probes.set(url.host, (probe = probeClientCertAlert(url.host, this.#tls.get(url.host)?.config)));
    if ((await probe) !== "required") return undefined;
    return clientCertRefusal(spec.action, spec.method, url, (this.#tls.get(url.host)?.config.clientPairs.length ?? 0) > 0);
  }

  async #wait(attempt: number, retryAfterMs: number | undefined, why: string): Promise<void> {
    const ms = backoffMs(this.retryPolicy, attempt, retryAfterMs);
    this.#debug?.(`retry ${attempt + 1}/${this.retryPolicy.maxRetries} in ${ms} ms after: ${why}`);
    await sleep(ms);
  }

  #scrub(err: RegistryError): RegistryError {
    const clean = redactText(err.message, this.#auth.secrets());
    if (clean === err.message) return err;
    return new RegistryError(clean, err.details, { hint: err.hint });
  }

  /** One attempt: authorisation, fetch with the header timeout, redirects by hand. */
  async #send(spec: RequestSpec): Promise<RegistryResponse> {
    let url = spec.url;
    let method = spec.method;
    let body = typeof spec.body === "function" ? spec.body() : spec.body;
    const origin = spec.url.host;
    for (let hop = 0; ; hop++) {
      const headers: Record<string, string> = { "User-Agent": this.#userAgent, ...spec.headers };
      // Credentials go only to the host they belong to, never along a redirect.
      let authScheme: string | undefined;
      if (url.host === origin) {
        const authorization = await this.#auth.authorization(origin, spec.scopes);
        if (authorization) {
          headers.Authorization = authorization;
          authScheme = authorization.slice(0, authorization.indexOf(" ")).toLowerCase();
        }
      }
      const ctrl = new AbortController();
      let timedOut = false;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const arm = () => {
        timer = setTimeout(() => {
          timedOut = true;
          ctrl.abort(new TimeoutSignal());
        }, this.timeoutMs);
      };
      let sourceError: unknown;
      let sent: BodyInit | undefined;
      if (body === undefined || body instanceof Uint8Array) {
        sent = body as BodyInit | undefined;
        arm();
      } else {
        sent = streamOf(body, arm, (e) => (sourceError = e));
        body = undefined; // a stream is sent once: never along a redirect
      }
      const started = Date.now();
      this.#debug?.(`--> ${method} ${redactUrl(url)} ${JSON.stringify(redactHeaders(headers))}`);
      let res: Response;
      try {
        const init: RequestInit & { duplex?: "half" } = { method, headers, body: sent, redirect: "manual", signal: ctrl.signal };
        if (sent instanceof ReadableStream) init.duplex = "half"; // required by fetch for a streamed request body
        res = await this.#fetch(url, init);
      } catch (e) {
        if (sourceError !== undefined) throw sourceError;
        if (e instanceof TlsSetupFailure) throw e.inner;
        throw networkError(spec.action, method, url, e, timedOut ? this.timeoutMs : undefined);
      } finally {
        clearTimeout(timer);
      }
      this.#debug?.(`<-- ${res.status} ${method} ${redactUrl(url)} ${Date.now() - started} ms ${JSON.stringify(redactHeaders(res.headers))}`);
      const location = res.headers.get("location");
      if ([301, 302, 303, 307, 308].includes(res.status) && location !== null && !spec.ok.includes(res.status)) {
        await res.body?.cancel().catch(() => {});
        if (hop >= MAX_REDIRECTS) {
          throw statusError(spec.action, method, url, res.status, [`more than ${MAX_REDIRECTS} redirects`]);
        }
        url = new URL(location, url);
        if (res.status === 303) {
          method = method === "HEAD" ? "HEAD" : "GET";
          body = undefined;
        }
        continue;
      }
      const answer = new RegistryResponse(res, url, method, ctrl, this.idleTimeoutMs, spec.action);
      if (authScheme !== undefined) answer.authScheme = authScheme;
      return answer;
    }
  }
}

/** A request body stream over `chunks`; `onEnd` when they are all out, `onError` with the source's own failure. */
function streamOf(chunks: AsyncIterable<Uint8Array>, onEnd: () => void, onError: (e: unknown) => void): ReadableStream<Uint8Array> {
  const it = chunks[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let r: IteratorResult<Uint8Array>;
      try {
        r = await it.next();
      } catch (e) {
        onError(e);
        controller.error(e);
        return;
      }
      if (r.done) {
        onEnd();
        controller.close();
      } else controller.enqueue(r.value);
    },
    async cancel() {
      await it.return?.();
    },
  });
}

/** Up to 64 KiB of an error body as text; nothing for HEAD, 416 (bogus Content-Length in 2.8) or on failure. */
async function readErrorBody(res: RegistryResponse, method: string): Promise<string> {
  if (method === "HEAD" || res.status === 416) {
    await res.discard();
    return "";
  }
  try {
    return new TextDecoder().decode(await res.bytes(MAX_ERROR_BODY));
  } catch {
    // Diagnostics are a courtesy; the status alone still makes a clear error.
    await res.discard();
    return "";
  }
}
