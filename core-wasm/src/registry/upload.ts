/**
 * Pushing blobs (distribution spec "pushing blobs"; real-components §1.2).
 *
 * `pushBlob` skips a blob the repository already has (HEAD), tries a
 * cross-repository mount when told where the blob lives (`POST ?mount=&from=`:
 * 201 = mounted, 202 = the registry opened an ordinary upload instead), then
 * uploads: `POST` opens a session; small blobs go in one `PUT ?digest=`
 * ("monolithic": 2.8 ignores a body on the POST), larger ones from a stream
 * as ONE streamed `PATCH` (as skopeo does: no blob in memory, and the registry
 * saves its hash state once instead of per chunk — bench/registry), larger
 * ones from memory (or `chunked: true`) as `PATCH` chunks with
 * `Content-Range`; then an empty `PUT ?digest=`.
 *
 * Chunks are read one ahead of the PATCH in flight, so reading the source
 * overlaps the upload. The registry encodes the offset in the session `Location` and does not
 * check `Content-Range`, so offsets are tracked here, the `Range` it answers is
 * checked against them, and every step uses the newest `Location` (an older
 * one is a 404). A streamed PATCH answered 401 (its token expired while it
 * was sent) is re-sent once with a fresh token, the stream re-opened from its
 * source. PATCH/PUT into a session are never replayed blindly otherwise: when a
 * step fails retryably the whole upload restarts from a fresh session (at most
 * `maxRetries` times), after checking whether the blob arrived after all —
 * but not when the source stream failed (its own retries are spent).
 */
import { concatBytes, isDigest } from "../bytes/mod.ts";
import { InvalidArgumentError, RegistryError } from "../errors.ts";
import { hostHeaders, pushScope, repoUrl, withHosts, type RepoContext } from "./_context.ts";
import { statBlob } from "./blobs.ts";
import type { RegistryHost } from "./hosts.ts";
import { redactUrl } from "./redact.ts";
import { backoffMs, sleep } from "./retry.ts";
import type { BlobRef } from "./blobs.ts";
import type { RegistryResponse } from "./transport.ts";

/** Bytes in memory, or a function that opens the blob's byte stream (called again on a restart). */
export type BlobSource = Uint8Array | (() => AsyncIterable<Uint8Array>);

export interface PushBlobOptions {
  /** Repositories on the same registry that may hold the blob (cross-repository mount). */
  mountFrom?: readonly string[];
  /** Force chunked (true) or monolithic (false); default by size vs `monolithicMaxSize`. */
  chunked?: boolean;
}

export type PushBlobResult = "exists" | "mounted" | "uploaded";

const OCTET = "application/octet-stream";

function sessionUrl(res: RegistryResponse, action: string): URL {
  const location = res.headers.get("location");
  if (location === null) {
    const shown = redactUrl(res.url);
    throw new RegistryError(`Cannot ${action}: the registry sent no upload Location (${res.method} ${shown})`, {
      status: res.status, method: res.method, url: shown, diagnostics: [], retryable: false,
    });
  }
  return new URL(location, res.url);
}

/**
 * Makes the blob `blob` exist in the repository, by skip, mount or upload (see
 * module header). The source must produce exactly `blob.size` bytes with digest
 * `blob.digest` (the registry verifies; a wrong digest is a 400 DIGEST_INVALID).
 */
export async function pushBlob(ctx: RepoContext, blob: BlobRef, source: BlobSource, options: PushBlobOptions = {}): Promise<PushBlobResult> {
  if (!isDigest(blob.digest)) throw new InvalidArgumentError(`Cannot push blob ${JSON.stringify(blob.digest)}: not a sha256 digest`);
  if (source instanceof Uint8Array && source.length !== blob.size) {
    throw new InvalidArgumentError(`Cannot push blob ${JSON.stringify(blob.digest)}: ${source.length} bytes given for size ${blob.size}`);
  }
  if ((await statBlob(ctx, blob.digest, true)) !== undefined) return "exists";
  const action = `push blob ${JSON.stringify(blob.digest)} to ${JSON.stringify(ctx.name)}`;
  // A failure of the source itself (a registry source has already retried it) ends the push:
  // restarting the upload would multiply the source's retries.
  let sourceFailed = false;
  const opened = source;
  if (typeof opened === "function") {
    source = async function* () {
      try {
        yield* opened();
      } catch (e) {
        sourceFailed = true;
        throw e;
      }
    };
  }
  return withHosts(ctx, "push", async (host) => {
    let session: URL | undefined;
    for (const from of options.mountFrom ?? []) {
      if (from === ctx.repository) continue;
      const r = await mount(ctx, host, blob.digest, from, action);
      if (r === "mounted") return "mounted";
      session = r;
      break; // a 202 is an open session: use it rather than opening more
    }
    const policy = ctx.transport.retryPolicy;
    for (let attempt = 0; ; attempt++) {
      try {
        session ??= await openSession(ctx, host, action);
        const large = blob.size > ctx.monolithicMaxSize;
        if (options.chunked === undefined && large && typeof source === "function") await uploadStreamed(ctx, host, session, blob, source, action);
        else if (options.chunked ?? large) await uploadChunked(ctx, host, session, blob, source, action);
        else await uploadMonolithic(ctx, host, session, blob, source, action);
        return "uploaded";
      } catch (e) {
        session = undefined;
        const restartable = !sourceFailed && e instanceof RegistryError && e.retryable && attempt < policy.maxRetries;
        if (!restartable) throw e;
        // The final PUT may have landed even though its answer was lost.
        if ((await statBlob(ctx, blob.digest, true)) !== undefined) return "uploaded";
        ctx.debug?.(`restarting upload of ${blob.digest} after: ${(e as Error).message}`);
        await sleep(backoffMs(policy, attempt));
      }
    }
  });
}

