/**
 * Manifests, tags and their deletion (distribution spec "pull"/"push"/"content
 * management"; real-components §1.2).
 *
 * Every GET/HEAD lists all four manifest media types in `Accept` (2.8 answers
 * 404 for a type not listed). Fetched manifests are capped (`maxManifestSize`,
 * 4 MiB by default), hashed, and checked against the digest asked for and the
 * `Docker-Content-Digest` header (STYLE §9 ex. 8). PUT sends `Content-Type` =
 * the manifest's media type and checks the digest the registry reports.
 */
import { isDigest, sha256Digest } from "../bytes/mod.ts";
import { InvalidArgumentError, RegistryError } from "../errors.ts";
import { hostHeaders, pullScope, pushScope, repoUrl, withHosts, type RepoContext } from "./_context.ts";
import { redactUrl } from "./redact.ts";
import { MANIFEST_ACCEPT, type Descriptor } from "../oci/mod.ts";

export interface FetchedManifest {
  descriptor: Descriptor;
  /** The exact bytes served, verified against `descriptor.digest`. */
  bytes: Uint8Array;
}

export interface PutManifestResult {
  descriptor: Descriptor;
  /** The registry answered `OCI-Subject`: it indexed the manifest's subject (referrers API). */
  subjectIndexed: boolean;
}

const MAX_TAG_PAGES = 1000;
const MAX_TAGS_RESPONSE = 16 * 1024 * 1024;

function checkRef(ref: string): void {
  if (!isDigest(ref) && !/^[\w][\w.-]{0,127}$/.test(ref)) {
    throw new InvalidArgumentError(`Cannot use ${JSON.stringify(ref)} as a tag or digest: it is neither`);
  }
}

/** `application/x; charset=…` → `application/x`; undefined when absent or generic. */
function headerMediaType(value: string | null): string | undefined {
  const t = value?.split(";")[0].trim();
  if (!t || t === "application/json" || t === "text/plain" || t === "application/octet-stream") return undefined;
  return t;
}

function sniffMediaType(bytes: Uint8Array): string | undefined {
  try {
    const v = JSON.parse(new TextDecoder().decode(bytes));
    return typeof v?.mediaType === "string" ? v.mediaType : undefined;
  } catch {
    return undefined;
  }
}

function mismatch(ctx: RepoContext, action: string, method: string, url: URL, why: string): RegistryError {
  const shown = redactUrl(url);
  return new RegistryError(`Cannot ${action}: ${why} (${method} ${shown})`, { method, url: shown, diagnostics: [], retryable: false }, {
    hint: `The registry ${ctx.registry} or a proxy returned different content than asked for`,
  });
}

/**
 * The descriptor `ref` (tag or digest) points at: HEAD, falling back to GET when
 * the HEAD answer lacks a usable digest or is refused. Throws RegistryError
 * (404 with a hint when the manifest does not exist).
 */
export async function resolveManifest(ctx: RepoContext, ref: string): Promise<Descriptor> {
  checkRef(ref);
  const action = `resolve ${JSON.stringify(`${ctx.name}:${ref}`)}`;
  const head = await withHosts(ctx, "resolve", async (host) => {
    const url = repoUrl(ctx, host, `manifests/${ref}`);
    const res = await ctx.transport.request({
      method: "HEAD", url, scopes: pullScope(ctx), action,
      headers: hostHeaders(host, { Accept: MANIFEST_ACCEPT }),
      ok: [200, 400, 404, 405, 406, 501],
    });
    await res.discard();
    if (res.status !== 200) return undefined;
    const digest = res.headers.get("docker-content-digest") ?? "";
    const size = Number(res.headers.get("content-length") ?? "NaN");
    const mediaType = headerMediaType(res.headers.get("content-type"));
    if (!isDigest(digest) || !Number.isSafeInteger(size) || mediaType === undefined) return undefined;
    if (isDigest(ref) && digest !== ref) throw mismatch(ctx, action, "HEAD", url, `the registry reports digest ${JSON.stringify(digest)}`);
    return { mediaType, digest, size } satisfies Descriptor;
  });
  return head ?? (await getManifest(ctx, ref)).descriptor;
}

/** The manifest bytes and descriptor for `ref`, verified as described in the module header. */
export async function getManifest(ctx: RepoContext, ref: string): Promise<FetchedManifest> {
  checkRef(ref);
  const action = `fetch manifest ${JSON.stringify(`${ctx.name}${isDigest(ref) ? "@" : ":"}${ref}`)}`;
  return withHosts(ctx, isDigest(ref) ? "pull" : "resolve", async (host) => {
    const url = repoUrl(ctx, host, `manifests/${ref}`);
    const res = await ctx.transport.request({
      method: "GET", url, scopes: pullScope(ctx), action,
      headers: hostHeaders(host, { Accept: MANIFEST_ACCEPT }),
      ok: [200],
      notFoundHint: "Check the repository name and the tag or digest",
    });
    const bytes = await res.bytes(ctx.maxManifestSize);
    const digest = sha256Digest(bytes);
    if (isDigest(ref) && digest !== ref) throw mismatch(ctx, action, "GET", url, `the content has digest ${JSON.stringify(digest)}`);
    const reported = res.headers.get("docker-content-digest");
    if (reported !== null && reported.startsWith("sha256:") && reported !== digest) {
      throw mismatch(ctx, action, "GET", url, `the content has digest ${JSON.stringify(digest)} but the registry reports ${JSON.stringify(reported)}`);
    }
    const mediaType = headerMediaType(res.headers.get("content-type")) ?? sniffMediaType(bytes);
    if (mediaType === undefined) throw mismatch(ctx, action, "GET", url, "the manifest has no media type");
    return { descriptor: { mediaType, digest, size: bytes.length }, bytes };
  });
}

