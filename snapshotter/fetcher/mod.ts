/**
 * fetcher/: the background fetcher (snapshotter §10) — fills layers' span
 * caches in span order while foreground reads are quiet, rate-limited.
 *
 * Not here: how spans are fetched, verified or cached (spans/).
 */
export { BackgroundFetcher, type BackgroundFetcherOptions } from "./background_fetcher.ts";
