/**
 * Per-host TLS for the transport (snapshotter §11.1; containerd hosts.toml
 * `skip_verify`, `ca`, `client`): a `fetch` that applies one host's settings,
 * built the way each runtime allows it.
 *
 * * Node: npm undici's own `fetch` with an undici `Agent` as `dispatcher`
 *   (`connect: { ca, cert, key, rejectUnauthorized }`). Node 20's global fetch
 *   is undici too, but a dispatcher from another undici copy is not part of
 *   its contract, so the pair from one package is used. It is loaded from
 *   node_modules at run time, not bundled (see loadUndici).
 * * Bun: the global fetch's `tls: { ca, cert, key, rejectUnauthorized }`.
 * * Deno: `Deno.createHttpClient({ caCerts, cert, key })` as `client`; Deno
 *   has no per-client switch for skipping verification, so `skip_verify`
 *   there is an InvalidArgumentError naming the runtime flag to use instead.
 *
 * Extra CAs are added to the runtime's roots (as containerd adds them to the
 * system pool), not used instead of them. Files are read once per host; a
 * missing or unreadable file is an InvalidArgumentError naming hosts.toml.
 * Key material never leaves this module except into the TLS stack.
 *
 * Not here: which host has which settings (hosts.ts), retries and errors (transport.ts).
 */
import { readFile } from "node:fs/promises";
import { rootCertificates } from "node:tls";
import { InvalidArgumentError, RegistryError } from "../errors.ts";
import { redactUrl } from "./redact.ts";

/** A host's TLS settings as hosts.toml gives them (see hosts.ts). */
export interface HostTls {
  skipVerify: boolean;
  caFiles: readonly string[];
  /** [certificate file, key file]; "" as key = the key is in the certificate file. */
  clientPairs: readonly (readonly [string, string])[];
}

/** True when the settings differ from the runtime's default (verify against system roots, no client cert). */
export function hasTlsSettings(t: HostTls): boolean {
  return t.skipVerify || t.caFiles.length > 0 || t.clientPairs.length > 0;
}

interface LoadedTls {
  ca: string[];
  certs: string[];
  keys: string[];
  rejectUnauthorized: boolean;
}

const PEM_KEY = /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]+?-----END [A-Z ]*PRIVATE KEY-----/;

async function readPem(file: string, what: string, host: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (e) {
    throw new InvalidArgumentError(`Cannot read the ${what} file ${JSON.stringify(file)} for ${host}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, {
      hint: `Fix the path in the hosts.toml of ${host} (relative paths are taken from the hosts.toml's directory)`,
      cause: e,
    });
  }
}

async function load(t: HostTls, host: string): Promise<LoadedTls> {
  const ca = await Promise.all(t.caFiles.map((f) => readPem(f, "CA", host)));
  const certs: string[] = [];
  const keys: string[] = [];
  for (const [certFile, keyFile] of t.clientPairs) {
    const cert = await readPem(certFile, "client certificate", host);
    const key = keyFile === "" ? PEM_KEY.exec(cert)?.[0] : await readPem(keyFile, "client key", host);
    if (key === undefined || !PEM_KEY.test(key)) {
      throw new InvalidArgumentError(`Cannot use the client certificate ${JSON.stringify(certFile)} for ${host}: no PEM private key ${keyFile === "" ? "in the same file" : `in ${JSON.stringify(keyFile)}`}`, {
        hint: 'Give the key as the pair\'s second path: client = [["cert.pem", "key.pem"]]',
      });
    }
    certs.push(cert);
    keys.push(key);
  }
  return { ca, certs, keys, rejectUnauthorized: !t.skipVerify };
}

/** Carries a TLS set-up error (an InvalidArgumentError) through fetch's error path unchanged. */
export class TlsSetupFailure extends Error {
  constructor(readonly inner: unknown) {
    super("TLS set-up failed");
  }
}

/**
 * npm undici, loaded only when a host has TLS settings under Node. The
 * specifier is computed so the bundler leaves it out: parsing ~430 kB on every
 * start cost the binary ~20 ms (bench/registry), and Bun/Deno never use it.
 */
async function loadUndici(host: string): Promise<typeof import("undici")> {
  const name = "undici";
  try {
    return (await import(name)) as typeof import("undici");
  } catch (e) {
    throw new InvalidArgumentError(`Cannot apply the TLS settings of ${host} under Node: the undici package cannot be loaded`, {
      hint: "Install soci-ts with its dependencies (npm install), or use the soci binary",
      cause: e,
    });
  }
}

type Runtime = "node" | "bun" | "deno";

function runtime(): Runtime {
  const g = globalThis as { Bun?: unknown; Deno?: unknown };
  if (g.Bun !== undefined) return "bun";
  if (g.Deno !== undefined) return "deno";
  return "node";
}

/**
 * A fetch applying `t` for `host` (a name for messages). Throws
 * InvalidArgumentError for unreadable files or a setting the runtime cannot apply.
 */
