/**
 * The core calls behind the store commands (`index …`, `ztoc …`) and
 * `verify`: open the local store, apply the filters users type (image paths
 * and platforms normalised as the records spell them), and read artifacts.
 * Private to commands/.
 */
import { writeFile, rename, rm } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { utf8 } from "../../core-wasm/src/bytes/mod.ts";
import { FailedPreconditionError, InvalidArgumentError, NotFoundError, SociError } from "../../core-wasm/src/errors.ts";
import {
  formatPlatform,
  normalizePlatform,
  parsePlatform,
  type ImageSource,
} from "../../core-wasm/src/oci/mod.ts";
import { verifySociImageReport } from "../../core-wasm/src/soci/mod.ts";
import { LocalStore, type IndexRecord, type ZtocRecord } from "../../core-wasm/src/store/mod.ts";
import { decodeZtoc, findTocFile, readTocFile, ztocInfo as buildZtocInfo, type Ztoc, type ZtocInfo } from "../../core-wasm/src/ztoc/mod.ts";
import type { Context } from "../command.ts";
import { imageRefOf, locationOf } from "./_location.ts";
import { openSource, registryReferenceOf } from "./_registry.ts";
import { remoteIndexes, type IndexRow } from "./_remote_indexes.ts";

export type { IndexRecord, ZtocRecord };

function platformKey(text: string): string {
  return formatPlatform(normalizePlatform(parsePlatform(text)));
}

/**
 * Index records of the local store; for a `ref` that is a registry reference,
 * also the indexes the registry image carries (v2 in its index, v1 as
 * referrers) that the store does not already list.
 */
export async function listIndexes(ctx: Context, q: { ref?: string; platforms: string[] }): Promise<IndexRow[]> {
  const store = await LocalStore.open(ctx.storeDir);
  const platforms = q.platforms.map(platformKey);
  const local: IndexRow[] = await store.listIndexes({
    ...(q.ref !== undefined ? { imageRef: imageRefOf(ctx, q.ref) } : {}),
    platforms,
  });
  const remoteRef = q.ref === undefined ? undefined : registryReferenceOf(locationOf(ctx, q.ref));
  if (remoteRef === undefined) return local;
  const seen = new Set(local.map((r) => r.digest));
  const remote = (await remoteIndexes(ctx, remoteRef)).filter((r) => !seen.has(r.digest) && (platforms.length === 0 || platforms.includes(r.platform)));
  return [...local, ...remote];
}

/** The stored SOCI index document (parsed JSON, key order as stored). */
export async function readIndexDocument(ctx: Context, digest: string): Promise<unknown> {
  const store = await LocalStore.open(ctx.storeDir);
  const [index] = await store.listIndexes({}).then((xs) => xs.filter((x) => x.digest === digest));
  if (index === undefined) {
    if ((await store.listZtocs({ ztocDigest: digest })).length > 0) {
      throw new InvalidArgumentError(`Cannot show index ${digest}: it is a zTOC`, { hint: `Run "soci ztoc info ${digest}"` });
    }
    throw new NotFoundError(`Cannot find index ${digest}: the local store has no such index`, { hint: 'Run "soci index list" to see the stored indexes' });
  }
  const bytes = await store.readBlob(digest);
  return JSON.parse(new TextDecoder().decode(bytes));
}

export async function removeIndexes(ctx: Context, q: { ref: string } | { digests: string[] }): Promise<string[]> {
  const store = await LocalStore.open(ctx.storeDir);
  if ("digests" in q) return store.removeIndexes(q.digests);
  const imageRef = imageRefOf(ctx, q.ref);
  const digests = (await store.listIndexes({ imageRef })).map((x) => x.digest);
  if (digests.length === 0) {
    throw new NotFoundError(`Cannot remove the indexes of ${JSON.stringify(q.ref)}: the local store has none for ${imageRef}`, {
      hint: 'Run "soci index list" to see the stored indexes and their image refs',
    });
  }
  return store.removeIndexes(digests);
}

