/**
 * Image locations as skopeo spells them, and Docker image references.
 *
 *   oci:DIR[:TAG]              an OCI image layout directory
 *   oci-archive:FILE[:TAG]     a tar of an OCI image layout
 *   docker-archive:FILE[:REF]  a `docker save` tarball (read only)
 *   PATH                       an existing directory (layout) or file (oci-archive)
 *   anything else              a registry reference host[:port]/repo[:tag][@digest]
 *
 * As in skopeo, the path ends at the first `:` after the transport, so paths
 * containing `:` cannot carry a tag. Registry references follow the
 * docker/distribution grammar with Docker Hub defaults (`docker.io`,
 * `library/`).
 *
 * Not here: opening anything (layout.ts, archive.ts, registry/).
 */
import { statSync } from "node:fs";
import { InvalidArgumentError } from "../errors.ts";

/** A parsed registry reference; `registry` is `docker.io` for Docker Hub. */
export interface Reference {
  registry: string;
  repository: string;
  tag?: string;
  digest?: string;
}

export type ImageLocation =
  | { transport: "oci"; path: string; tag?: string }
  | { transport: "oci-archive"; path: string; tag?: string }
  | { transport: "docker-archive"; path: string; ref?: string }
  | { transport: "docker"; reference: Reference };

const DOMAIN_RE = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?$/;
const PATH_COMPONENT_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;
const MAX_NAME = 255;

/**
 * Parses `[host[:port]/]path[:tag][@digest]`. The first component is a host
 * when it contains `.` or `:`, is `localhost` or has upper case (docker's rule); otherwise the
 * registry is `docker.io` and one-component paths get `library/`.
 * `index.docker.io` is read as `docker.io`. Throws InvalidArgumentError naming
 * the bad part.
 */
export function parseReference(text: string): Reference {
  const bad = (why: string) =>
    new InvalidArgumentError(`Cannot parse image reference ${JSON.stringify(text)}: ${why}`, {
      hint: "Use the form registry/repository:tag or registry/repository@sha256:<hex>",
    });
  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST_RE.test(digest)) throw bad(`digest ${JSON.stringify(digest)} is not sha256:<64 lowercase hex>`);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) throw bad(`tag ${JSON.stringify(tag)} is not valid`);
  }
  let registry = "docker.io";
  const slash = rest.indexOf("/");
  const first = slash < 0 ? "" : rest.slice(0, slash);
  if (slash >= 0 && (/[.:]/.test(first) || first === "localhost" || first !== first.toLowerCase())) {
    if (!DOMAIN_RE.test(first)) throw bad(`registry host ${JSON.stringify(first)} is not valid`);
    registry = first === "index.docker.io" ? "docker.io" : first;
    rest = rest.slice(slash + 1);
  }
  if (rest === "") throw bad("the repository is empty");
  if (registry === "docker.io" && !rest.includes("/")) rest = "library/" + rest;
  for (const c of rest.split("/")) {
    if (!PATH_COMPONENT_RE.test(c)) throw bad(`repository component ${JSON.stringify(c)} is not valid (lower case letters, digits and separators only)`);
  }
  if (registry.length + 1 + rest.length > MAX_NAME) throw bad(`the name is longer than ${MAX_NAME} characters`);
  const ref: Reference = { registry, repository: rest };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/** `registry/repository[:tag][@digest]`. */
export function formatReference(ref: Reference): string {
  return `${ref.registry}/${ref.repository}${ref.tag ? ":" + ref.tag : ""}${ref.digest ? "@" + ref.digest : ""}`;
}

function splitPathAndTag(rest: string): [string, string | undefined] {
  const i = rest.indexOf(":");
  return i < 0 ? [rest, undefined] : [rest.slice(0, i), rest.slice(i + 1)];
}

/** Kind of an existing path: injected in tests. */
export type PathKind = (path: string) => "dir" | "file" | null;

const statKind: PathKind = (p) => {
  try {
    const st = statSync(p);
    return st.isDirectory() ? "dir" : "file";
  } catch {
    return null; // does not exist: not a bare path
  }
};

/**
 * Parses an image location (see the module header). Throws
 * InvalidArgumentError for an empty path or a bad tag/reference.
 */
export function parseImageLocation(text: string, pathKind: PathKind = statKind): ImageLocation {
  const bad = (why: string) =>
    new InvalidArgumentError(`Cannot parse image location ${JSON.stringify(text)}: ${why}`, {
      hint: "Use oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE, an existing path or registry/repository:tag",
    });
  const checkTag = (tag: string | undefined) => {
    if (tag !== undefined && !TAG_RE.test(tag)) throw bad(`tag ${JSON.stringify(tag)} is not valid`);
  };
  for (const transport of ["oci", "oci-archive", "docker-archive"] as const) {
    if (!text.startsWith(transport + ":")) continue;
    const [path, tag] = splitPathAndTag(text.slice(transport.length + 1));
    if (path === "") throw bad("the path is empty");
    if (transport === "docker-archive") return tag ? { transport, path, ref: tag } : { transport, path };
    checkTag(tag);
    return tag ? { transport, path, tag } : { transport, path };
  }
  const kind = pathKind(text);
  if (kind === "dir") return { transport: "oci", path: text };
  if (kind === "file") return { transport: "oci-archive", path: text };
  if (text.startsWith("/") || text.startsWith("./") || text.startsWith("../")) {
    throw bad("no such file or directory");
  }
  return { transport: "docker", reference: parseReference(text) };
}

/** The location back as text (for messages and records). */
export function formatImageLocation(loc: ImageLocation): string {
  switch (loc.transport) {
    case "docker":
      return formatReference(loc.reference);
    case "docker-archive":
      return `docker-archive:${loc.path}${loc.ref ? ":" + loc.ref : ""}`;
    default:
      return `${loc.transport}:${loc.path}${loc.tag ? ":" + loc.tag : ""}`;
  }
}
