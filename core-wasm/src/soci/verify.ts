/**
 * `verifySociImage`: checks a SOCI-enabled image end to end (formats §12.1)
 * and returns every problem found as a precise sentence; an empty list means
 * the image is sound. Nothing here throws for bad content — only for a
 * source that cannot be opened at all.
 *
 * SOCI index entries are those with `artifactType` v2, or without an
 * `artifactType` but named by an image manifest's `com.amazon.soci.index-digest`
 * (formats §8.6: the manifest annotation is the link; `skopeo copy` drops
 * `artifactType` from index entries, and runtimes still find the index).
 *
 * Checked: the root is an image index; every SOCI v2 entry's document is
 * digest/size-correct, Go-canonical (§7.3), has the `{}` v2 config (present
 * in the image), no subject, no `artifactType`; its
 * `image-manifest-digest` names an image manifest entry of the index with the
 * same platform whose manifest document links back through
 * `com.amazon.soci.index-digest`, and it sits after all image manifests.
 * Each zTOC is present, parses, indexes a layer of that manifest (media type
 * and span size annotations agree), has `compressed_archive_size` equal to
 * the layer size, and its span digests match the layer bytes (each layer is
 * streamed once). Each prefetch artifact (§9.6) is present with its digest
 * and size, parses (version "1.0", ranges of span ids), names a layer that
 * has a zTOC in the same index, asks for no span beyond that zTOC's last,
 * and is listed after the zTOCs in layer order (§9.4). Each annotated image
 * manifest is OCI-typed, its descriptor carries its own annotations, and its
 * index is listed.
 *
 * Not here: mounting or extracting files (snapshotter).
 */
import { equalBytes, Sha256 } from "../bytes/mod.ts";
import {
  ANNOTATION_IMAGE_LAYER_DIGEST,
  ANNOTATION_IMAGE_LAYER_MEDIA_TYPE,
  ANNOTATION_IMAGE_MANIFEST_DIGEST,
  ANNOTATION_INDEX_DIGEST,
  ANNOTATION_SPAN_SIZE,
  encodeManifest,
  formatPlatform,
  goJsonStringMap,
  isImageManifestMediaType,
  MAX_MANIFEST_SIZE,
  matchPlatform,
  MEDIA_TYPE_OCI_CONFIG,
  MEDIA_TYPE_OCI_MANIFEST,
  MEDIA_TYPE_SOCI_INDEX_V2,
  parseIndex,
  parseManifest,
  type Descriptor,
  type ImageSource,
  type Manifest,
} from "../oci/mod.ts";
import { decodeZtoc, ztocSpans, type Ztoc } from "../ztoc/mod.ts";
import { parsePrefetchArtifact } from "./prefetch.ts";
import { EMPTY_CONFIG_BYTES, EMPTY_CONFIG_DIGEST, parseSociIndex, type ParsedSociIndex } from "./soci_index.ts";

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Hashes the span ranges of `z` over one pass of the layer; returns the indexes of spans whose digest differs. */
async function badSpans(z: Ztoc, layer: AsyncIterable<Uint8Array>): Promise<number[]> {
  const { table } = ztocSpans(z);
  const ranges = Array.from({ length: table.spanCount }, (_, i) => table.compressedRange(i));
  const hashers = ranges.map(() => new Sha256());
  let pos = 0;
  let first = 0;
  for await (const c of layer) {
    const end = pos + c.length;
    while (first < ranges.length && ranges[first][1] <= pos) first++;
    for (let i = first; i < ranges.length && ranges[i][0] < end; i++) {
      const [s, e] = ranges[i];
      const a = Math.max(s, pos);
      const b = Math.min(e, end);
      if (a < b) hashers[i].update(c.subarray(a - pos, b - pos));
    }
    pos = end;
  }
  const bad: number[] = [];
  hashers.forEach((h, i) => {
    if (h.digest() !== z.spanDigests[i]) bad.push(i);
  });
  return bad;
}

