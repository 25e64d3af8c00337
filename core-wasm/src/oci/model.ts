/**
 * The OCI document model (descriptor, platform, image manifest, image index,
 * image config platform) and validating parsers for untrusted bytes.
 *
 * Parsing follows what Go's `encoding/json` accepts into the ocispec structs:
 * unknown fields are dropped, `null` means "absent", numbers must be integers.
 * On top of that we bound the input (manifests ≤ 4 MiB, configs ≤ 16 MiB,
 * strings and lists by the document size) and check the shape of digests, so
 * nothing malformed reaches a file path or a re-encoding. Every failure is a
 * FormatError naming the document and the field.
 *
 * Not here: encoding (go_json.ts), platform rules (platform.ts).
 */
import { Buffer } from "node:buffer";
import { FormatError } from "../errors.ts";
import { isIndexMediaType, isImageManifestMediaType } from "./media_types.ts";

export interface Platform {
  architecture: string;
  os: string;
  /** JSON `os.version`. */
  osVersion?: string;
  /** JSON `os.features`. */
  osFeatures?: string[];
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  /** Base64 (standard, padded) of embedded content. */
  data?: string;
  platform?: Platform;
  artifactType?: string;
}

/** An OCI image manifest or a Docker schema-2 manifest (same shape). */
export interface Manifest {
  schemaVersion: number;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** An OCI image index or a Docker manifest list (same shape). */
export interface Index {
  schemaVersion: number;
  mediaType?: string;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export const MAX_MANIFEST_SIZE = 4 << 20;
export const MAX_CONFIG_SIZE = 16 << 20;

/** OCI digest grammar (algorithm:encoded); sha256 is checked where a blob is opened. */
const DIGEST_GRAMMAR = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

type Json = Record<string, unknown>;

class Ctx {
  constructor(readonly doc: string) {}
  fail(path: string, what: string): never {
    throw new FormatError(`Cannot parse ${this.doc}: ${path} ${what}`);
  }
}

const utf8Decoder = new TextDecoder("utf-8", { fatal: false });

/** Bytes → a JSON object, bounded; the error names `doc`. */
export function parseJsonObject(bytes: Uint8Array, doc: string, maxSize = MAX_MANIFEST_SIZE): Json {
  if (bytes.length > maxSize) {
    throw new FormatError(`Cannot parse ${doc}: it is ${bytes.length} bytes, more than the limit of ${maxSize}`);
  }
  let v: unknown;
  try {
    // Go replaces invalid UTF-8 inside strings with U+FFFD; so does a non-fatal decoder.
    v = JSON.parse(utf8Decoder.decode(bytes));
  } catch (e) {
    throw new FormatError(`Cannot parse ${doc}: not valid JSON (${(e as Error).message})`, {}, { cause: e });
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) throw new FormatError(`Cannot parse ${doc}: the document is not a JSON object`);
  return v as Json;
}

function optString(c: Ctx, o: Json, key: string, path: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") c.fail(`${path}${key}`, `is ${typeName(v)}, not a string`);
  return v;
}

function optStringList(c: Ctx, o: Json, key: string, path: string): string[] | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) c.fail(`${path}${key}`, `is ${typeName(v)}, not a list`);
  v.forEach((s, i) => {
    if (typeof s !== "string") c.fail(`${path}${key}[${i}]`, `is ${typeName(s)}, not a string`);
  });
  return v as string[];
}

function optStringMap(c: Ctx, o: Json, key: string, path: string): Record<string, string> | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "object" || Array.isArray(v)) c.fail(`${path}${key}`, `is ${typeName(v)}, not an object`);
  const out: Record<string, string> = {};
  for (const [k, s] of Object.entries(v as Json)) {
    if (typeof s !== "string") c.fail(`${path}${key}[${JSON.stringify(k)}]`, `is ${typeName(s)}, not a string`);
    out[k] = s;
  }
  return out;
}

