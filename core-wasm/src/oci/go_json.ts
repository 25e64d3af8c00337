/**
 * The one JSON encoder for every document we write: the bytes Go's
 * `encoding/json` produces for the ocispec types (formats §7.3, MUST-BYTES for
 * SOCI indexes, SAME-BYTES elsewhere).
 *
 * Go writes struct fields in declaration order, drops `omitempty` fields that
 * are empty, sorts map keys by byte order and escapes strings its own way:
 * `\"` `\\` `\b` `\f` `\n` `\r` `\t`, other C0 controls as `\u00xx`, and also
 * `<` `>` `&` U+2028 U+2029 as `\u003c` `\u003e` `\u0026` `\u2028` `\u2029`;
 * invalid UTF-16 (a lone surrogate) becomes `\ufffd`, as Go does for invalid
 * UTF-8. Everything else is literal UTF-8, compact, no trailing newline. We
 * never write `null`: absent optional fields are omitted and required slices
 * are written as `[]` (Go would write `null` for a nil slice).
 *
 * Key orders (ocispec v1.1 structs):
 *   Manifest   schemaVersion mediaType* artifactType* config layers subject* annotations*
 *   Index      schemaVersion mediaType* artifactType* manifests subject* annotations*
 *   Descriptor mediaType digest size urls* annotations* data* platform* artifactType*
 *   Platform   architecture os os.version* os.features* variant*
 * (* = omitted when empty). Docker schema-2 manifests share the Manifest shape.
 *
 * Not here: parsing (model.ts).
 */
import { utf8 } from "../bytes/mod.ts";
import type { Descriptor, Index, Manifest, Platform } from "./model.ts";

const HEX = "0123456789abcdef";

/** A JS string as a Go JSON string literal (quotes included). */
export function goJsonString(s: string): string {
  let out = '"';
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let esc: string | undefined;
    if (c < 0x20) {
      esc = c === 0x08 ? "\\b" : c === 0x0c ? "\\f" : c === 0x0a ? "\\n" : c === 0x0d ? "\\r" : c === 0x09 ? "\\t" : "\\u00" + HEX[c >> 4] + HEX[c & 15];
    } else if (c === 0x22) esc = '\\"';
    else if (c === 0x5c) esc = "\\\\";
    else if (c === 0x3c) esc = "\\u003c";
    else if (c === 0x3e) esc = "\\u003e";
    else if (c === 0x26) esc = "\\u0026";
    else if (c === 0x2028) esc = "\\u2028";
    else if (c === 0x2029) esc = "\\u2029";
    else if (c >= 0xd800 && c <= 0xdfff) {
      const next = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        i++; // a valid pair: literal
        continue;
      }
      esc = "\\ufffd";
    }
    if (esc !== undefined) {
      out += s.slice(from, i) + esc;
      from = i + 1;
    }
  }
  return out + s.slice(from) + '"';
}

/** A map as Go writes `map[string]string`: keys sorted by UTF-8 byte order. */
export function goJsonStringMap(m: Readonly<Record<string, string>>): string {
  const keys = Object.keys(m).sort(compareUtf8);
  return "{" + keys.map((k) => goJsonString(k) + ":" + goJsonString(m[k])).join(",") + "}";
}

/** UTF-8 byte order of two strings (differs from UTF-16 order above U+FFFF). */
export function compareUtf8(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(i)!;
    if (x !== y) return x - y;
    if (x > 0xffff) i++;
  }
  return a.length - b.length;
}

function goInt(n: number): string {
  if (!Number.isSafeInteger(n)) throw new RangeError(`cannot encode ${n} as a JSON integer`);
  return String(n);
}

function field(parts: string[], key: string, value: string): void {
  parts.push(goJsonString(key) + ":" + value);
}

function hasKeys(m: Readonly<Record<string, string>> | undefined): m is Readonly<Record<string, string>> {
  return m !== undefined && Object.keys(m).length > 0;
}

