/**
 * registryRangeFetcher: a RangeFetcher over one layer blob in a registry
 * (snapshotter §11.3–§11.4). `Repository.fetchBlobRange` already sends one
 * `Range` request, retries 429/5xx/dropped connections with backoff, resumes
 * short bodies and checks Content-Range; this adapter only insists on exactly
 * the requested length (the client clamps at the blob's end) and lets an
 * AbortSignal stop the wait. The HTTP request itself cannot be cancelled
 * through the client, so an aborted fetch finishes in the background and its
 * bytes are dropped.
 *
 * Not here: digest checks of spans (span_manager.ts), auth/hosts (registry/).
 */
import { RegistryError } from "../../core-wasm/src/errors.ts";
import type { Repository } from "../../core-wasm/src/registry/mod.ts";
import type { RangeFetcher } from "./types.ts";

/** Fetches [start, end) of `layer` from `repo`. Rejects with RegistryError on failure or a short blob, or the signal's reason. */
export function registryRangeFetcher(repo: Repository, layer: { digest: string; size: number; mediaType?: string }): RangeFetcher {
  const blob = { digest: layer.digest, size: layer.size };
  return async (start, end, signal) => {
    signal?.throwIfAborted();
    if (!(Number.isSafeInteger(start) && Number.isSafeInteger(end) && 0 <= start && start < end)) {
      throw new RangeError(`bad compressed range [${start}, ${end})`);
    }
    const p = repo.fetchBlobRange(blob, start, end - start);
    const bytes = signal === undefined ? await p : await abortable(p, signal);
    if (bytes.length !== end - start) {
      throw new RegistryError(
        `Cannot fetch bytes ${start}-${end - 1} of blob ${JSON.stringify(layer.digest)}: the registry returned ${bytes.length} bytes (the blob has ${layer.size})`,
        { retryable: false },
      );
    }
    return bytes;
  };
}

function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((ok, fail) => {
    const onAbort = () => fail(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(ok, fail).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