function optInt(c: Ctx, o: Json, key: string, path: string): number | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isSafeInteger(v)) c.fail(`${path}${key}`, `is ${JSON.stringify(v)}, not an integer`);
  return v;
}

/** The JSON type of `v` with its article, for messages. */
function typeName(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  return typeof v === "object" ? "an object" : `a ${typeof v}`;
}

function objectAt(c: Ctx, v: unknown, path: string): Json {
  if (v === null || typeof v !== "object" || Array.isArray(v)) c.fail(path, `is ${typeName(v)}, not an object`);
  return v as Json;
}

function parsePlatformObject(c: Ctx, o: Json, path: string): Platform {
  const p: Platform = { architecture: optString(c, o, "architecture", path) ?? "", os: optString(c, o, "os", path) ?? "" };
  const osVersion = optString(c, o, "os.version", path);
  if (osVersion) p.osVersion = osVersion;
  const osFeatures = optStringList(c, o, "os.features", path);
  if (osFeatures && osFeatures.length > 0) p.osFeatures = osFeatures;
  const variant = optString(c, o, "variant", path);
  if (variant) p.variant = variant;
  return p;
}

function parseDescriptorObject(c: Ctx, v: unknown, path: string): Descriptor {
  const o = objectAt(c, v, path);
  const p = path + ".";
  const digest = optString(c, o, "digest", p) ?? "";
  if (!DIGEST_GRAMMAR.test(digest)) c.fail(`${p}digest`, `${JSON.stringify(digest)} is not a digest`);
  const size = optInt(c, o, "size", p) ?? 0;
  if (size < 0) c.fail(`${p}size`, `is negative (${size})`);
  const d: Descriptor = { mediaType: optString(c, o, "mediaType", p) ?? "", digest, size };
  const urls = optStringList(c, o, "urls", p);
  if (urls && urls.length > 0) d.urls = urls;
  const annotations = optStringMap(c, o, "annotations", p);
  if (annotations && Object.keys(annotations).length > 0) d.annotations = annotations;
  const data = optString(c, o, "data", p);
  if (data) d.data = canonicalBase64(c, data, `${p}data`);
  if (o.platform !== undefined && o.platform !== null) d.platform = parsePlatformObject(c, objectAt(c, o.platform, `${p}platform`), `${p}platform.`);
  const artifactType = optString(c, o, "artifactType", p);
  if (artifactType) d.artifactType = artifactType;
  return d;
}

/** Go decodes `[]byte` from standard base64 and re-encodes it padded. */
function canonicalBase64(c: Ctx, s: string, path: string): string {
  const clean = s.replace(/[\r\n]/g, "");
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(clean) || clean.length % 4 !== 0) c.fail(path, "is not standard base64");
  return Buffer.from(clean, "base64").toString("base64");
}

function descriptorList(c: Ctx, o: Json, key: string): Descriptor[] {
  const v = o[key];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) c.fail(key, `is ${typeName(v)}, not a list`);
  return v.map((d, i) => parseDescriptorObject(c, d, `${key}[${i}]`));
}

function schemaVersion(c: Ctx, o: Json): number {
  const v = optInt(c, o, "schemaVersion", "");
  if (v !== 2) c.fail("schemaVersion", v === undefined ? "is missing" : `is ${v}, only 2 is supported`);
  return v;
}

/**
 * An image manifest (OCI or Docker schema 2). `doc` names the document in
 * errors (e.g. `manifest sha256:…`). Throws FormatError when the bytes are too
 * large, not JSON, of the wrong shape, or an index (`manifests` present or an
 * index media type).
 */