export function encodePlatformJson(p: Platform): string {
  const parts: string[] = [];
  field(parts, "architecture", goJsonString(p.architecture));
  field(parts, "os", goJsonString(p.os));
  if (p.osVersion) field(parts, "os.version", goJsonString(p.osVersion));
  if (p.osFeatures && p.osFeatures.length > 0) field(parts, "os.features", "[" + p.osFeatures.map(goJsonString).join(",") + "]");
  if (p.variant) field(parts, "variant", goJsonString(p.variant));
  return "{" + parts.join(",") + "}";
}

export function encodeDescriptorJson(d: Descriptor): string {
  const parts: string[] = [];
  field(parts, "mediaType", goJsonString(d.mediaType));
  field(parts, "digest", goJsonString(d.digest));
  field(parts, "size", goInt(d.size));
  if (d.urls && d.urls.length > 0) field(parts, "urls", "[" + d.urls.map(goJsonString).join(",") + "]");
  if (hasKeys(d.annotations)) field(parts, "annotations", goJsonStringMap(d.annotations));
  if (d.data) field(parts, "data", goJsonString(d.data));
  if (d.platform) field(parts, "platform", encodePlatformJson(d.platform));
  if (d.artifactType) field(parts, "artifactType", goJsonString(d.artifactType));
  return "{" + parts.join(",") + "}";
}

function encodeList(ds: readonly Descriptor[]): string {
  return "[" + ds.map(encodeDescriptorJson).join(",") + "]";
}

/** Manifest bytes (OCI or Docker schema 2: the media type is whatever `m` says). */
export function encodeManifest(m: Manifest): Uint8Array {
  const parts: string[] = [];
  field(parts, "schemaVersion", goInt(m.schemaVersion));
  if (m.mediaType) field(parts, "mediaType", goJsonString(m.mediaType));
  if (m.artifactType) field(parts, "artifactType", goJsonString(m.artifactType));
  field(parts, "config", encodeDescriptorJson(m.config));
  field(parts, "layers", encodeList(m.layers));
  if (m.subject) field(parts, "subject", encodeDescriptorJson(m.subject));
  if (hasKeys(m.annotations)) field(parts, "annotations", goJsonStringMap(m.annotations));
  return utf8("{" + parts.join(",") + "}");
}

export function encodeIndex(x: Index): Uint8Array {
  const parts: string[] = [];
  field(parts, "schemaVersion", goInt(x.schemaVersion));
  if (x.mediaType) field(parts, "mediaType", goJsonString(x.mediaType));
  if (x.artifactType) field(parts, "artifactType", goJsonString(x.artifactType));
  field(parts, "manifests", encodeList(x.manifests));
  if (x.subject) field(parts, "subject", encodeDescriptorJson(x.subject));
  if (hasKeys(x.annotations)) field(parts, "annotations", goJsonStringMap(x.annotations));
  return utf8("{" + parts.join(",") + "}");
}

/** A descriptor on its own (e.g. in records), same encoding as inside documents. */
export function encodeDescriptor(d: Descriptor): Uint8Array {
  return utf8(encodeDescriptorJson(d));
}

/**
 * Any plain JSON value the Go way: objects keep their insertion order (like
 * struct fields), strings get Go escaping, `undefined` members are dropped.
 * For the small documents that are not ocispec types (prefetch artifacts).
 */
export function encodeGoJsonValue(v: unknown): string {
  if (v === null) return "null";
  switch (typeof v) {
    case "string":
      return goJsonString(v);
    case "number":
      return goInt(v);
    case "boolean":
      return v ? "true" : "false";
    case "object": {
      if (Array.isArray(v)) return "[" + v.map(encodeGoJsonValue).join(",") + "]";
      const parts: string[] = [];
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) if (x !== undefined) field(parts, k, encodeGoJsonValue(x));
      return "{" + parts.join(",") + "}";
    }
    default:
      throw new TypeError(`cannot encode a ${typeof v} as JSON`);
  }
}
