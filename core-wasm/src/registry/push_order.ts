/**
 * The order a registry accepts content in (real-components §1.2): a manifest
 * PUT fails unless every blob it references is already in the repository, an
 * index PUT unless its child manifests are. So: blobs, then manifests, then
 * indexes — and, for nested indexes, children before parents.
 *
 * `pushOrder` is a topological sort over the references inside the set
 * (references to content outside the set are ignored: it is assumed present),
 * ties broken by kind (blob < manifest < index) and then input order, so the
 * result is deterministic. `subject` is not a dependency: registries accept a
 * referrer before its subject.
 */
import { InvalidArgumentError } from "../errors.ts";
import { isIndexMediaType, isManifestMediaType, type Descriptor } from "../oci/mod.ts";

export interface PushItem {
  descriptor: Descriptor;
  /** Digests this item references (config, layers, child manifests). */
  references?: readonly string[];
}

function rank(mediaType: string): number {
  if (isIndexMediaType(mediaType)) return 2;
  if (isManifestMediaType(mediaType)) return 1;
  return 0;
}

/** Items in an order the registry accepts. Throws InvalidArgumentError on a reference cycle. */
export function pushOrder<T extends PushItem>(items: readonly T[]): T[] {
  const byDigest = new Map<string, number>();
  items.forEach((it, i) => {
    if (!byDigest.has(it.descriptor.digest)) byDigest.set(it.descriptor.digest, i);
  });
  const pendingDeps = items.map(() => 0);
  const dependents: number[][] = items.map(() => []);
  items.forEach((it, i) => {
    if (byDigest.get(it.descriptor.digest) !== i) return; // a duplicate rides with its first copy
    for (const ref of new Set(it.references ?? [])) {
      const j = byDigest.get(ref);
      if (j === undefined || j === i) continue;
      pendingDeps[i]++;
      dependents[j].push(i);
    }
  });
  const key = (i: number) => rank(items[i].descriptor.mediaType) * items.length + i;
  const ready = items.map((_, i) => i).filter((i) => byDigest.get(items[i].descriptor.digest) === i && pendingDeps[i] === 0);
  const out: T[] = [];
  while (ready.length > 0) {
    ready.sort((a, b) => key(a) - key(b));
    const i = ready.shift()!;
    out.push(items[i]);
    for (const d of dependents[i]) if (--pendingDeps[d] === 0) ready.push(d);
  }
  if (out.length !== byDigest.size) throw new InvalidArgumentError("Cannot order content for push: the references form a cycle");
  return out;
}

/** The digests a manifest or index references (config, layers, manifests); not `subject`. */
export function manifestReferences(bytes: Uint8Array): string[] {
  let v: { config?: { digest?: unknown }; layers?: unknown; manifests?: unknown };
  try {
    v = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new InvalidArgumentError("Cannot list the references of a manifest: it is not JSON");
  }
  const out: string[] = [];
  const add = (d: unknown) => {
    const digest = (d as { digest?: unknown } | null)?.digest;
    if (typeof digest === "string") out.push(digest);
  };
  add(v.config);
  for (const list of [v.layers, v.manifests]) if (Array.isArray(list)) list.forEach(add);
  return out;
}