export function parseManifest(bytes: Uint8Array, doc = "manifest"): Manifest {
  const o = parseJsonObject(bytes, doc);
  const c = new Ctx(doc);
  const sv = schemaVersion(c, o);
  const mediaType = optString(c, o, "mediaType", "");
  if (mediaType !== undefined && mediaType !== "" && !isImageManifestMediaType(mediaType)) {
    c.fail("mediaType", `${JSON.stringify(mediaType)} is not an image manifest type`);
  }
  if (o.manifests !== undefined && o.manifests !== null) c.fail("manifests", "is present: the document is an index, not a manifest");
  if (o.config === undefined || o.config === null) c.fail("config", "is missing");
  const m: Manifest = { schemaVersion: sv, config: parseDescriptorObject(c, o.config, "config"), layers: descriptorList(c, o, "layers") };
  if (mediaType) m.mediaType = mediaType;
  const artifactType = optString(c, o, "artifactType", "");
  if (artifactType) m.artifactType = artifactType;
  if (o.subject !== undefined && o.subject !== null) m.subject = parseDescriptorObject(c, o.subject, "subject");
  const annotations = optStringMap(c, o, "annotations", "");
  if (annotations && Object.keys(annotations).length > 0) m.annotations = annotations;
  return m;
}

/** An image index or Docker manifest list; FormatError as for parseManifest. */
export function parseIndex(bytes: Uint8Array, doc = "image index"): Index {
  const o = parseJsonObject(bytes, doc);
  const c = new Ctx(doc);
  const sv = schemaVersion(c, o);
  const mediaType = optString(c, o, "mediaType", "");
  if (mediaType !== undefined && mediaType !== "" && !isIndexMediaType(mediaType)) {
    c.fail("mediaType", `${JSON.stringify(mediaType)} is not an image index type`);
  }
  if (o.config !== undefined && o.config !== null) c.fail("config", "is present: the document is a manifest, not an index");
  const x: Index = { schemaVersion: sv, manifests: descriptorList(c, o, "manifests") };
  if (mediaType) x.mediaType = mediaType;
  const artifactType = optString(c, o, "artifactType", "");
  if (artifactType) x.artifactType = artifactType;
  if (o.subject !== undefined && o.subject !== null) x.subject = parseDescriptorObject(c, o.subject, "subject");
  const annotations = optStringMap(c, o, "annotations", "");
  if (annotations && Object.keys(annotations).length > 0) x.annotations = annotations;
  return x;
}

/** One descriptor from its JSON bytes (e.g. a stored record). */
export function parseDescriptor(bytes: Uint8Array, doc = "descriptor"): Descriptor {
  return parseDescriptorObject(new Ctx(doc), parseJsonObject(bytes, doc), "descriptor");
}

/**
 * What a manifest document is, from its own `mediaType` or, when that is
 * absent, its shape (`manifests` → index, `config` → manifest).
 */
export function sniffManifestKind(bytes: Uint8Array, doc = "manifest"): "manifest" | "index" {
  const o = parseJsonObject(bytes, doc);
  const mt = typeof o.mediaType === "string" ? o.mediaType : "";
  if (isIndexMediaType(mt)) return "index";
  if (isImageManifestMediaType(mt)) return "manifest";
  if (mt !== "") throw new FormatError(`Cannot parse ${doc}: mediaType ${JSON.stringify(mt)} is not a manifest or index type`);
  if (Array.isArray(o.manifests)) return "index";
  if (o.config !== undefined) return "manifest";
  throw new FormatError(`Cannot parse ${doc}: neither a manifest nor an index (no mediaType, config or manifests)`);
}

/** The platform fields of an image config (`architecture`, `os`, `variant`, `os.version`, `os.features`). */
export function parseConfigPlatform(bytes: Uint8Array, doc = "image config"): Platform {
  const o = parseJsonObject(bytes, doc, MAX_CONFIG_SIZE);
  return parsePlatformObject(new Ctx(doc), o, "");
}

/** True when `s` has the OCI digest grammar `algorithm:encoded`. */
export function isDigestGrammar(s: string): boolean {
  return DIGEST_GRAMMAR.test(s);
}