/** Every problem with the SOCI-enabled image of `source` (see the module header). */
export async function verifySociImage(source: ImageSource): Promise<string[]> {
  return (await verifySociImageReport(source)).problems;
}

/** The problems, and how many SOCI index entries the image index has. */
export async function verifySociImageReport(source: ImageSource): Promise<{ problems: string[]; sociIndexes: number }> {
  const problems: string[] = [];
  const root = await source.resolveRoot();
  if (root.kind !== "index") return { problems: [`the image root ${root.descriptor.digest} is a manifest, not an image index: it is not SOCI-enabled (convert it first)`], sociIndexes: 0 };
  let entries: Descriptor[];
  try {
    entries = parseIndex(root.bytes, `image index ${root.descriptor.digest}`).manifests;
  } catch (e) {
    return { problems: [message(e)], sociIndexes: 0 };
  }
  const manifests = new Map<string, Manifest>();
  const loadManifest = async (d: Descriptor): Promise<Manifest | null> => {
    if (manifests.has(d.digest)) return manifests.get(d.digest)!;
    try {
      const m = parseManifest(await source.readBlob(d, MAX_MANIFEST_SIZE), `manifest ${d.digest}`);
      manifests.set(d.digest, m);
      return m;
    } catch (e) {
      problems.push(`manifest ${d.digest}: ${message(e)}`);
      return null;
    }
  };
  const linked = new Set<string>();
  for (const d of entries) {
    if (d.artifactType !== undefined || !isImageManifestMediaType(d.mediaType) || !(await source.hasBlob(d.digest))) continue;
    const link = (await loadManifest(d))?.annotations?.[ANNOTATION_INDEX_DIGEST];
    if (link !== undefined) linked.add(link);
  }
  const isSoci = (d: Descriptor) => d.artifactType === MEDIA_TYPE_SOCI_INDEX_V2 || (d.artifactType === undefined && linked.has(d.digest));
  const lastImage = entries.reduce((n, d, i) => (!isSoci(d) && isImageManifestMediaType(d.mediaType) ? i : n), -1);
  const listedSoci = new Set(entries.filter(isSoci).map((d) => d.digest));
  let sociCount = 0;

  for (let i = 0; i < entries.length; i++) {
    const d = entries[i];
    if (isSoci(d)) continue;
    if (!isImageManifestMediaType(d.mediaType) || !(await source.hasBlob(d.digest))) continue;
    const m = await loadManifest(d);
    const link = m?.annotations?.[ANNOTATION_INDEX_DIGEST];
    if (!m || link === undefined) continue;
    if (d.mediaType !== MEDIA_TYPE_OCI_MANIFEST || m.mediaType !== MEDIA_TYPE_OCI_MANIFEST) problems.push(`manifest ${d.digest}: media type is not ${MEDIA_TYPE_OCI_MANIFEST}`);
    if (m.config.mediaType !== MEDIA_TYPE_OCI_CONFIG) problems.push(`manifest ${d.digest}: config media type ${JSON.stringify(m.config.mediaType)} is not ${MEDIA_TYPE_OCI_CONFIG}`);
    if (goJsonStringMap(d.annotations ?? {}) !== goJsonStringMap(m.annotations ?? {})) problems.push(`index entry ${i} (${d.digest}): its annotations differ from the manifest's own`);
    if (!listedSoci.has(link)) problems.push(`manifest ${d.digest}: its SOCI index ${link} is not listed in the image index`);
  }

  for (let i = 0; i < entries.length; i++) {
    const d = entries[i];
    if (!isSoci(d)) continue;
    sociCount++;
    const where = `SOCI index ${d.digest}`;
    if (i < lastImage) problems.push(`${where}: listed at position ${i}, before image manifest entry ${lastImage}`);
    let bytes: Uint8Array;
    try {
      bytes = await source.readBlob(d, MAX_MANIFEST_SIZE);
    } catch (e) {
      problems.push(`${where}: ${message(e)}`);
      continue;
    }
    let parsed;
    try {
      parsed = parseSociIndex(bytes, where);
    } catch (e) {
      problems.push(message(e));
      continue;
    }
    if (parsed.version !== "v2") problems.push(`${where}: config media type is not ${MEDIA_TYPE_SOCI_INDEX_V2}`);
    if (!equalBytes(encodeManifest(parsed.manifest), bytes)) problems.push(`${where}: its bytes are not Go-canonical JSON (upstream snapshotters would reject it)`);
    if (/"artifactType"/.test(new TextDecoder().decode(bytes))) problems.push(`${where}: the document has an artifactType key`);
    if (parsed.manifest.subject) problems.push(`${where}: a v2 index has a subject`);
    if (parsed.manifest.config.digest !== EMPTY_CONFIG_DIGEST || parsed.manifest.config.size !== 2) problems.push(`${where}: config is not the {} blob`);
    else {
      try {
        if (!equalBytes(await source.readBlob(parsed.manifest.config, 2), EMPTY_CONFIG_BYTES)) problems.push(`${where}: config blob is not {}`);
      } catch (e) {
        problems.push(`${where}: config: ${message(e)}`);
      }
    }
    const target = d.annotations?.[ANNOTATION_IMAGE_MANIFEST_DIGEST];
    const imageEntry = entries.find((x) => x.digest === target && !isSoci(x));
    if (target === undefined) {
      problems.push(`${where}: its descriptor has no ${ANNOTATION_IMAGE_MANIFEST_DIGEST} annotation`);
      continue;
    }
    if (imageEntry === undefined) {
      problems.push(`${where}: its image manifest ${target} is not in the image index`);
      continue;
    }
    if (!d.platform || !imageEntry.platform || !matchPlatform(d.platform, imageEntry.platform)) {
      problems.push(`${where}: platform ${d.platform ? formatPlatform(d.platform) : "(none)"} differs from its manifest's ${imageEntry.platform ? formatPlatform(imageEntry.platform) : "(none)"}`);
    }
    const m = await loadManifest(imageEntry);
    if (!m) continue;
    if (m.annotations?.[ANNOTATION_INDEX_DIGEST] !== d.digest) problems.push(`${where}: manifest ${target} does not name it in ${ANNOTATION_INDEX_DIGEST}`);
    const spanCounts = new Map<string, number>();
    for (const zd of parsed.ztocs) {
      const checked = await checkZtoc(source, zd, m, where);
      problems.push(...checked.problems);
      if (checked.layerDigest !== undefined && checked.spanCount !== undefined) spanCounts.set(checked.layerDigest, checked.spanCount);
    }
    problems.push(...(await checkPrefetch(source, parsed, m, spanCounts, where)));
  }
  if (sociCount === 0) problems.push("the image index lists no SOCI index v2");
  return { problems, sociIndexes: sociCount };
}

