/**
 * `soci image rpull` (snapshotter §3.2, §4): pull an image into containerd
 * so that our snapshotter can serve its layers lazily — what upstream's
 * `rpull` did with containerd's Go client.
 *
 * Steps: hold a lease → pick the platform manifest and read the config from
 * the registry → write both into containerd's content store (streaming Write;
 * GC labels: manifest → config and layers) → diff IDs → chain IDs → per layer
 * through containerd's Snapshots service: `Stat(chainID)` (present → next),
 * else `Prepare("extract-<rand> <chainID>", parent, labels)` with the
 * `snapshot.ref` + `cri.*` + `remote/soci.*` labels: ALREADY_EXISTS means the
 * snapshotter provided the layer (lazily, or unpacked itself); mounts mean
 * we fetch the blob into content, `Diff.Apply` it onto the mounts (the
 * applied digest must be the diff ID) and `Commit(chainID)` → label the
 * config with `containerd.io/gc.ref.snapshot.<snapshotter>` = top chain ID →
 * create/update the image record → drop the lease.
 *
 * Not here: registry flags and printing (cli/commands/image_rpull.ts).
 */
import { createHash, randomBytes } from "node:crypto";
import { InvalidArgumentError, NotFoundError } from "../../core-wasm/src/errors.ts";
import {
  ANNOTATION_IMAGE_MANIFEST_DIGEST,
  formatPlatform,
  hostPlatform,
  isImageManifestMediaType,
  MAX_CONFIG_SIZE,
  MAX_MANIFEST_SIZE,
  matchPlatform,
  parseIndex,
  parseManifest,
  type Descriptor,
  type ImageSource,
  type Platform,
} from "../../core-wasm/src/oci/mod.ts";
import {
  LABEL_IMAGE_LAYERS,
  LABEL_IMAGE_LAYERS_SIZE,
  LABEL_IMAGE_REF,
  LABEL_LAYER_DIGEST,
  LABEL_MANIFEST_DIGEST,
  LABEL_REMOTE,
  LABEL_SOCI_INDEX_DIGEST,
  LABEL_SOCI_SIZE,
  LABEL_TARGET_REF,
  MAX_LABEL_SIZE,
} from "../snapshots/mod.ts";
import { ContainerdClient, type PbDescriptor } from "./client.ts";

export interface RpullOptions {
  source: ImageSource;
  /** Name of the image record in containerd, and the `cri.image-ref` label (registry/repository:tag). */
  imageName: string;
  address: string;
  namespace: string;
  snapshotter: string;
  platform?: Platform;
  /** Explicit SOCI index digest (label `remote/soci.index.digest`). */
  sociIndexDigest?: string;
  log?: (line: string) => void;
}

export interface RpullLayer {
  digest: string;
  chainId: string;
  size: number;
  /** lazy: FUSE-mounted by the snapshotter; snapshotter: unpacked by it; applied: fetched + applied by us; present: already there. */
  mode: "lazy" | "snapshotter" | "applied" | "present";
  /** Bytes this command fetched for the layer (0 unless applied). */
  bytesFetched: number;
}

export interface RpullResult {
  imageName: string;
  manifestDigest: string;
  configDigest: string;
  platform: string;
  layers: RpullLayer[];
  /** Manifest + config + applied layers, bytes from the registry by this command. */
  bytesFetched: number;
}

const sha256 = (s: string | Uint8Array) => "sha256:" + createHash("sha256").update(s).digest("hex");

/** OCI chain IDs: chain(0) = diffID(0); chain(i) = sha256(chain(i-1) + " " + diffID(i)). */
export function chainIds(diffIds: readonly string[]): string[] {
  const out: string[] = [];
  for (const d of diffIds) out.push(out.length === 0 ? d : sha256(`${out[out.length - 1]} ${d}`));
  return out;
}

/** A comma list of `items` cut so that key + value stay within containerd's 4096 bytes (snapshotter §3). */
export function fitLabel(key: string, items: readonly string[]): string {
  let v = "";
  for (const it of items) {
    const next = v === "" ? it : `${v},${it}`;
    if (Buffer.byteLength(key) + Buffer.byteLength(next) > MAX_LABEL_SIZE) break;
    v = next;
  }
  return v;
}

const pbDesc = (d: Descriptor): PbDescriptor => ({ media_type: d.mediaType, digest: d.digest, size: d.size });

async function pickManifest(source: ImageSource, want: Platform): Promise<{ descriptor: Descriptor; bytes: Uint8Array }> {
  const root = await source.resolveRoot();
  if (root.kind === "manifest") return { descriptor: root.descriptor, bytes: root.bytes };
  const entries = parseIndex(root.bytes, `image index ${root.descriptor.digest}`).manifests;
  const match = entries.find((d) => isImageManifestMediaType(d.mediaType) && d.platform && matchPlatform(want, d.platform) && d.annotations?.[ANNOTATION_IMAGE_MANIFEST_DIGEST] === undefined && d.artifactType === undefined);
  if (match === undefined) throw new NotFoundError(`Cannot pull ${source.name}: it has no manifest for platform ${formatPlatform(want)}`);
  return { descriptor: match, bytes: await source.readBlob(match, MAX_MANIFEST_SIZE) };
}

