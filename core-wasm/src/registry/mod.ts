/**
 * The OCI distribution (registry) client: everything `soci convert`, push,
 * pull, copy and the snapshotter's span fetches need from a registry
 * (snapshotter §11, formats §7.5, real-components §1).
 *
 *   const client = new RegistryClient({ credentials, plainHttpLoopback: true });
 *   const repo = client.repository("127.0.0.1:5000/app");
 *   const desc = await repo.resolve("1");                       // HEAD, all four Accept types
 *   const { bytes } = await repo.getManifest(desc.digest);      // capped, digest-verified
 *   for await (const chunk of repo.fetchBlob(layer)) …          // resumed with Range, verified
 *   const span = await repo.fetchBlobRange(layer, off, len);    // 206 / 200 / 416
 *   await repo.pushBlob(desc, bytes, { mountFrom: ["base"] });  // skip | mount | upload
 *   for (const item of pushOrder(items)) …                      // blobs, manifests, indexes
 *   const src = new RegistryImageSource(repo, ref);             // oci's ImageSource / ImageSink
 *   await copyImage(src, new RegistryImageSink(repo2, ref2));   // every digest kept, tag last
 *
 * Contracts (each function's own comment has the details):
 * * Remote failures throw `RegistryError` (errors.ts) with status, method, a
 *   redacted URL, the registry's error codes (`details.diagnostics`), a
 *   `retryable` flag and a hint. Not-found is `details.status === 404`
 *   (`isNotFound`). Bad arguments throw `InvalidArgumentError`; a bad
 *   hosts.toml or referrers index throws `FormatError`.
 * * Everything fetched is checked against its digest and size before it is
 *   returned; streams check at the end and throw there.
 * * Credentials and tokens never appear in errors, hints or debug lines.
 *
 * * TLS is verified by default; hosts.toml `skip_verify`, `ca` and `client`
 *   apply per host on Node (undici Agent), Bun (fetch `tls`) and Deno
 *   (`Deno.createHttpClient`; `skip_verify` there needs Deno's own flag).
 *
 * Known gaps: multi-range (`multipart/byteranges`) requests are not issued;
 * the ECR/S3 special cases of snapshotter §11.2 are not handled; registries on
 * a port fetch blocks (e.g. 1, 6000, 6666) fail with a non-retryable error.
 */
import { RegistryError } from "../errors.ts";

export { RegistryClient, Repository, type RegistryClientOptions } from "./client.ts";
export type { BlobRef } from "./blobs.ts";
export { parseContentRange } from "./blobs.ts";
export type { FetchedManifest, PutManifestResult } from "./manifests.ts";
export type { BlobSource, PushBlobOptions, PushBlobResult } from "./upload.ts";
export { referrersTag, type ListReferrersOptions, type ListReferrersResult, type PushReferrerResult } from "./referrers.ts";
export { pushOrder, manifestReferences, type PushItem } from "./push_order.ts";
export { Transport, RegistryResponse, type TransportOptions, type RequestSpec } from "./transport.ts";
export { resolveHosts, parseHostsToml, registryApiHost, isLoopbackHost, hostBaseUrl, type RegistryHost, type HostOptions, type HostCapability } from "./hosts.ts";
export {
  chainCredentials, defaultDockerConfigPath, dockerConfigCredentials, parseUserPass, staticCredentials,
  type CredentialSource, type Credentials, type DockerConfigOptions,
} from "./credentials.ts";
export { parseToml, type TomlTable, type TomlValue } from "./_toml.ts";
export { parseChallenges, mergeScopes, repositoryScope, type Challenge } from "./challenge.ts";
export { redactUrl, redactHeaders, redactText } from "./redact.ts";
export {
  referenceTarget, RegistryImageSink, RegistryImageSource,
  type RegistrySinkOptions, type RegistrySourceOptions, type SinkEvent,
} from "./image_source.ts";
export { copyImage, copyReferrers, type CopiedReferrer, type CopyOptions, type CopyResult } from "./copy_image.ts";
export { mapConcurrent, Limiter, backoffMs, parseRetryAfter, DEFAULT_RETRY_POLICY, type RetryPolicy } from "./retry.ts";

/** True for a RegistryError that means "not there" (404). */
export function isNotFound(e: unknown): boolean {
  return e instanceof RegistryError && e.details.status === 404;
}
