/**
 * Referrers: the manifests whose `subject` is a given manifest (OCI
 * distribution 1.1; formats §7.5; real-components §1.3).
 *
 * `listReferrers` asks `GET /v2/<name>/referrers/<digest>?artifactType=…`.
 * A 404 or 405 there means the registry has no referrers API (2.8 answers a
 * plain-text 404 from its router) and the client falls back to the tag schema:
 * the OCI index tagged `sha256-<hex>` lists the referrers (no tag → none).
 * The `artifactType` filter is applied here too, since a registry may ignore it.
 *
 * `pushReferrer` PUTs a manifest; when the registry does not confirm with
 * `OCI-Subject`, it adds the manifest's descriptor to the fallback index
 * (read, add unless present, PUT back — a read-modify-write that can race
 * with another writer, as in every client of this scheme).
 */
import { isDigest } from "../bytes/mod.ts";
import { InvalidArgumentError, RegistryError } from "../errors.ts";
import { hostHeaders, pullScope, repoUrl, withHosts, type RepoContext } from "./_context.ts";
import { getManifest, putManifest, type PutManifestResult } from "./manifests.ts";
import { encodeIndex, MAX_MANIFEST_SIZE, MEDIA_TYPE_OCI_INDEX, parseIndex as parseOciIndex, type Descriptor, type Index } from "../oci/mod.ts";

const MAX_REFERRERS_RESPONSE = MAX_MANIFEST_SIZE;

/** `sha256:<hex>` → `sha256-<hex>`, the fallback tag. */
export function referrersTag(subjectDigest: string): string {
  if (!isDigest(subjectDigest)) throw new InvalidArgumentError(`Cannot name the referrers tag of ${JSON.stringify(subjectDigest)}: not a sha256 digest`);
  return subjectDigest.replace(":", "-");
}

export interface ListReferrersOptions {
  artifactType?: string;
}

export interface ListReferrersResult {
  descriptors: Descriptor[];
  /** `api` when the registry answered the referrers API, `tag` when the fallback tag was read. */
  source: "api" | "tag";
}

/** The referrer descriptors of an index (validated by oci/; FormatError names `source`). */
function referrersOf(bytes: Uint8Array, source: string): Descriptor[] {
  return parseOciIndex(bytes, `referrers index of ${source}`).manifests;
}

/** The referrers of `subjectDigest`, filtered by `artifactType` when given. */
export async function listReferrers(ctx: RepoContext, subjectDigest: string, options: ListReferrersOptions = {}): Promise<ListReferrersResult> {
  const tag = referrersTag(subjectDigest);
  const action = `list referrers of ${JSON.stringify(`${ctx.name}@${subjectDigest}`)}`;
  const filter = (ds: Descriptor[]) => (options.artifactType === undefined ? ds : ds.filter((d) => d.artifactType === options.artifactType));
  const api = await withHosts(ctx, "resolve", async (host) => {
    const url = repoUrl(ctx, host, `referrers/${subjectDigest}`);
    if (options.artifactType !== undefined) url.searchParams.set("artifactType", options.artifactType);
    const res = await ctx.transport.request({
      method: "GET", url, scopes: pullScope(ctx), action,
      headers: hostHeaders(host, { Accept: MEDIA_TYPE_OCI_INDEX }), ok: [200, 404, 405],
    });
    if (res.status !== 200) {
      await res.discard();
      return undefined; // no referrers API on this registry
    }
    return referrersOf(await res.bytes(MAX_REFERRERS_RESPONSE), `${ctx.name}@${subjectDigest}`);
  });
  if (api !== undefined) return { descriptors: filter(api), source: "api" };
  let bytes: Uint8Array;
  try {
    bytes = (await getManifest(ctx, tag)).bytes;
  } catch (e) {
    if (e instanceof RegistryError && e.details.status === 404) return { descriptors: [], source: "tag" }; // no referrers yet
    throw e;
  }
  return { descriptors: filter(referrersOf(bytes, `${ctx.name}:${tag}`)), source: "tag" };
}

/**
 * Adds `descriptor` to the fallback index of `subjectDigest` (creating it),
 * written as canonical Go JSON (oci/). Returns false when it was already
 * listed. Throws RegistryError, or FormatError for an unreadable existing index.
 */
export async function addToReferrersTag(ctx: RepoContext, subjectDigest: string, descriptor: Descriptor): Promise<boolean> {
  const tag = referrersTag(subjectDigest);
  let index: Index = { schemaVersion: 2, mediaType: MEDIA_TYPE_OCI_INDEX, manifests: [] };
  try {
    index = parseOciIndex((await getManifest(ctx, tag)).bytes, `referrers index ${ctx.name}:${tag}`);
  } catch (e) {
    if (!(e instanceof RegistryError && e.details.status === 404)) throw e; // 404: the first referrer
  }
  if (index.manifests.some((d) => d.digest === descriptor.digest)) return false;
  const updated: Index = { ...index, schemaVersion: 2, mediaType: MEDIA_TYPE_OCI_INDEX, manifests: [...index.manifests, descriptor] };
  await putManifest(ctx, encodeIndex(updated), MEDIA_TYPE_OCI_INDEX, tag);
  return true;
}

export interface PushReferrerResult extends PutManifestResult {
  /** The fallback tag written, when the registry did not index the subject itself. */
  fallbackTag?: string;
}

/**
 * Pushes a manifest that has a `subject` and makes it findable as a referrer
 * (see module header). Its blobs must already be in the repository. The
 * descriptor recorded carries the manifest's `artifactType` (else its config
 * media type) and annotations. Throws InvalidArgumentError without a subject.
 */
export async function pushReferrer(ctx: RepoContext, bytes: Uint8Array, mediaType: string): Promise<PushReferrerResult> {
  let m: { subject?: { digest?: unknown }; artifactType?: unknown; config?: { mediaType?: unknown }; annotations?: unknown };
  try {
    m = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new InvalidArgumentError("Cannot push a referrer: the manifest is not JSON");
  }
  const subject = m.subject?.digest;
  if (typeof subject !== "string" || !isDigest(subject)) throw new InvalidArgumentError("Cannot push a referrer: the manifest has no subject digest");
  const put = await putManifest(ctx, bytes, mediaType);
  if (put.subjectIndexed) return put;
  const d: Descriptor = { ...put.descriptor };
  if (typeof m.annotations === "object" && m.annotations !== null) d.annotations = m.annotations as Record<string, string>;
  const artifactType = typeof m.artifactType === "string" ? m.artifactType : m.config?.mediaType;
  if (typeof artifactType === "string") d.artifactType = artifactType;
  await addToReferrersTag(ctx, subject, d);
  return { ...put, fallbackTag: referrersTag(subject) };
}
