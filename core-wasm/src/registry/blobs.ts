/**
 * Reading blobs: existence (HEAD), whole-blob streams and single byte ranges
 * (distribution spec "pulling blobs"; snapshotter §11.3; real-components §1.2).
 *
 * A stream is hashed as it goes and checked against the descriptor's size and
 * digest at the end; more bytes than the size stop it at once. When the
 * connection drops, stalls or ends early, the stream resumes with
 * `Range: bytes=<received>-` (a server that answers 200 instead is skipped
 * ahead), within the transport's retry budget. Consumers get each byte once.
 *
 * A range read sends `Range: bytes=a-b` and accepts 206 (checked against
 * `Content-Range`), 200 (the whole blob: the window is cut out and the whole
 * blob verified) or 416 (the range starts past the end: a clear error; the
 * 416 body is never read — 2.8 sends a bogus Content-Length). A 206 range
 * cannot be digest-checked here; span digests are the caller's (snapshotter §9.4).
 */
import { isDigest, Sha256 } from "../bytes/mod.ts";
import { InvalidArgumentError, RegistryError } from "../errors.ts";
import { hostHeaders, pullScope, pushScope, repoUrl, withHosts, type RepoContext } from "./_context.ts";
import { redactUrl } from "./redact.ts";
import { backoffMs, sleep } from "./retry.ts";
import type { Descriptor } from "../oci/mod.ts";
import type { RegistryResponse } from "./transport.ts";

/** What a blob read needs to know and verify. */
export interface BlobRef {
  digest: string;
  size: number;
}

function checkBlobRef(b: BlobRef): void {
  if (!isDigest(b.digest)) throw new InvalidArgumentError(`Cannot fetch blob ${JSON.stringify(b.digest)}: not a sha256 digest`);
  if (!Number.isSafeInteger(b.size) || b.size < 0) throw new InvalidArgumentError(`Cannot fetch blob ${JSON.stringify(b.digest)}: bad size ${b.size}`);
}

function contentError(ctx: RepoContext, action: string, url: URL, why: string, retryable = false): RegistryError {
  const shown = redactUrl(url);
  return new RegistryError(`Cannot ${action}: ${why} (GET ${shown})`, { method: "GET", url: shown, diagnostics: [], retryable }, {
    hint: retryable ? undefined : `The registry ${ctx.registry} or a proxy returned corrupt content`,
  });
}

/** The blob's descriptor (media type `application/octet-stream`) when it exists, else undefined. */
export async function statBlob(ctx: RepoContext, digest: string, forPush = false): Promise<Descriptor | undefined> {
  if (!isDigest(digest)) throw new InvalidArgumentError(`Cannot check blob ${JSON.stringify(digest)}: not a sha256 digest`);
  const action = `check blob ${JSON.stringify(digest)} in ${JSON.stringify(ctx.name)}`;
  try {
    // Before a push, ask the push endpoint: a pull-only mirror having the blob says nothing about the target.
    return await withHosts(ctx, forPush ? "push" : "pull", async (host) => {
      const res = await ctx.transport.request({
        method: "HEAD", url: repoUrl(ctx, host, `blobs/${digest}`), scopes: forPush ? pushScope(ctx) : pullScope(ctx), action,
        headers: hostHeaders(host, {}), ok: [200],
      });
      await res.discard();
      const size = Number(res.headers.get("content-length") ?? "NaN");
      return { mediaType: "application/octet-stream", digest, size: Number.isSafeInteger(size) ? size : -1 };
    });
  } catch (e) {
    if (e instanceof RegistryError && e.details.status === 404) return undefined; // "does not exist" is an answer
    throw e;
  }
}

/** `a-b/total` of a `Content-Range: bytes a-b/total` header (total may be `*`). */
export function parseContentRange(value: string | null): { start: number; end: number; total?: number } | undefined {
  const m = /^bytes\s+(\d+)-(\d+)\/(\d+|\*)$/.exec(value?.trim() ?? "");
  if (!m) return undefined;
  const r = { start: Number(m[1]), end: Number(m[2]), total: m[3] === "*" ? undefined : Number(m[3]) };
  return r.end < r.start ? undefined : r;
}

async function openBlob(ctx: RepoContext, digest: string, action: string, range?: string): Promise<RegistryResponse> {
  return withHosts(ctx, "pull", (host) =>
    ctx.transport.request({
      method: "GET", url: repoUrl(ctx, host, `blobs/${digest}`), scopes: pullScope(ctx), action,
      headers: hostHeaders(host, { "Accept-Encoding": "identity", ...(range ? { Range: range } : {}) }),
      ok: range ? [200, 206, 416] : [200],
      notFoundHint: "Check that the blob was pushed to this repository",
    }),
  );
}

/**
 * The blob's bytes as a stream, verified at the end (see module header).
 * Throws RegistryError: a status failure, retries exhausted, wrong size or
 * wrong digest (not retryable). Chunks are owned by the consumer.
 */
