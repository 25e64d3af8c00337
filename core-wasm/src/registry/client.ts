/**
 * The distribution client's front: `RegistryClient` holds the transport
 * (auth, retries, timeouts) and endpoint configuration; `repository()` gives a
 * `Repository` whose methods are the operations of manifests.ts, blobs.ts,
 * upload.ts and referrers.ts bound to one repository.
 *
 * One client per command or daemon: it caches tokens per host and scope and
 * the endpoint list per registry, and hands each endpoint's TLS settings
 * (hosts.toml) to the transport.
 */
import type { RepoContext } from "./_context.ts";
import { fetchBlob, fetchBlobRange, readBlob, statBlob, type BlobRef } from "./blobs.ts";
import { resolveHosts, type HostOptions, type RegistryHost } from "./hosts.ts";
import { deleteManifest, getManifest, listTags, putManifest, resolveManifest, type FetchedManifest, type PutManifestResult } from "./manifests.ts";
import { addToReferrersTag, listReferrers, pushReferrer, type ListReferrersOptions, type ListReferrersResult, type PushReferrerResult } from "./referrers.ts";
import { Transport, type TransportOptions } from "./transport.ts";
import { mountBlob, pushBlob, type BlobSource, type PushBlobOptions, type PushBlobResult } from "./upload.ts";
import { formatReference, parseReference, type Descriptor, type Reference } from "../oci/mod.ts";

export interface RegistryClientOptions extends TransportOptions, HostOptions {
  /** Largest manifest fetched or pushed (default 4 MiB). */
  maxManifestSize?: number;
  /** PATCH chunk size for chunked uploads (default 8 MiB). */
  chunkSize?: number;
  /** Blobs up to this size are uploaded in one PUT (default 8 MiB). */
  monolithicMaxSize?: number;
  /** Replaces endpoint resolution (tests, embedders). */
  resolveHosts?: (registry: string) => Promise<RegistryHost[]>;
}

const MiB = 1024 * 1024;

export class RegistryClient {
  readonly transport: Transport;
  #options: RegistryClientOptions;
  #hosts = new Map<string, Promise<RegistryHost[]>>();

  constructor(options: RegistryClientOptions = {}) {
    this.#options = options;
    this.transport = new Transport(options);
  }

  /** The endpoints for `registry` (cached). Throws FormatError for a bad hosts.toml. */
  hosts(registry: string): Promise<RegistryHost[]> {
    let p = this.#hosts.get(registry);
    if (p === undefined) {
      p = (this.#options.resolveHosts ?? ((r: string) => resolveHosts(r, this.#options)))(registry).then((hosts) => {
        // Each endpoint's TLS settings (hosts.toml) go to the transport, keyed by host:port.
        for (const h of hosts) if (h.scheme === "https") this.transport.setHostTls(h.host, h);
        return hosts;
      });
      p.catch(() => this.#hosts.delete(registry));
      this.#hosts.set(registry, p);
    }
    return p;
  }

  /** A handle on `registry/repository` (a reference string, or a parsed one; tag/digest ignored). */
  repository(ref: string | Pick<Reference, "registry" | "repository">): Repository {
    const r = typeof ref === "string" ? parseReference(ref) : ref;
    const o = this.#options;
    const ctx: RepoContext = {
      transport: this.transport,
      registry: r.registry,
      repository: r.repository,
      name: formatReference({ registry: r.registry, repository: r.repository }),
      hosts: () => this.hosts(r.registry),
      maxManifestSize: o.maxManifestSize ?? 4 * MiB,
      chunkSize: o.chunkSize ?? 8 * MiB,
      monolithicMaxSize: o.monolithicMaxSize ?? 8 * MiB,
      debug: o.debug,
    };
    return new Repository(ctx);
  }
}

/** Operations on one repository. Every method throws RegistryError for remote failures. */
export class Repository {
  readonly registry: string;
  readonly repository: string;
  /** `registry/repository`. */
  readonly name: string;
  #ctx: RepoContext;

  constructor(ctx: RepoContext) {
    this.#ctx = ctx;
    this.registry = ctx.registry;
    this.repository = ctx.repository;
    this.name = ctx.name;
  }

  /** Tag or digest → descriptor (HEAD, GET fallback). */
  resolve(ref: string): Promise<Descriptor> {
    return resolveManifest(this.#ctx, ref);
  }

  /** Manifest bytes + descriptor, verified, capped at `maxManifestSize`. */
  getManifest(ref: string): Promise<FetchedManifest> {
    return getManifest(this.#ctx, ref);
  }

  /** PUT with Content-Type = `mediaType` under a tag or (default) its digest. */
  putManifest(bytes: Uint8Array, mediaType: string, ref?: string): Promise<PutManifestResult> {
    return putManifest(this.#ctx, bytes, mediaType, ref);
  }

  deleteManifest(digest: string): Promise<void> {
    return deleteManifest(this.#ctx, digest);
  }

  /** Sorted tags. */
  listTags(): Promise<string[]> {
    return listTags(this.#ctx);
  }

  /** The blob's descriptor if present, else undefined. */
  statBlob(digest: string): Promise<Descriptor | undefined> {
    return statBlob(this.#ctx, digest);
  }

  /** Streaming GET, resumed with Range after drops, size + digest verified at the end. */
  fetchBlob(blob: BlobRef): AsyncGenerator<Uint8Array> {
    return fetchBlob(this.#ctx, blob);
  }

  /** The whole blob in memory (refused above `maxSize`, default 64 MiB), verified. */
  readBlob(blob: BlobRef, maxSize = 64 * MiB): Promise<Uint8Array> {
    return readBlob(this.#ctx, blob, maxSize);
  }

  /** Bytes `[offset, offset+length)` (clamped at the end). */
  fetchBlobRange(blob: BlobRef, offset: number, length: number): Promise<Uint8Array> {
    return fetchBlobRange(this.#ctx, blob, offset, length);
  }

  /** Skip if present, else mount (`mountFrom`) or upload. */
  pushBlob(blob: BlobRef, source: BlobSource, options?: PushBlobOptions): Promise<PushBlobResult> {
    return pushBlob(this.#ctx, blob, source, options);
  }

  /** Cross-repository mount; false when `from` lacks the blob. */
  mountBlob(digest: string, from: string): Promise<boolean> {
    return mountBlob(this.#ctx, digest, from);
  }

  /** Referrers API, or the `sha256-<hex>` tag schema when the registry has none. */
  listReferrers(subjectDigest: string, options?: ListReferrersOptions): Promise<ListReferrersResult> {
    return listReferrers(this.#ctx, subjectDigest, options);
  }

  /** PUT a manifest with a subject; maintains the fallback tag when the registry does not index it. */
  pushReferrer(bytes: Uint8Array, mediaType: string): Promise<PushReferrerResult> {
    return pushReferrer(this.#ctx, bytes, mediaType);
  }

  /** Adds a descriptor to the fallback referrers index of `subjectDigest`; false if already there. */
  addToReferrersTag(subjectDigest: string, descriptor: Descriptor): Promise<boolean> {
    return addToReferrersTag(this.#ctx, subjectDigest, descriptor);
  }
}
