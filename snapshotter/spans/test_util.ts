/**
 * Test helpers for spans/ and fetcher/ tests (not shipped code paths): a
 * synthetic layer (tar of compressible and random files, gzipped by node:zlib,
 * indexed with small spans by the real zTOC builder) and an in-memory
 * RangeFetcher with call counting and fault injection.
 */
import { randomBytes } from "node:crypto";
import { gzipSync } from "node:zlib";
import { sha256Digest } from "../../core-wasm/src/bytes/mod.ts";
import { writeTar } from "../../core-wasm/src/tar/mod.ts";
import { buildZtoc, type Ztoc } from "../../core-wasm/src/ztoc/mod.ts";
import type { RangeFetcher } from "./mod.ts";

export interface TestLayer {
  ztoc: Ztoc;
  blob: Uint8Array;
  /** The uncompressed layer (what reads must return). */
  plain: Uint8Array;
  digest: string;
}

/** Deterministic pseudo-random numbers (xorshift32) in [0, 1). */
export function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

function textish(n: number, next: () => number): Uint8Array {
  const words = ["span", "layer", "gzip", "checkpoint", "window", "soci", "fuse", "lazy", "fetch", "registry", "\n"];
  const out = new Uint8Array(n);
  let o = 0;
  while (o < n) {
    const w = words[Math.floor(next() * words.length)] + " ";
    for (let i = 0; i < w.length && o < n; i++) out[o++] = w.charCodeAt(i);
  }
  return out;
}

/** A tar of ~`totalBytes` (mixed compressible and random files), gzip or plain, with `spanSize` spans. */
export async function makeLayer(opts: { compression: "gzip" | "uncompressed"; spanSize?: number; totalBytes?: number; seed?: number }): Promise<TestLayer> {
  const next = rng(opts.seed ?? 7);
  const total = opts.totalBytes ?? 1_500_000;
  const entries: Parameters<typeof writeTar>[0] = [{ name: "d/", type: "dir" }];
  let made = 0;
  for (let i = 0; made < total; i++) {
    const size = Math.floor(next() * 200_000) + 1;
    const data = i % 3 === 2 ? new Uint8Array(randomBytes(size)) : textish(size, next);
    entries.push({ name: `d/f${i}`, type: "file", data });
    made += size;
  }
  const tar = writeTar(entries);
  // memLevel 4: small deflate blocks, so many checkpoints even for compressible data.
  const blob = opts.compression === "gzip" ? new Uint8Array(gzipSync(tar, { level: 6, memLevel: 4 })) : tar;
  async function* one() {
    yield blob;
  }
  const built = await buildZtoc(one(), { compression: opts.compression, spanSize: opts.spanSize ?? 65536, buildToolIdentifier: "test" });
  return { ztoc: built.ztoc, blob, plain: tar, digest: sha256Digest(blob) };
}

export interface FakeFetcher {
  fetch: RangeFetcher;
  calls: Array<[number, number]>;
  /** The next `times` calls return the bytes with one byte flipped. */
  tamper(times: number): void;
  /** The next `times` calls throw. */
  fail(times: number): void;
  /** Calls wait until release() (for concurrency tests). */
  hold(): void;
  release(): void;
}

export function fakeFetcher(blob: Uint8Array): FakeFetcher {
  const calls: Array<[number, number]> = [];
  let tampers = 0;
  let fails = 0;
  let gate: Promise<void> | null = null;
  let open: (() => void) | null = null;
  const fetch: RangeFetcher = async (start, end, signal) => {
    calls.push([start, end]);
    if (gate !== null) {
      const g = gate;
      await new Promise<void>((ok, bad) => {
        g.then(ok);
        signal?.addEventListener("abort", () => bad(signal.reason), { once: true });
      });
    }
    signal?.throwIfAborted();
    if (fails > 0) {
      fails--;
      throw new Error("injected connection reset");
    }
    const b = blob.slice(start, end);
    if (tampers > 0) {
      tampers--;
      b[b.length >> 1] ^= 0x5a;
    }
    return b;
  };
  return {
    fetch,
    calls,
    tamper: (n) => (tampers = n),
    fail: (n) => (fails = n),
    hold() {
      gate = new Promise<void>((ok) => (open = ok));
    },
    release() {
      open?.();
      gate = null;
    },
  };
}