export async function* fetchBlob(ctx: RepoContext, blob: BlobRef): AsyncGenerator<Uint8Array> {
  checkBlobRef(blob);
  const action = `fetch blob ${JSON.stringify(blob.digest)} from ${JSON.stringify(ctx.name)}`;
  const hash = new Sha256();
  const policy = ctx.transport.retryPolicy;
  let received = 0;
  let resumes = 0;
  let url: URL | undefined;
  for (;;) {
    const resuming = received > 0;
    const res = await openBlob(ctx, blob.digest, action, resuming ? `bytes=${received}-` : undefined);
    url = res.url;
    let skip = 0;
    if (resuming) {
      if (res.status === 416) throw contentError(ctx, action, url, `the registry refuses to resume at byte ${received} of ${blob.size}`);
      const cr = parseContentRange(res.headers.get("content-range"));
      if (res.status === 206 && cr?.start !== received) {
        await res.discard();
        throw contentError(ctx, action, url, `asked to resume at byte ${received}, got Content-Range ${JSON.stringify(res.headers.get("content-range"))}`);
      }
      if (res.status === 200) skip = received; // the server ignored Range: drop what we already have
    }
    try {
      for await (let chunk of res.stream()) {
        if (skip > 0) {
          const n = Math.min(skip, chunk.length);
          skip -= n;
          chunk = chunk.subarray(n);
          if (chunk.length === 0) continue;
        }
        if (received + chunk.length > blob.size) {
          throw contentError(ctx, action, url, `the blob is longer than its descriptor's size ${blob.size}`);
        }
        hash.update(chunk);
        received += chunk.length;
        yield chunk;
      }
      if (received < blob.size) {
        // A clean end before `size` bytes is a truncated response: resume like a drop.
        throw contentError(ctx, action, url, `the response ended after ${received} of ${blob.size} bytes`, true);
      }
      break;
    } catch (e) {
      if (!(e instanceof RegistryError) || !e.retryable || resumes >= policy.maxRetries) throw e;
      ctx.debug?.(`resuming ${blob.digest} at byte ${received} after: ${e.message}`);
      await sleep(backoffMs(policy, resumes++));
    }
  }
  const digest = hash.digest();
  if (digest !== blob.digest) throw contentError(ctx, action, url, `the content has digest ${JSON.stringify(digest)}`);
}

/** The whole blob in memory (refused above `maxSize`), verified. */
export async function readBlob(ctx: RepoContext, blob: BlobRef, maxSize: number): Promise<Uint8Array> {
  checkBlobRef(blob);
  if (blob.size > maxSize) throw new InvalidArgumentError(`Cannot read blob ${JSON.stringify(blob.digest)} into memory: its size ${blob.size} is over ${maxSize}`);
  const out = new Uint8Array(blob.size);
  let o = 0;
  for await (const c of fetchBlob(ctx, blob)) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

/**
 * Bytes `[offset, offset + length)` of the blob, clamped at its end. Throws
 * InvalidArgumentError for a bad range, RegistryError for a range starting past
 * the end (status 416), a mismatched Content-Range, or retries exhausted.
 */
export async function fetchBlobRange(ctx: RepoContext, blob: BlobRef, offset: number, length: number): Promise<Uint8Array> {
  checkBlobRef(blob);
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length <= 0) {
    throw new InvalidArgumentError(`Cannot fetch a range of blob ${JSON.stringify(blob.digest)}: bad offset ${offset} or length ${length}`);
  }
  const end = Math.min(offset + length, blob.size); // exclusive
  const action = `fetch bytes ${offset}-${offset + length - 1} of blob ${JSON.stringify(blob.digest)} from ${JSON.stringify(ctx.name)}`;
  if (offset >= blob.size) {
    throw new RegistryError(`Cannot ${action}: the blob has only ${blob.size} bytes`, { status: 416, diagnostics: [], retryable: false });
  }
  const out = new Uint8Array(end - offset);
  let got = 0;
  const policy = ctx.transport.retryPolicy;
  for (let attempt = 0; ; attempt++) {
    const res = await openBlob(ctx, blob.digest, action, `bytes=${offset + got}-${end - 1}`);
    try {
      if (res.status === 416) {
        const total = /\/(\d+)$/.exec(res.headers.get("content-range") ?? "")?.[1];
        throw new RegistryError(`Cannot ${action}: the registry has only ${total ?? "fewer"} bytes of it`, {
          status: 416, method: "GET", url: redactUrl(res.url), diagnostics: [], retryable: false,
        });
      }
      if (res.status === 206) {
        const cr = parseContentRange(res.headers.get("content-range"));
        if (cr === undefined || cr.start !== offset + got || cr.end > end - 1 || (cr.end < end - 1 && cr.total !== cr.end + 1)) {
          throw contentError(ctx, action, res.url, `unexpected Content-Range ${JSON.stringify(res.headers.get("content-range"))}`);
        }
        for await (const c of res.stream()) {
          if (got + c.length > out.length) throw contentError(ctx, action, res.url, "the range response is longer than asked for");
          out.set(c, got);
          got += c.length;
        }
        if (got < cr.end + 1 - offset) throw contentError(ctx, action, res.url, `the range response ended after ${got} bytes`, true);
        return got === out.length ? out : out.slice(0, got);
      }
      // 200: the whole blob. Keep the window, hash everything, verify.
      got = 0;
      const hash = new Sha256();
      let pos = 0;
      for await (const c of res.stream()) {
        if (pos + c.length > blob.size) throw contentError(ctx, action, res.url, `the blob is longer than its descriptor's size ${blob.size}`);
        hash.update(c);
        const a = Math.max(offset, pos);
        const b = Math.min(end, pos + c.length);
        if (a < b) out.set(c.subarray(a - pos, b - pos), a - offset);
        pos += c.length;
      }
      if (pos < blob.size) throw contentError(ctx, action, res.url, `the response ended after ${pos} of ${blob.size} bytes`, true);
      const digest = hash.digest();
      if (digest !== blob.digest) throw contentError(ctx, action, res.url, `the content has digest ${JSON.stringify(digest)}`);
      return out;
    } catch (e) {
      await res.discard();
      if (!(e instanceof RegistryError) || !e.retryable || attempt >= policy.maxRetries) throw e;
      ctx.debug?.(`retrying range of ${blob.digest} at byte ${offset + got} after: ${e.message}`);
      await sleep(backoffMs(policy, attempt));
    }
  }
}