/** Cross-repository mount of `digest` from `from`: true when mounted (201). On 202 the opened session is cancelled. */
export async function mountBlob(ctx: RepoContext, digest: string, from: string): Promise<boolean> {
  if (!isDigest(digest)) throw new InvalidArgumentError(`Cannot mount blob ${JSON.stringify(digest)}: not a sha256 digest`);
  const action = `mount blob ${JSON.stringify(digest)} from ${JSON.stringify(from)} into ${JSON.stringify(ctx.name)}`;
  return withHosts(ctx, "push", async (host) => {
    const r = await mount(ctx, host, digest, from, action);
    if (r === "mounted") return true;
    const res = await ctx.transport.request({ method: "DELETE", url: r, scopes: pushScope(ctx), action, headers: hostHeaders(host, {}), ok: [200, 202, 204, 404] });
    await res.discard();
    return false;
  });
}

async function mount(ctx: RepoContext, host: RegistryHost, digest: string, from: string, action: string): Promise<"mounted" | URL> {
  const url = repoUrl(ctx, host, "blobs/uploads/");
  url.searchParams.set("mount", digest);
  url.searchParams.set("from", from);
  const res = await ctx.transport.request({
    method: "POST", url, action, retry: true, headers: hostHeaders(host, {}),
    scopes: [...pushScope(ctx), `repository:${from}:pull`], ok: [201, 202],
  });
  await res.discard();
  return res.status === 201 ? "mounted" : sessionUrl(res, action);
}

async function openSession(ctx: RepoContext, host: RegistryHost, action: string): Promise<URL> {
  // A leaked session costs the registry a little state, so POST is safe to retry.
  const res = await ctx.transport.request({
    method: "POST", url: repoUrl(ctx, host, "blobs/uploads/"), scopes: pushScope(ctx), action, retry: true,
    headers: hostHeaders(host, {}), ok: [202],
  });
  await res.discard();
  return sessionUrl(res, action);
}

async function finish(ctx: RepoContext, host: RegistryHost, session: URL, blob: BlobRef, body: Uint8Array | undefined, action: string): Promise<void> {
  const url = new URL(session);
  url.searchParams.append("digest", blob.digest);
  const res = await ctx.transport.request({
    method: "PUT", url, scopes: pushScope(ctx), action, body, retry: false,
    headers: hostHeaders(host, { "Content-Type": OCTET }),
    ok: [201, 204],
  });
  await res.discard();
  const reported = res.headers.get("docker-content-digest");
  if (reported !== null && reported !== blob.digest) {
    const shown = redactUrl(res.url);
    throw new RegistryError(`Cannot ${action}: the registry stored digest ${JSON.stringify(reported)} (PUT ${shown})`, {
      status: res.status, method: "PUT", url: shown, diagnostics: [], retryable: false,
    });
  }
}

async function collect(source: BlobSource, max: number, what: string): Promise<Uint8Array> {
  if (source instanceof Uint8Array) return source;
  const parts: Uint8Array[] = [];
  let n = 0;
  for await (const c of source()) {
    n += c.length;
    if (n > max) throw new InvalidArgumentError(`Cannot push ${what}: the source is longer than its size ${max}`);
    parts.push(c);
  }
  return concatBytes(parts);
}

async function uploadMonolithic(ctx: RepoContext, host: RegistryHost, session: URL, blob: BlobRef, source: BlobSource, action: string): Promise<void> {
  const body = await collect(source, blob.size, `blob ${JSON.stringify(blob.digest)}`);
  if (body.length !== blob.size) {
    throw new InvalidArgumentError(`Cannot push blob ${JSON.stringify(blob.digest)}: the source has ${body.length} bytes, the size is ${blob.size}`);
  }
  await finish(ctx, host, session, blob, body, action);
}

