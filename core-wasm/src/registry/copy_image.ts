/**
 * `copyImage`: an image from any `ImageSource` to any `ImageSink` with every
 * platform and every SOCI index (v2 indexes are index entries, so they travel
 * with the image), and every digest unchanged — the root's bytes, each
 * manifest's and each blob's are copied as they are, never re-encoded
 * (unlike skopeo 1.9, which drops `artifactType` from index entries and so
 * changes the index digest; real-components §2).
 *
 * Order: the tree is read first (manifests are small), then the blobs the
 * sink lacks are handed to it, already verified by the source's stream (so
 * hashed once per copy): `concurrency` at a time to a layout (one file per
 * blob) or a registry sink (background uploads), one at a time to any other
 * sink (an archive is one stream); then the manifests, children first, then
 * the root; `commit` publishes — or `abort` on any failure.
 *
 * `copyReferrers` carries SOCI index v1 artifacts (attached by `subject`,
 * formats §7.5) from one repository to another.
 *
 * Not here: conversion (soci/), HTTP (client.ts).
 */
import { NotFoundError } from "../errors.ts";
import {
  isIndexMediaType,
  isManifestMediaType,
  MAX_MANIFEST_SIZE,
  OciLayoutWriter,
  parseIndex,
  parseManifest,
  sniffManifestKind,
  type Descriptor,
  type ImageSink,
  type ImageSource,
} from "../oci/mod.ts";
import type { Repository } from "./client.ts";
import { RegistryImageSink } from "./image_source.ts";
import { mapConcurrent } from "./retry.ts";

export interface CopyOptions {
  /** Tag for the destination root (a registry sink defaults to its reference's tag). */
  tag?: string;
  /** Blobs handed to the sink at once (default 3). */
  concurrency?: number;
}

export interface CopyResult {
  /** The root as copied (same digest as the source's). */
  descriptor: Descriptor;
  /** Image manifests below the root (the root itself when it is a manifest). */
  manifests: Descriptor[];
  blobs: number;
}

/** Copies the image of `source` into `sink` and commits. Errors: NotFoundError for a missing child, and those of the source and sink. */
export async function copyImage(source: ImageSource, sink: ImageSink, opts: CopyOptions = {}): Promise<CopyResult> {
  try {
    const root = await source.resolveRoot();
    const manifests: { desc: Descriptor; bytes: Uint8Array }[] = [];
    const blobs = new Map<string, Descriptor>();
    const images: Descriptor[] = [];
    const visit = async (desc: Descriptor, bytes: Uint8Array, depth: number): Promise<void> => {
      const kind = isIndexMediaType(desc.mediaType) ? "index" : isManifestMediaType(desc.mediaType) ? "manifest" : sniffManifestKind(bytes, `manifest ${desc.digest}`);
      if (kind === "index") {
        if (depth > 4) throw new NotFoundError(`Cannot copy ${source.name}: indexes are nested more than 4 deep`);
        for (const child of parseIndex(bytes, `image index ${desc.digest}`).manifests) {
          if (manifests.some((m) => m.desc.digest === child.digest)) continue;
          if (!(await source.hasBlob(child.digest))) {
            throw new NotFoundError(`Cannot copy ${source.name}: manifest ${child.digest} listed by index ${desc.digest} is not there`);
          }
          const childBytes = await source.readBlob(child, MAX_MANIFEST_SIZE);
          await visit(child, childBytes, depth + 1);
          manifests.push({ desc: child, bytes: childBytes });
        }
        return;
      }
      images.push(desc);
      const m = parseManifest(bytes, `manifest ${desc.digest}`);
      for (const b of [m.config, ...m.layers]) {
        if (blobs.has(b.digest)) continue;
        if (b.urls && b.urls.length > 0 && !(await source.hasBlob(b.digest))) continue; // foreign layer: stays at its URLs
        blobs.set(b.digest, b);
      }
    };
    await visit(root.descriptor, root.bytes, 0);
    // Layouts (one file per blob) and registries (background uploads) take blobs in parallel;
    // any other sink (an archive is one stream) gets them one at a time.
    const parallel = sink instanceof OciLayoutWriter || sink instanceof RegistryImageSink;
    await mapConcurrent([...blobs.values()], parallel ? Math.max(1, opts.concurrency ?? 3) : 1, async (b) => {
      if (await sink.hasBlob(b.digest)) return;
      // The source verifies its stream before the last chunk is handed over (ImageSource
      // contract), so the sink need not hash the bytes a second time.
      await sink.putBlob(b, source.openBlob(b), { verified: true });
    });
    for (const m of manifests) await sink.putBlob(m.desc, m.bytes);
    await sink.putBlob(root.descriptor, root.bytes);
    await sink.setRoot(root.descriptor, opts.tag);
    await sink.commit();
    return { descriptor: root.descriptor, manifests: images, blobs: blobs.size };
  } catch (e) {
    await sink.abort();
    throw e;
  }
}

export interface CopiedReferrer {
  subject: string;
  descriptor: Descriptor;
  /** Where the destination recorded it: the referrers API, or the fallback tag. */
  fallbackTag?: string;
}

/**
 * Copies the referrers of `subjects` with `artifactType` (e.g. SOCI index v1)
 * from `from` to `to`: their config and layer blobs (mounted when both are on
 * one registry), then the referrer manifest via `pushReferrer`. Returns what
 * was copied. Errors: RegistryError, FormatError for a malformed referrer.
 */
export async function copyReferrers(from: Repository, to: Repository, subjects: readonly string[], artifactType: string): Promise<CopiedReferrer[]> {
  const out: CopiedReferrer[] = [];
  const mountFrom = from.registry === to.registry ? [from.repository] : [];
  for (const subject of subjects) {
    const { descriptors } = await from.listReferrers(subject, { artifactType });
    for (const d of descriptors) {
      const { bytes, descriptor } = await from.getManifest(d.digest);
      const m = parseManifest(bytes, `referrer ${d.digest}`);
      for (const b of [m.config, ...m.layers]) await to.pushBlob(b, () => from.fetchBlob(b), { mountFrom });
      const r = await to.pushReferrer(bytes, descriptor.mediaType);
      out.push({ subject, descriptor: r.descriptor, ...(r.fallbackTag !== undefined ? { fallbackTag: r.fallbackTag } : {}) });
    }
  }
  return out;
}
