/**
 * Which endpoints serve a registry name (snapshotter §11.1, containerd
 * `hosts.toml`).
 *
 * Without configuration a registry `H` is served by `https://H/v2` (Docker Hub:
 * `docker.io` → `registry-1.docker.io`). Plain HTTP is used only when asked:
 * `plainHttp` (the CLI's `--plain-http`), `insecureHosts`, or
 * `plainHttpLoopback` for localhost/127.0.0.0/8/::1.
 *
 * With a containerd `config_path` directory (`hostsDir`), `<dir>/<H>/hosts.toml`
 * (else `<dir>/_default/hosts.toml`) lists mirrors first, in file order, then
 * the `server` (default `https://H`):
 *
 *   server = "https://registry.example"
 *   [host."http://mirror.local:5000"]
 *     capabilities = ["pull", "resolve"]
 *     skip_verify = true
 *     [host."http://mirror.local:5000".header]
 *       x-team = "builds"
 *
 * Host URLs without a path get `/v2`; a path not ending in `/v2` gets it
 * appended unless `override_path = true`. Capabilities default to all three.
 * TLS settings per host (containerd's spelling): `skip_verify`, `ca` (a path
 * or a list; added to the system roots) and `client` (`"c.pem"` — certificate
 * and key in one file —, a list of such, or `[["c.cert", "c.key"], …]`).
 * Relative paths are taken from the hosts.toml's own directory. They are
 * recorded here; the transport applies them (_tls.ts).
 */
import { readFile } from "node:fs/promises";
import process from "node:process";
import { dirname, isAbsolute, join } from "node:path";
import { FormatError, InvalidArgumentError } from "../errors.ts";
import { parseToml, type TomlTable, type TomlValue } from "./_toml.ts";

export type HostCapability = "pull" | "resolve" | "push";
const ALL_CAPABILITIES: HostCapability[] = ["pull", "resolve", "push"];

export interface RegistryHost {
  /** `host[:port]` to connect to. */
  host: string;
  scheme: "http" | "https";
  /** API root, normally `/v2`. */
  path: string;
  capabilities: HostCapability[];
  /** Do not verify the server's TLS certificate (hosts.toml `skip_verify`). */
  skipVerify: boolean;
  /** A mirror of another registry: requests carry `?ns=<registry>`. */
  isMirror: boolean;
  /** Extra request headers from hosts.toml. */
  headers: Record<string, string>;
  /** Extra CA files trusted for this host (hosts.toml `ca`), absolute paths. */
  caFiles: string[];
  /** Client certificate + key files (hosts.toml `client`); key "" = in the certificate file. */
  clientPairs: [string, string][];
}

export interface HostOptions {
  /** Every host without an explicit scheme uses http (`--plain-http`). */
  plainHttp?: boolean;
  /** `host` or `host:port` names served over plain http. */
  insecureHosts?: readonly string[];
  /** localhost, 127.0.0.0/8 and ::1 use http. */
  plainHttpLoopback?: boolean;
  /** containerd `config_path`: a directory of `<host>/hosts.toml`. */
  hostsDir?: string;
}

/** The host that actually serves `registry` (Docker Hub's API host differs from its name). */
export function registryApiHost(registry: string): string {
  return registry === "docker.io" || registry === "index.docker.io" ? "registry-1.docker.io" : registry;
}

/** localhost, `*.localhost`, 127.0.0.0/8 and ::1, with or without a port. */
export function isLoopbackHost(host: string): boolean {
  const name = host.startsWith("[") ? host.slice(1, host.indexOf("]")) : host.replace(/:\d+$/, "");
  return name === "localhost" || name.endsWith(".localhost") || /^127\.\d+\.\d+\.\d+$/.test(name) || name === "::1";
}

function defaultScheme(host: string, options: HostOptions): "http" | "https" {
  if (options.plainHttp) return "http";
  const bare = host.replace(/:\d+$/, "");
  if (options.insecureHosts?.some((h) => h === host || h === bare)) return "http";
  if (options.plainHttpLoopback && isLoopbackHost(host)) return "http";
  return "https";
}

/** The endpoints for `registry`, in the order to try them. Reads hosts.toml when `hostsDir` is set. */
export async function resolveHosts(registry: string, options: HostOptions = {}): Promise<RegistryHost[]> {
  if (options.hostsDir) {
    for (const dir of [registry, "_default"]) {
      const file = join(options.hostsDir, dir, "hosts.toml");
      let text: string;
      try {
        text = await readFile(file, "utf8");
      } catch (e) {
        // A missing file means "not configured for this host": try the next candidate.
        if ((e as NodeJS.ErrnoException).code === "ENOENT" || (e as NodeJS.ErrnoException).code === "ENOTDIR") continue;
        throw new InvalidArgumentError(`Cannot read hosts file ${JSON.stringify(file)}: ${(e as Error).message}`, { cause: e });
      }
      return parseHostsToml(text, registry, options, file);
    }
  }
  const host = registryApiHost(registry);
  return [makeHost(host, defaultScheme(host, options), "/v2", false)];
}