/** The source re-cut into `size`-byte chunks (the last may be shorter). */
async function* rechunk(source: BlobSource, size: number): AsyncGenerator<Uint8Array> {
  if (source instanceof Uint8Array) {
    for (let o = 0; o < source.length; o += size) yield source.subarray(o, Math.min(o + size, source.length));
    return;
  }
  let buf = new Uint8Array(size);
  let fill = 0;
  for await (const c of source()) {
    let o = 0;
    while (o < c.length) {
      const n = Math.min(size - fill, c.length - o);
      buf.set(c.subarray(o, o + n), fill);
      fill += n;
      o += n;
      if (fill === size) {
        yield buf;
        buf = new Uint8Array(size); // the yielded buffer is in flight: never reuse it
        fill = 0;
      }
    }
  }
  if (fill > 0) yield buf.subarray(0, fill);
}

async function uploadChunked(ctx: RepoContext, host: RegistryHost, session: URL, blob: BlobRef, source: BlobSource, action: string): Promise<void> {
  let offset = 0;
  let url = session;
  // The next chunk is read while the current one is on the wire (two chunks in memory at most).
  const chunks = rechunk(source, ctx.chunkSize);
  let ahead = chunks.next();
  for (;;) {
    const step = await ahead;
    if (step.done) break;
    const chunk = step.value;
    ahead = chunks.next();
    ahead.catch(() => {}); // a read failure is thrown when `ahead` is awaited
    if (offset + chunk.length > blob.size) {
      throw new InvalidArgumentError(`Cannot push blob ${JSON.stringify(blob.digest)}: the source is longer than its size ${blob.size}`);
    }
    const last = offset + chunk.length - 1;
    const res = await ctx.transport.request({
      method: "PATCH", url, scopes: pushScope(ctx), action, body: chunk, retry: false,
      headers: hostHeaders(host, { "Content-Type": OCTET, "Content-Range": `${offset}-${last}` }),
      ok: [202, 204],
    });
    await res.discard();
    // The registry reports what it holds as `Range: 0-<last>`; it must match our count.
    const range = res.headers.get("range");
    if (range !== null && range !== `0-${last}` && range !== `bytes=0-${last}`) {
      const shown = redactUrl(res.url);
      throw new RegistryError(`Cannot ${action}: the registry holds ${JSON.stringify(range)} after a chunk ending at byte ${last} (PATCH ${shown})`, {
        status: res.status, method: "PATCH", url: shown, diagnostics: [], retryable: true,
      });
    }
    url = sessionUrl(res, action);
    offset += chunk.length;
  }
  if (offset !== blob.size) {
    throw new InvalidArgumentError(`Cannot push blob ${JSON.stringify(blob.digest)}: the source has ${offset} bytes, the size is ${blob.size}`);
  }
  await finish(ctx, host, url, blob, undefined, action);
}

/** The source, refusing more than `size` bytes; counts into `sent`. */
async function* limited(source: () => AsyncIterable<Uint8Array>, blob: BlobRef, sent: { n: number }): AsyncGenerator<Uint8Array> {
  for await (const c of source()) {
    if (sent.n + c.length > blob.size) throw new InvalidArgumentError(`Cannot push blob ${JSON.stringify(blob.digest)}: the source is longer than its size ${blob.size}`);
    sent.n += c.length;
    yield c;
  }
}

async function uploadStreamed(ctx: RepoContext, host: RegistryHost, session: URL, blob: BlobRef, source: () => AsyncIterable<Uint8Array>, action: string): Promise<void> {
  const sent = { n: 0 };
  // Re-opened from the source when the registry answers 401 (a token that expired mid-upload).
  const body = () => {
    sent.n = 0;
    return limited(source, blob, sent);
  };
  const res = await ctx.transport.request({
    method: "PATCH", url: session, scopes: pushScope(ctx), action, body, retry: false,
    headers: hostHeaders(host, { "Content-Type": OCTET }),
    ok: [202, 204],
  });
  await res.discard();
  if (sent.n !== blob.size) {
    throw new InvalidArgumentError(`Cannot push blob ${JSON.stringify(blob.digest)}: the source has ${sent.n} bytes, the size is ${blob.size}`);
  }
  const range = res.headers.get("range");
  const last = blob.size - 1;
  if (range !== null && range !== `0-${last}` && range !== `bytes=0-${last}`) {
    const shown = redactUrl(res.url);
    throw new RegistryError(`Cannot ${action}: the registry holds ${JSON.stringify(range)} after ${blob.size} bytes were sent (PATCH ${shown})`, {
      status: res.status, method: "PATCH", url: shown, diagnostics: [], retryable: true,
    });
  }
  await finish(ctx, host, sessionUrl(res, action), blob, undefined, action);
}
