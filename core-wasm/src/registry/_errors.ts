/**
 * Remote failures as data (STYLE §7, §9 ex. 8): every failed request becomes a
 * RegistryError with status, method, redacted URL, the registry's JSON error
 * codes as diagnostics, a retryable flag and a hint for the user. Messages
 * follow `Cannot <action>: <what is the case> (<METHOD> <redacted URL>)`.
 */
import { RegistryError } from "../errors.ts";
import { redactUrl } from "./redact.ts";

/** 429 and 5xx except 501 are worth retrying (snapshotter §11.4). */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || (status >= 500 && status !== 501);
}

function hintForStatus(status: number, diagnostics: string[], host: string): string | undefined {
  if (status === 401) return "Check credentials with soci login, or pass --user name:password";
  if (status === 403) return "The credentials lack access to this repository: check them with soci login, or pass --user name:password";
  if (status === 429) return "The registry is rate limiting requests: wait and retry, or log in for a higher limit";
  if (status === 400 && diagnostics.some((d) => /HTTPS server/i.test(d))) return `Drop --plain-http: ${host} speaks HTTPS`;
  if (status >= 500) return `The registry ${host} failed: retry later`;
  return undefined;
}

/** Registry JSON errors `{"errors":[{"code","message","detail"}]}` → `CODE: message`; other text → its first line. */
export function parseDiagnostics(body: string, contentType: string | null): string[] {
  const text = body.trim();
  if (text === "") return [];
  if (text.startsWith("{")) {
    try {
      const v = JSON.parse(text) as { errors?: { code?: unknown; message?: unknown }[] };
      if (Array.isArray(v.errors)) {
        return v.errors.slice(0, 16).map((e) => [e.code, e.message].filter((x) => typeof x === "string" && x !== "").join(": "));
      }
    } catch {
      // Not JSON after all: fall through and show the text.
    }
  }
  if (contentType?.includes("html")) return [];
  return [text.split("\n")[0].slice(0, 200)];
}

/** True when a body is the registry's JSON error format (referrers "no API" detection). */
export function isRegistryJsonError(body: string): boolean {
  try {
    const v = JSON.parse(body);
    return typeof v === "object" && v !== null && Array.isArray(v.errors);
  } catch {
    return false;
  }
}

export function statusError(
  action: string,
  method: string,
  url: URL,
  status: number,
  diagnostics: string[],
  hint?: string,
): RegistryError {
  const what = diagnostics.length > 0 ? `registry answered ${status} ${diagnostics.join("; ")}` : `registry answered ${status}`;
  const shown = redactUrl(url);
  return new RegistryError(
    `Cannot ${action}: ${what} (${method} ${shown})`,
    { status, method, url: shown, diagnostics, retryable: isRetryableStatus(status) },
    { hint: hint ?? hintForStatus(status, diagnostics, url.host) },
  );
}

const RETRYABLE_CODES = new Set([
  "ECONNRESET", "ECONNREFUSED", "ECONNABORTED", "EPIPE", "ETIMEDOUT", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH",
  "UND_ERR_SOCKET", "UND_ERR_CLOSED", "UND_ERR_CONNECT_TIMEOUT", "UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT",
  "ConnectionRefused", "ConnectionClosed",
]);

function causeCode(e: unknown): string {
  for (let c: unknown = e, depth = 0; c !== undefined && c !== null && depth < 4; depth++) {
    const code = (c as { code?: unknown }).code;
    if (typeof code === "string") return code;
    c = (c as { cause?: unknown }).cause;
  }
  return "";
}

function causeText(e: unknown): string {
  const parts: string[] = [];
  for (let c: unknown = e, depth = 0; c !== undefined && c !== null && depth < 4; depth++) {
    if (c instanceof Error) parts.push(c.message);
    c = (c as { cause?: unknown }).cause;
  }
  return parts.join(": ");
}

/** A thrown fetch/stream failure (no HTTP status) as a RegistryError. `timeoutMs` set when our timer fired. */
export function networkError(action: string, method: string, url: URL, cause: unknown, timeoutMs?: number): RegistryError {
  const shown = redactUrl(url);
  const code = causeCode(cause);
  const text = causeText(cause);
  let what: string;
  let hint: string | undefined;
  let retryable: boolean;
  if (timeoutMs !== undefined) {
    what = `no answer within ${timeoutMs} ms`;
    hint = "Check the network, or raise the timeout (--registry-timeout SECONDS)";
    retryable = true;
  } else if (/wrong version number|packet length too long|EPROTO|ssl3_get_record|unknown protocol/i.test(code + " " + text)) {
    what = "the TLS handshake failed";
    hint = url.protocol === "https:" ? "Use --plain-http for a plain HTTP registry" : undefined;
    retryable = false;
  } else if (/alert certificate required|alert bad certificate|ALERT_CERTIFICATE_REQUIRED|ALERT_BAD_CERTIFICATE|handshake failure/i.test(code + " " + text)) {
    what = `the registry refused the TLS connection: it wants a client certificate (${code || "handshake alert"})`;
    hint = `Give one for ${url.host} in its hosts.toml: client = [["client.cert", "client.key"]] (and pass --hosts-dir)`;
    retryable = false;
  } else if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|certificate/i.test(code + " " + text)) {
    what = `the TLS certificate was not trusted (${code || "certificate error"})`;
    hint = `Trust the registry's CA with ca = "/path/ca.pem" (or set skip_verify = true) in the hosts.toml of ${url.host} (<dir>/${url.host}/hosts.toml, passed as --hosts-dir <dir>)`;
    retryable = false;
  } else if (/bad port/i.test(text)) {
    what = `port ${url.port} is on fetch's list of blocked ports`;
    hint = "Serve the registry on another port";
    retryable = false;
  } else if (code === "ENOTFOUND") {
    what = `host ${JSON.stringify(url.hostname)} was not found`;
    hint = "Check the registry name in the image reference";
    retryable = false;
  } else {
    what = code === "ECONNREFUSED" || code === "ConnectionRefused" ? "the connection was refused" : `the connection failed (${code || text || "network error"})`;
    if (code === "ECONNREFUSED" || code === "ConnectionRefused") hint = `Check that the registry at ${url.host} is running and reachable`;
    // Fetch reports network failures as TypeError on every runtime; treat unknown ones as transient.
    retryable = RETRYABLE_CODES.has(code) || cause instanceof TypeError || code === "";
  }
  return new RegistryError(`Cannot ${action}: ${what} (${method} ${shown})`, { method, url: shown, diagnostics: [], retryable }, { hint, cause });
}