/** The problems of one zTOC; with the layer it indexes and its span count when it decodes. */
async function checkZtoc(source: ImageSource, zd: Descriptor, m: Manifest, where: string): Promise<{ problems: string[]; layerDigest?: string; spanCount?: number }> {
  const out: string[] = [];
  const w = `${where}: zTOC ${zd.digest}`;
  const layerDigest = zd.annotations?.[ANNOTATION_IMAGE_LAYER_DIGEST];
  const layer = m.layers.find((l) => l.digest === layerDigest);
  if (layer === undefined) return { problems: [`${w}: indexes layer ${layerDigest ?? "(no annotation)"}, which is not a layer of its manifest`] };
  if (zd.annotations?.[ANNOTATION_IMAGE_LAYER_MEDIA_TYPE] !== layer.mediaType) out.push(`${w}: layer media type annotation differs from the layer's ${JSON.stringify(layer.mediaType)}`);
  let z: Ztoc;
  try {
    z = decodeZtoc(await source.readBlob(zd, 1 << 30));
  } catch (e) {
    return { problems: [...out, `${w}: ${message(e)}`] };
  }
  if (z.compressedArchiveSize !== layer.size) out.push(`${w}: compressed_archive_size ${z.compressedArchiveSize} differs from the layer size ${layer.size}`);
  let spanCount: number | undefined;
  try {
    const spans = ztocSpans(z);
    spanCount = spans.table.spanCount;
    const spanSize = String(spans.spanSize);
    if (zd.annotations?.[ANNOTATION_SPAN_SIZE] !== spanSize) out.push(`${w}: span-size annotation ${JSON.stringify(zd.annotations?.[ANNOTATION_SPAN_SIZE])} differs from the zinfo's ${spanSize}`);
    const bad = await badSpans(z, source.openBlob(layer));
    if (bad.length > 0) out.push(`${w}: span digests ${bad.slice(0, 10).join(", ")}${bad.length > 10 ? ", …" : ""} do not match layer ${layer.digest}`);
  } catch (e) {
    out.push(`${w}: ${message(e)}`);
  }
  return { problems: out, layerDigest: layer.digest, ...(spanCount !== undefined ? { spanCount } : {}) };
}