function makeHost(host: string, scheme: "http" | "https", path: string, isMirror: boolean): RegistryHost {
  return { host, scheme, path, capabilities: [...ALL_CAPABILITIES], skipVerify: false, isMirror, headers: {}, caFiles: [], clientPairs: [] };
}

/**
 * The endpoints a hosts.toml text describes for `registry`: mirrors in file order,
 * then the server. Throws FormatError on bad TOML or bad values.
 */
export function parseHostsToml(text: string, registry: string, options: HostOptions = {}, source = "hosts.toml"): RegistryHost[] {
  const doc = parseToml(text, source);
  const bad = (why: string) => new FormatError(`Cannot use ${source}: ${why}`, { source });
  const apiHost = registryApiHost(registry);
  const base = source === "hosts.toml" ? process.cwd() : dirname(source);
  const out: RegistryHost[] = [];
  const hosts = doc.host;
  if (hosts !== undefined) {
    if (!isTable(hosts)) throw bad("[host] must be a table of URLs");
    for (const [url, entry] of Object.entries(hosts)) {
      if (!isTable(entry)) throw bad(`host ${JSON.stringify(url)} must be a table`);
      out.push(configureHost(url, entry, options, true, bad, base));
    }
  }
  const server = doc.server;
  if (server !== undefined && typeof server !== "string") throw bad("server must be a string");
  const serverHost = configureHost(server ?? apiHost, doc, options, false, bad, base);
  out.push(serverHost);
  // A "mirror" that is the server itself (same URL) is not a mirror.
  for (const h of out) if (h.host === apiHost && h.path === "/v2") h.isMirror = false;
  return out;
}

function configureHost(
  url: string,
  entry: TomlTable,
  options: HostOptions,
  isMirror: boolean,
  bad: (why: string) => Error,
  base: string,
): RegistryHost {
  const hasScheme = /^[a-z]+:\/\//i.test(url);
  let parsed: URL;
  try {
    parsed = new URL(hasScheme ? url : `placeholder://${url}`);
  } catch {
    throw bad(`host ${JSON.stringify(url)} is not a URL`);
  }
  const scheme = hasScheme ? parsed.protocol.slice(0, -1) : defaultScheme(parsed.host, options);
  if (scheme !== "http" && scheme !== "https") throw bad(`host ${JSON.stringify(url)} has scheme ${JSON.stringify(scheme)}`);
  let path = parsed.pathname.replace(/\/+$/, "");
  if (path === "") path = "/v2";
  else if (!path.endsWith("/v2") && entry.override_path !== true) path += "/v2";
  const host = makeHost(parsed.host, scheme, path, isMirror);
  const caps = entry.capabilities;
  if (caps !== undefined) {
    if (!Array.isArray(caps) || caps.some((c) => !ALL_CAPABILITIES.includes(c as HostCapability))) {
      throw bad(`capabilities of ${JSON.stringify(url)} must be a list of "pull", "resolve", "push"`);
    }
    host.capabilities = caps as HostCapability[];
  }
  if (entry.skip_verify !== undefined) {
    if (typeof entry.skip_verify !== "boolean") throw bad(`skip_verify of ${JSON.stringify(url)} must be true or false`);
    host.skipVerify = entry.skip_verify;
  }
  const abs = (f: string) => (isAbsolute(f) ? f : join(base, f));
  const ca = entry.ca;
  if (ca !== undefined) {
    const list = Array.isArray(ca) ? ca : [ca];
    if (list.some((c) => typeof c !== "string" || c === "")) throw bad(`ca of ${JSON.stringify(url)} must be a path or a list of paths`);
    host.caFiles = (list as string[]).map(abs);
  }
  const client = entry.client;
  if (client !== undefined) {
    const list = Array.isArray(client) ? client : [client];
    for (const c of list) {
      const pair = typeof c === "string" ? [c, ""] : c;
      if (!Array.isArray(pair) || pair.length < 1 || pair.length > 2 || pair.some((x) => typeof x !== "string") || pair[0] === "") {
        throw bad(`client of ${JSON.stringify(url)} must be a path, a list of paths or a list of [certificate, key] pairs`);
      }
      const key = (pair[1] as string | undefined) ?? "";
      host.clientPairs.push([abs(pair[0] as string), key === "" ? "" : abs(key)]);
    }
  }
  const header = entry.header;
  if (header !== undefined) {
    if (!isTable(header)) throw bad(`header of ${JSON.stringify(url)} must be a table`);
    for (const [k, v] of Object.entries(header)) host.headers[k] = Array.isArray(v) ? v.map(String).join(", ") : String(v);
  }
  return host;
}

function isTable(v: TomlValue | undefined): v is TomlTable {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** `scheme://host/path` of an endpoint, for building request URLs. */
export function hostBaseUrl(host: RegistryHost): string {
  return `${host.scheme}://${host.host}${host.path}`;
}