export async function rpull(o: RpullOptions): Promise<RpullResult> {
  const log = o.log ?? (() => {});
  const client = new ContainerdClient(o.address, o.namespace);
  try {
    await client.createLease(`soci-rpull-${randomBytes(6).toString("hex")}`, 24 * 3600 * 1000);
    const want = o.platform ?? hostPlatform();
    const { descriptor: md, bytes: manifestBytes } = await pickManifest(o.source, want);
    const manifest = parseManifest(manifestBytes, `manifest ${md.digest}`);
    const configBytes = await o.source.readBlob(manifest.config, MAX_CONFIG_SIZE);
    let bytesFetched = manifestBytes.length + configBytes.length;
    const config = JSON.parse(Buffer.from(configBytes).toString("utf8")) as { rootfs?: { diff_ids?: string[] } };
    const diffIds = config.rootfs?.diff_ids ?? [];
    if (diffIds.length !== manifest.layers.length) {
      throw new InvalidArgumentError(`Cannot pull ${o.source.name}: the config lists ${diffIds.length} diff IDs for ${manifest.layers.length} layers`);
    }
    const chains = chainIds(diffIds);

    // Content: config first, then the manifest that references it (GC labels as containerd's fetch handlers).
    await client.writeContent(`rpull-${manifest.config.digest}`, manifest.config.digest, manifest.config.size, configBytes);
    const manifestLabels: Record<string, string> = { "containerd.io/gc.ref.content.config": manifest.config.digest };
    manifest.layers.forEach((l, i) => (manifestLabels[`containerd.io/gc.ref.content.l.${i}`] = l.digest));
    await client.writeContent(`rpull-${md.digest}`, md.digest, manifestBytes.length, manifestBytes, manifestLabels);

    const layers: RpullLayer[] = [];
    let parent = "";
    for (let i = 0; i < manifest.layers.length; i++) {
      const l = manifest.layers[i]!;
      const chainId = chains[i]!;
      const rec: RpullLayer = { digest: l.digest, chainId, size: l.size, mode: "present", bytesFetched: 0 };
      if ((await client.statSnapshot(o.snapshotter, chainId)) === undefined) {
        const later = manifest.layers.slice(i);
        const labels: Record<string, string> = {
          [LABEL_TARGET_REF]: chainId,
          [LABEL_IMAGE_REF]: o.imageName,
          [LABEL_LAYER_DIGEST]: l.digest,
          [LABEL_MANIFEST_DIGEST]: md.digest,
          [LABEL_IMAGE_LAYERS]: fitLabel(LABEL_IMAGE_LAYERS, later.map((x) => x.digest)),
          [LABEL_SOCI_SIZE]: String(l.size),
          [LABEL_IMAGE_LAYERS_SIZE]: fitLabel(LABEL_IMAGE_LAYERS_SIZE, later.map((x) => String(x.size))),
          ...(o.sociIndexDigest ? { [LABEL_SOCI_INDEX_DIGEST]: o.sociIndexDigest } : {}),
        };
        const key = `extract-${randomBytes(6).toString("hex")} ${chainId}`;
        let mounts;
        try {
          mounts = await client.prepareSnapshot(o.snapshotter, key, parent, labels);
        } catch (e) {
          if ((e as { code?: string }).code !== "already_exists") throw e;
        }
        if (mounts === undefined) {
          const info = await client.statSnapshot(o.snapshotter, chainId);
          rec.mode = info?.labels?.[LABEL_REMOTE] !== undefined ? "lazy" : "snapshotter";
        } else {
          try {
            rec.bytesFetched = await client.writeContent(`rpull-${l.digest}`, l.digest, l.size, o.source.openBlob(l));
            const applied = await client.apply(pbDesc(l), mounts);
            if (applied.digest !== diffIds[i]) {
              throw new InvalidArgumentError(`Cannot apply layer ${l.digest}: its content is ${applied.digest}, the config says ${diffIds[i]}`);
            }
            await client.commitSnapshot(o.snapshotter, chainId, key);
          } catch (e) {
            await client.removeSnapshot(o.snapshotter, key).catch(() => undefined);
            throw e;
          }
          rec.mode = "applied";
          bytesFetched += rec.bytesFetched;
        }
      }
      log(`layer ${i} ${l.digest}: ${rec.mode} (${rec.bytesFetched} bytes fetched)`);
      layers.push(rec);
      parent = chainId;
    }
    if (chains.length > 0) await client.updateContentLabels(manifest.config.digest, { [`containerd.io/gc.ref.snapshot.${o.snapshotter}`]: chains[chains.length - 1]! });
    await client.putImage(o.imageName, pbDesc({ ...md, mediaType: md.mediaType }));
    await client.deleteLease();
    return { imageName: o.imageName, manifestDigest: md.digest, configDigest: manifest.config.digest, platform: formatPlatform(md.platform ?? want), layers, bytesFetched };
  } finally {
    await client.deleteLease().catch(() => undefined);
    client.close();
  }
}