/** Prefetch artifacts are small JSON documents; anything larger is not one. */
const MAX_PREFETCH_SIZE = 1 << 24;

/**
 * The problems of the index's prefetch artifacts (formats §9.6, §9.4);
 * `spanCounts` = span count per layer digest of the zTOCs that decoded.
 */
async function checkPrefetch(source: ImageSource, parsed: ParsedSociIndex, m: Manifest, spanCounts: ReadonlyMap<string, number>, where: string): Promise<string[]> {
  const out: string[] = [];
  const all = parsed.manifest.layers;
  const lastZtoc = all.reduce((n, d, i) => (parsed.ztocs.includes(d) ? i : n), -1);
  let previous = -1;
  for (const pd of parsed.prefetch) {
    const w = `${where}: prefetch artifact ${pd.digest}`;
    const at = all.indexOf(pd);
    if (at < lastZtoc) out.push(`${w}: listed at position ${at}, before zTOC descriptor ${lastZtoc} (prefetch descriptors follow the zTOCs)`);
    const layerDigest = pd.annotations?.[ANNOTATION_IMAGE_LAYER_DIGEST];
    const layerAt = m.layers.findIndex((l) => l.digest === layerDigest);
    if (layerDigest === undefined) out.push(`${w}: its descriptor has no ${ANNOTATION_IMAGE_LAYER_DIGEST} annotation`);
    else if (layerAt < 0) out.push(`${w}: names layer ${layerDigest}, which is not a layer of its manifest`);
    else if (!parsed.ztocs.some((z) => z.annotations?.[ANNOTATION_IMAGE_LAYER_DIGEST] === layerDigest)) out.push(`${w}: names layer ${layerDigest}, which has no zTOC in this index`);
    else {
      if (layerAt < previous) out.push(`${w}: listed out of layer order (its layer ${layerDigest} is below the previous artifact's)`);
      previous = layerAt;
    }
    let spans;
    try {
      spans = parsePrefetchArtifact(await source.readBlob(pd, MAX_PREFETCH_SIZE), pd.digest);
    } catch (e) {
      out.push(`${w}: ${message(e)}`);
      continue;
    }
    const count = layerDigest === undefined ? undefined : spanCounts.get(layerDigest);
    if (count === undefined) continue; // no usable zTOC: reported above or by the zTOC check
    const beyond = spans.filter((s) => s.endSpan > count - 1);
    if (beyond.length > 0) {
      const list = beyond.slice(0, 5).map((s) => `[${s.startSpan}, ${s.endSpan}]`).join(", ");
      out.push(`${w}: span range${beyond.length === 1 ? "" : "s"} ${list}${beyond.length > 5 ? ", …" : ""} go${beyond.length === 1 ? "es" : ""} beyond span ${count - 1}, the last of layer ${layerDigest}'s zTOC`);
    }
  }
  return out;
}

