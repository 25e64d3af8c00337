import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { FormatError } from "../errors.ts";
import { sha256Digest } from "../bytes/mod.ts";
import { ZtocWorkerPool, runZtocWorkerIfWorker } from "./mod.ts";

// This compiled file is also the workers' program: in a worker it serves jobs instead of testing.
if (!runZtocWorkerIfWorker()) {
  const root = process.env.SOCI_REPO_ROOT ?? process.cwd();
  const fixtures = join(root, "test", "fixtures", "upstream");
  const layerA = readFileSync(join(fixtures, "inputs", "layer-a.tar.gz"));
  const expectedA = readFileSync(join(fixtures, "expected", "layer-a.tar.gz.span65536.ztoc"));

  async function* chunks(bytes: Uint8Array, size: number): AsyncIterable<Uint8Array> {
    for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
  }

  const opts = { compression: "gzip" as const, spanSize: 65536, buildToolIdentifier: "AWS SOCI CLI v0.2", source: "layer-a" };

  test("ZtocWorkerPool.build() reproduces the upstream zTOC from small chunks", async () => {
    const pool = new ZtocWorkerPool({ size: 2, workerUrl: import.meta.url });
    try {
      let progress = 0;
      const built = await pool.build(chunks(layerA, 1000), { ...opts, expectedDigest: sha256Digest(layerA), onProgress: (n) => (progress = n) });
      assert.equal(built.digest, sha256Digest(expectedA));
      assert.deepEqual(Buffer.from(built.bytes), expectedA);
      assert.equal(progress, layerA.length);
    } finally {
      await pool.close();
    }
  });

  test("ZtocWorkerPool.build() with a file reads the blob range on the worker and never opens the stream", async () => {
    const pool = new ZtocWorkerPool({ size: 1, workerUrl: import.meta.url });
    try {
      let progress = 0;
      const unused = (async function* (): AsyncGenerator<Uint8Array> {
        throw new Error("the stream must not be read when a file is given");
      })();
      const path = join(fixtures, "inputs", "layer-a.tar.gz");
      const built = await pool.build(unused, { ...opts, expectedDigest: sha256Digest(layerA), onProgress: (n) => (progress = n) }, { path, offset: 0, size: layerA.length });
      assert.deepEqual(Buffer.from(built.bytes), expectedA);
      assert.equal(built.blobDigest, sha256Digest(layerA));
      assert.equal(built.ztoc.toc.length > 0, true);
      assert.equal(progress, layerA.length);
    } finally {
      await pool.close();
    }
  });

  test("ZtocWorkerPool.build() runs more jobs than workers and keeps results apart", async () => {
    const pool = new ZtocWorkerPool({ size: 2, workerUrl: import.meta.url });
    try {
      const results = await Promise.all([1, 2, 3, 4].map((k) => pool.build(chunks(layerA, 4096 * k), opts)));
      for (const r of results) assert.equal(r.digest, sha256Digest(expectedA));
    } finally {
      await pool.close();
    }
  });

  test("ZtocWorkerPool.build() rebuilds a FormatError from the worker with its location", async () => {
    const pool = new ZtocWorkerPool({ size: 1, workerUrl: import.meta.url });
    try {
      const corrupt = Uint8Array.from(layerA); // a copy: Buffer.slice() would share memory
      corrupt[5000] ^= 0xff;
      await assert.rejects(pool.build(chunks(corrupt, 8192), opts), (e: unknown) => {
        assert.ok(e instanceof FormatError, `expected FormatError, got ${e}`);
        assert.equal(typeof e.location.compressedOffset, "number");
        return true;
      });
      // The worker is still usable after a failed job.
      const ok = await pool.build(chunks(layerA, 65536), opts);
      assert.equal(ok.digest, sha256Digest(expectedA));
    } finally {
      await pool.close();
    }
  });

  test("ZtocWorkerPool.build() rejects when reading the blob fails, and the pool goes on", async () => {
    const pool = new ZtocWorkerPool({ size: 1, workerUrl: import.meta.url });
    try {
      async function* failing(): AsyncIterable<Uint8Array> {
        yield layerA.subarray(0, 1000);
        throw new Error("disk on fire");
      }
      await assert.rejects(pool.build(failing(), opts), /disk on fire/);
      const ok = await pool.build(chunks(layerA, 65536), opts);
      assert.equal(ok.digest, sha256Digest(expectedA));
    } finally {
      await pool.close();
    }
  });

  test("ZtocWorkerPool runs workers from an embedded builder-only script (as a bundled program does)", async () => {
    const esbuild = await import("esbuild");
    const root = process.env.SOCI_REPO_ROOT ?? process.cwd();
    const out = await esbuild.build({
      entryPoints: [join(root, "core-wasm", "src", "workers", "_pool_worker_entry.ts")],
      bundle: true,
      platform: "node",
      format: "cjs",
      write: false,
      logLevel: "silent",
    });
    const layer = readFileSync(join(root, "test", "fixtures", "upstream", "inputs", "layer-a.tar.gz"));
    const expected = readFileSync(join(root, "test", "fixtures", "upstream", "expected", "layer-a.tar.gz.span65536.ztoc"));
    // workerUrl points nowhere usable: only the source can have built these.
    const pool = new ZtocWorkerPool({ size: 2, workerUrl: "file:///nonexistent/soci-worker.mjs", workerSource: out.outputFiles[0].text });
    try {
      const opts = { compression: "gzip" as const, spanSize: 65536, buildToolIdentifier: "AWS SOCI CLI v0.2", source: "layer-a", expectedDigest: sha256Digest(layer) };
      const results = await Promise.all([1, 2].map(async (k) => {
        async function* chunks(): AsyncIterable<Uint8Array> {
          for (let i = 0; i < layer.length; i += 5000 * k) yield layer.subarray(i, i + 5000 * k);
        }
        return pool.build(chunks(), opts);
      }));
      for (const r of results) assert.deepEqual(Buffer.from(r.bytes), expected);
      const corrupt = Buffer.from(layer);
      corrupt[200] ^= 0x55;
      await assert.rejects(pool.build((async function* () { yield corrupt; })(), opts), (e: unknown) => e instanceof FormatError);
    } finally {
      await pool.close();
    }
  });
}
