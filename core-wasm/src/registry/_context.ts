/**
 * What every repository operation shares: the transport, the repository name,
 * its endpoints and limits, plus URL building and "try each endpoint in turn"
 * (mirrors first; snapshotter §11.1).
 */
import { RegistryError } from "../errors.ts";
import { hostBaseUrl, type HostCapability, type RegistryHost } from "./hosts.ts";
import type { Transport } from "./transport.ts";

export interface RepoContext {
  transport: Transport;
  /** Registry name as in the reference (`docker.io`, `127.0.0.1:5000`). */
  registry: string;
  repository: string;
  /** `registry/repository`, for messages. */
  name: string;
  hosts: () => Promise<RegistryHost[]>;
  maxManifestSize: number;
  chunkSize: number;
  monolithicMaxSize: number;
  debug?: (line: string) => void;
}

/** `<scheme>://<host><path>/<repository>/<suffix>`; mirrors get `?ns=<registry>` (containerd's convention). */
export function repoUrl(ctx: RepoContext, host: RegistryHost, suffix: string): URL {
  const url = new URL(`${hostBaseUrl(host)}/${ctx.repository}/${suffix}`);
  if (host.isMirror) url.searchParams.set("ns", ctx.registry);
  return url;
}

export function pullScope(ctx: RepoContext): string[] {
  return [`repository:${ctx.repository}:pull`];
}

export function pushScope(ctx: RepoContext): string[] {
  return [`repository:${ctx.repository}:pull,push`];
}

/**
 * Runs `fn` against each endpoint with `capability`, in order, until one
 * succeeds. A 404, a retryable status or a failure without a status (network,
 * TLS, wrong content) moves on to the next endpoint; the last endpoint's error
 * is thrown. Other statuses (401, 400, …) are thrown at once: another mirror
 * would not change them.
 */
export async function withHosts<T>(ctx: RepoContext, capability: HostCapability, fn: (host: RegistryHost) => Promise<T>): Promise<T> {
  const hosts = (await ctx.hosts()).filter((h) => h.capabilities.includes(capability));
  if (hosts.length === 0) {
    throw new RegistryError(`Cannot reach ${ctx.name}: no configured host has the "${capability}" capability`, { diagnostics: [] }, {
      hint: "Check the capabilities in hosts.toml",
    });
  }
  for (let i = 0; ; i++) {
    try {
      return await fn(hosts[i]);
    } catch (e) {
      const isLast = i === hosts.length - 1;
      const moveOn = e instanceof RegistryError && (e.details.status === 404 || e.retryable || e.details.status === undefined);
      if (isLast || !moveOn) throw e;
      ctx.debug?.(`host ${hosts[i].host} failed (${(e as Error).message}); trying ${hosts[i + 1].host}`);
    }
  }
}

/** Headers from hosts.toml plus the request's own. */
export function hostHeaders(host: RegistryHost, headers: Record<string, string>): Record<string, string> {
  return { ...host.headers, ...headers };
}
