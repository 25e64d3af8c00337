/**
 * The registry side of the commands: one `RegistryClient` per run built from
 * the global flags (`--plain-http`, `--insecure-registry`, `--hosts-dir`,
 * `-u/--user`, the concurrency limits, `--registry-timeout`, `--debug` →
 * redacted HTTP lines),
 * credentials from `--user` then the Docker config (`$DOCKER_CONFIG` or
 * `~/.docker/config.json`, its helpers included), and the openers that make
 * every image argument accept a registry reference. Loopback registries use
 * plain HTTP without a flag (as Docker treats 127.0.0.0/8). Private to
 * commands/.
 */
import { UsageError } from "../../core-wasm/src/errors.ts";
import { formatReference, openImageSource, parseImageLocation, type ImageSource, type Reference } from "../../core-wasm/src/oci/mod.ts";
import {
  chainCredentials,
  defaultDockerConfigPath,
  dockerConfigCredentials,
  RegistryClient,
  RegistryImageSink,
  RegistryImageSource,
  staticCredentials,
  type CredentialSource,
  type RegistrySinkOptions,
  type Repository,
} from "../../core-wasm/src/registry/mod.ts";
import type { Context } from "../command.ts";

const clients = new WeakMap<Context, RegistryClient>();
/** Bytes per PATCH; two per running upload (one read ahead) are held at once. */
const UPLOAD_CHUNK_SIZE = 16 * 1024 * 1024;

/** Credentials: `--user` for every registry, then the Docker config. */
function credentials(ctx: Context): CredentialSource {
  const sources: CredentialSource[] = [];
  const user = ctx.registry.user;
  if (user !== undefined) {
    if (user.indexOf(":") <= 0) throw new UsageError("Cannot use --user: expected USER:PASSWORD", { hint: 'Pass --user name:password, or run "soci login REGISTRY" once' });
    sources.push(staticCredentials(user));
  }
  const path = defaultDockerConfigPath(ctx.env);
  if (path !== undefined) sources.push(dockerConfigCredentials({ path, env: ctx.env }));
  return chainCredentials(...sources);
}

/** The run's client (one per command: tokens and endpoints are cached in it). */
export function registryClient(ctx: Context): RegistryClient {
  let c = clients.get(ctx);
  if (c === undefined) {
    const r = ctx.registry;
    c = new RegistryClient({
      credentials: credentials(ctx),
      // Fewer, larger PATCHes: distribution saves hash state per PATCH (bench/registry).
      chunkSize: UPLOAD_CHUNK_SIZE,
      plainHttp: r.plainHttp,
      insecureHosts: r.insecureHosts,
      plainHttpLoopback: true,
      timeoutMs: r.timeoutSeconds * 1000,
      idleTimeoutMs: r.timeoutSeconds * 1000,
      ...(r.hostsDir !== undefined ? { hostsDir: r.hostsDir } : {}),
      ...(ctx.out.debug ? { debug: (line: string) => ctx.out.trace(line) } : {}),
    });
    clients.set(ctx, c);
  }
  return c;
}

export function repositoryOf(ctx: Context, ref: Reference): Repository {
  return registryClient(ctx).repository(ref);
}

/** A registry image as an ImageSource. */
export function openRegistrySource(ctx: Context, ref: Reference): RegistryImageSource {
  return new RegistryImageSource(repositoryOf(ctx, ref), ref, { maxConcurrentDownloads: ctx.registry.maxConcurrentDownloads });
}

/** Any image location (layout, archive, registry reference) as an ImageSource. */
export function openSource(ctx: Context, location: string): Promise<ImageSource> {
  return openImageSource(location, { openRegistry: async (ref) => openRegistrySource(ctx, ref) });
}

/**
 * A registry destination. When the source is in the same registry, its
 * repository is offered for cross-repository mounts; `reopen` restarts an
 * upload from the source.
 */
export function openRegistrySink(ctx: Context, ref: Reference, source?: ImageSource, extra: Partial<RegistrySinkOptions> = {}): RegistryImageSink {
  const mountFrom = source instanceof RegistryImageSource && source.ref.registry === ref.registry ? [source.ref.repository] : [];
  return new RegistryImageSink(repositoryOf(ctx, ref), ref, {
    mountFrom,
    maxConcurrentUploads: ctx.registry.maxConcurrentUploads,
    ...(source ? { reopen: (d) => source.openBlob(d) } : {}),
    ...extra,
  });
}

/** The reference when `location` (already through locationOf/sinkLocationOf) names a registry image. */
export function registryReferenceOf(location: string): Reference | undefined {
  try {
    const loc = parseImageLocation(location);
    return loc.transport === "docker" ? loc.reference : undefined;
  } catch {
    return undefined;
  }
}

export { formatReference };