/**
 * Stores `bytes` under `ref` (a tag, or its own digest; default: its digest).
 * The registry must already hold every blob and child manifest it references
 * (see pushOrder). Throws InvalidArgumentError when `ref` is a different
 * digest, RegistryError on refusal (e.g. 400 MANIFEST_BLOB_UNKNOWN).
 */
export async function putManifest(ctx: RepoContext, bytes: Uint8Array, mediaType: string, ref?: string): Promise<PutManifestResult> {
  const digest = sha256Digest(bytes);
  const target = ref ?? digest;
  checkRef(target);
  if (isDigest(target) && target !== digest) {
    throw new InvalidArgumentError(`Cannot push manifest ${JSON.stringify(digest)} as ${JSON.stringify(target)}: the digests differ`);
  }
  if (bytes.length > ctx.maxManifestSize) {
    throw new InvalidArgumentError(`Cannot push manifest ${JSON.stringify(digest)}: it is larger than ${ctx.maxManifestSize} bytes`);
  }
  const action = `push manifest ${JSON.stringify(digest)} to ${JSON.stringify(`${ctx.name}${isDigest(target) ? "" : ":" + target}`)}`;
  return withHosts(ctx, "push", async (host) => {
    const url = repoUrl(ctx, host, `manifests/${target}`);
    const res = await ctx.transport.request({
      method: "PUT", url, scopes: pushScope(ctx), action, body: bytes,
      headers: hostHeaders(host, { "Content-Type": mediaType }),
      ok: [200, 201, 202],
    });
    await res.discard();
    const reported = res.headers.get("docker-content-digest");
    if (reported !== null && reported.startsWith("sha256:") && reported !== digest) {
      throw mismatch(ctx, action, "PUT", url, `the registry stored digest ${JSON.stringify(reported)}`);
    }
    return { descriptor: { mediaType, digest, size: bytes.length }, subjectIndexed: res.headers.has("oci-subject") };
  });
}

/** Deletes the manifest `digest` (and, on distribution, every tag pointing at it). 404 → RegistryError. */
export async function deleteManifest(ctx: RepoContext, digest: string): Promise<void> {
  if (!isDigest(digest)) throw new InvalidArgumentError(`Cannot delete manifest ${JSON.stringify(digest)}: registries delete by digest only`);
  const action = `delete manifest ${JSON.stringify(`${ctx.name}@${digest}`)}`;
  await withHosts(ctx, "push", async (host) => {
    const res = await ctx.transport.request({
      method: "DELETE", url: repoUrl(ctx, host, `manifests/${digest}`), scopes: [`repository:${ctx.repository}:delete`, ...pullScope(ctx)],
      action, headers: hostHeaders(host, { Accept: MANIFEST_ACCEPT }), ok: [200, 202, 204],
    });
    await res.discard();
  });
}

/** All tags of the repository, following `Link` pagination, sorted (the registry does not sort). */
export async function listTags(ctx: RepoContext): Promise<string[]> {
  const action = `list tags of ${JSON.stringify(ctx.name)}`;
  return withHosts(ctx, "resolve", async (host) => {
    const tags: string[] = [];
    let url: URL | undefined = repoUrl(ctx, host, "tags/list");
    for (let page = 0; url !== undefined; page++) {
      if (page >= MAX_TAG_PAGES) throw mismatch(ctx, action, "GET", url, `more than ${MAX_TAG_PAGES} pages of tags`);
      const res = await ctx.transport.request({ method: "GET", url, scopes: pullScope(ctx), action, headers: hostHeaders(host, {}), ok: [200] });
      const body = await res.bytes(MAX_TAGS_RESPONSE);
      let v: { tags?: unknown };
      try {
        v = JSON.parse(new TextDecoder().decode(body));
      } catch {
        throw mismatch(ctx, action, "GET", url, "the tag list is not JSON");
      }
      if (v.tags !== null && v.tags !== undefined && !Array.isArray(v.tags)) throw mismatch(ctx, action, "GET", url, "the tag list has no tags array");
      for (const t of (v.tags as unknown[] | null) ?? []) if (typeof t === "string") tags.push(t);
      const next = /<([^>]+)>\s*;\s*rel="?next"?/.exec(res.headers.get("link") ?? "")?.[1];
      url = next === undefined ? undefined : new URL(next, url);
    }
    return [...new Set(tags)].sort();
  });
}