export async function tlsFetch(t: HostTls, host: string): Promise<typeof fetch> {
  const l = await load(t, host);
  const ca = l.ca.length > 0 ? [...rootCertificates, ...l.ca] : undefined;
  const rt = runtime();
  if (rt === "bun") {
    const tls = {
      rejectUnauthorized: l.rejectUnauthorized,
      ...(ca ? { ca } : {}),
      ...(l.certs.length > 0 ? { cert: l.certs, key: l.keys } : {}),
    };
    return (input, init) => fetch(input, { ...init, tls } as RequestInit);
  }
  if (rt === "deno") {
    const deno = (globalThis as { Deno?: { createHttpClient?: (o: Record<string, unknown>) => unknown } }).Deno!;
    if (!l.rejectUnauthorized) {
      throw new InvalidArgumentError(`Cannot skip TLS verification for ${host} under Deno: Deno has no per-host setting for it`, {
        hint: "Run Deno with --unsafely-ignore-certificate-errors=HOST, or trust the registry's CA with ca = \"…\" in hosts.toml",
      });
    }
    if (deno.createHttpClient === undefined) {
      throw new InvalidArgumentError(`Cannot apply the TLS settings of ${host}: this Deno has no Deno.createHttpClient`, { hint: "Use Node or the soci binary" });
    }
    if (l.certs.length > 1) {
      throw new InvalidArgumentError(`Cannot use ${l.certs.length} client certificates for ${host} under Deno: it takes one`, { hint: "List one client pair in hosts.toml" });
    }
    const client = deno.createHttpClient({
      ...(l.ca.length > 0 ? { caCerts: l.ca } : {}),
      ...(l.certs.length > 0 ? { cert: l.certs[0], key: l.keys[0] } : {}),
    });
    return (input, init) => fetch(input, { ...init, client } as RequestInit);
  }
  const undici = await loadUndici(host);
  const agent = new undici.Agent({
    connect: {
      rejectUnauthorized: l.rejectUnauthorized,
      ...(ca ? { ca } : {}),
      ...(l.certs.length > 0 ? { cert: l.certs, key: l.keys } : {}),
    },
  });
  const ufetch = undici.fetch as unknown as (input: unknown, init: unknown) => Promise<Response>;
  return (input, init) => ufetch(input instanceof URL ? input.href : input, { ...init, dispatcher: agent });
}

/**
 * Why a TLS connection to `host` (`name:port`) fails before any HTTP answer,
 * when the reason is that the server demands or refuses a client certificate:
 * fetch only reports "other side closed" (Node) or a generic handshake
 * failure (Bun) there, because TLS 1.3 servers send that alert after the
 * handshake. One probe connection with `node:tls`, the host's CA and
 * verification settings and no client certificate, sends one request and
 * watches for the alert. Returns undefined when the probe shows something
 * else. Never throws.
 */
export async function probeClientCertAlert(host: string, t: HostTls | undefined, timeoutMs = 5000): Promise<"required" | undefined> {
  const { connect } = await import("node:tls");
  let ca: string[] | undefined;
  try {
    const l = t ? await load({ ...t, clientPairs: [] }, host) : undefined;
    ca = l && l.ca.length > 0 ? [...rootCertificates, ...l.ca] : undefined;
  } catch {
    return undefined;
  }
  const m = /^(.*):(\d+)$/.exec(host);
  const name = (m ? m[1] : host).replace(/^\[|\]$/g, "");
  const port = m ? Number(m[2]) : 443;
  return new Promise((resolve) => {
    let done = false;
    const finish = (v: "required" | undefined) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(v);
    };
    const socket = connect({ host: name, port, servername: /^[\d.]+$|:/.test(name) ? undefined : name, rejectUnauthorized: !(t?.skipVerify ?? false), ...(ca ? { ca } : {}) }, () => {
      socket.write(`GET /v2/ HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    });
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    socket.on("data", () => finish(undefined));
    socket.on("error", (e: NodeJS.ErrnoException) => {
      finish(/ALERT_(BAD_CERTIFICATE|CERTIFICATE_REQUIRED|HANDSHAKE_FAILURE)|alert (bad certificate|certificate required)/i.test(`${e.code} ${e.message}`) ? "required" : undefined);
    });
    socket.on("close", () => finish(undefined));
  });
}

/** The messages and codes along an error's cause chain. */
function causeMessages(e: unknown): string {
  const parts: string[] = [];
  for (let c: unknown = e, depth = 0; c instanceof Error && depth < 5; depth++, c = (c as { cause?: unknown }).cause) {
    parts.push(c.message, String((c as { code?: unknown }).code ?? ""));
  }
  return parts.join(" ");
}

/** A network failure (no status) that looks like the server closing a TLS connection before answering. */
export function closedBeforeAnswer(err: RegistryError): boolean {
  return err.details.status === undefined && /UND_ERR_SOCKET|ECONNRESET|EPROTO|other side closed|handshake/i.test(causeMessages(err.cause));
}

/** The error for a registry that refused the TLS connection over client certificates (`hasClient`: we sent one). */
export function clientCertRefusal(action: string, method: string, url: URL, hasClient: boolean): RegistryError {
  const shown = redactUrl(url);
  const what = hasClient ? "it rejected our client certificate" : "it wants a client certificate";
  return new RegistryError(`Cannot ${action}: the registry refused the TLS connection: ${what} (${method} ${shown})`, {
    method, url: shown, diagnostics: [], retryable: false,
  }, {
    hint: hasClient
      ? `Check that the client certificate in the hosts.toml of ${url.host} is signed by a CA the registry trusts`
      : `Give one in the hosts.toml of ${url.host}: client = [["client.cert", "client.key"]] (and pass --hosts-dir)`,
  });
}