export async function listZtocs(ctx: Context, q: { ztocDigest?: string; imageRef?: string }): Promise<ZtocRecord[]> {
  const store = await LocalStore.open(ctx.storeDir);
  // The same zTOC may be recorded once per layer it indexes; list each (digest, layer) once.
  const rows = await store.listZtocs({
    ...(q.ztocDigest !== undefined ? { ztocDigest: q.ztocDigest } : {}),
    ...(q.imageRef !== undefined ? { imageRef: imageRefOf(ctx, q.imageRef) } : {}),
  });
  const seen = new Set<string>();
  return rows.filter((r) => {
    const k = `${r.digest} ${r.layerDigest}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** The zTOC blob `digest` from the store, decoded; refuses index digests. */
async function loadZtoc(store: LocalStore, digest: string): Promise<{ ztoc: Ztoc; size: number; record?: ZtocRecord }> {
  const [record] = await store.listZtocs({ ztocDigest: digest });
  if (record === undefined) {
    if ((await store.listIndexes({})).some((x) => x.digest === digest)) {
      throw new InvalidArgumentError(`Cannot read zTOC ${digest}: it is a SOCI index`, { hint: `Run "soci index info ${digest}"` });
    }
    if (!(await store.hasBlob(digest))) {
      throw new NotFoundError(`Cannot find zTOC ${digest}: the local store has no such zTOC`, { hint: 'Run "soci ztoc list" to see the stored zTOCs' });
    }
  }
  const bytes = await store.readBlob(digest);
  return { ztoc: decodeZtoc(bytes, digest), size: bytes.length, ...(record ? { record } : {}) };
}

export async function ztocInfo(ctx: Context, digest: string): Promise<ZtocInfo> {
  const store = await LocalStore.open(ctx.storeDir);
  const { ztoc, size } = await loadZtoc(store, digest);
  return buildZtocInfo(ztoc, size);
}

/** Reads [start, end) of a layer blob by streaming it and stopping after `end` (spans are digest-checked by the reader). */
function rangeReader(source: ImageSource, record: ZtocRecord) {
  const desc = { mediaType: record.layerMediaType, digest: record.layerDigest, size: record.layerSize };
  return async (start: number, end: number): Promise<Uint8Array> => {
    const out = new Uint8Array(end - start);
    let pos = 0;
    for await (const c of source.openBlob(desc)) {
      const cEnd = pos + c.length;
      const a = Math.max(start, pos);
      const b = Math.min(end, cEnd);
      if (a < b) out.set(c.subarray(a - pos, b - pos), a - start);
      pos = cEnd;
      if (pos >= end) break;
    }
    if (pos < end) throw new NotFoundError(`Cannot read layer ${record.layerDigest}: it ends at ${pos}, before byte ${end}`);
    return out;
  };
}

export async function ztocGetFile(ctx: Context, q: { digest: string; file: string; output?: string }): Promise<void> {
  const store = await LocalStore.open(ctx.storeDir);
  const { ztoc, record } = await loadZtoc(store, q.digest);
  const name = utf8(q.file);
  const entry = findTocFile(ztoc, name); // NotFoundError with a hint before any layer is opened
  if (record?.imageRef === undefined) {
    throw new FailedPreconditionError(`Cannot read ${JSON.stringify(q.file)} from zTOC ${q.digest}: the store does not know which image holds its layer`, {
      hint: "Run soci convert or soci create again for the image, so the store records where the layer is",
    });
  }
  let source: ImageSource;
  try {
    source = await openSource(ctx, record.imageRef);
  } catch (e) {
    throw new SociError(`Cannot read ${JSON.stringify(q.file)}: the image ${record.imageRef} holding layer ${record.layerDigest} cannot be opened`, { cause: e });
  }
  let data: Uint8Array;
  try {
    data = await readTocFile(ztoc, rangeReader(source, record), name);
  } finally {
    await source.close();
  }
  const { out } = ctx;
  if (q.output !== undefined) {
    const target = resolve(ctx.cwd, q.output);
    const tmp = join(dirname(target), `.tmp-${basename(target)}-${process.pid}`);
    try {
      await writeFile(tmp, data, { mode: 0o644 });
      await rename(tmp, target);
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
    if (out.json) out.printJson({ file: q.file, type: entry.type, size: data.length, output: target });
    return;
  }
  if (out.json) {
    out.printJson({ file: q.file, type: entry.type, size: data.length, contentBase64: Buffer.from(data).toString("base64") });
    return;
  }
  // Upstream prints the content followed by a newline.
  out.writeBytes(data);
  out.line();
}

export async function verifyImage(ctx: Context, image: string): Promise<void> {
  const { out } = ctx;
  const loc = locationOf(ctx, image);
  const source = await openSource(ctx, loc);
  let problems: string[];
  let sociIndexes = 0;
  try {
    ({ problems, sociIndexes } = await verifySociImageReport(source));
  } finally {
    await source.close();
  }
  if (out.json) out.printJson({ image: loc, ok: problems.length === 0, sociIndexes, problems });
  else {
    for (const p of problems) out.line(`problem: ${p}`);
    if (problems.length === 0) out.line(`ok: ${image}: ${sociIndexes} SOCI index${sociIndexes === 1 ? "" : "es"} and their zTOCs match the image`);
  }
  if (problems.length > 0) {
    throw new SociError(`Cannot verify ${JSON.stringify(image)}: ${problems.length} problem${problems.length === 1 ? "" : "s"} found`, {
      hint: "Convert the source image again with soci convert",
    });
  }
}
