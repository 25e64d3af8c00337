/**
 * Image locations as the user typed them → locations the core opens, with
 * relative paths made absolute against the command's working directory (so
 * `run()` honours `cwd`, and store records name images usable from anywhere).
 *
 * Registry references: a source that is neither a transport nor an existing
 * path is a reference (oci/reference.ts); a `docker://` prefix says so
 * explicitly. A destination is a reference with `docker://`, or when its first
 * component names a registry host (has `.` or `:`, or is `localhost`), it is
 * not path-like and no such directory exists here — otherwise it stays a path
 * to write (`out.tar`, `build/out`).
 * Private to commands/.
 */
import { statSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { formatImageLocation, formatReference, parseImageLocation, parseReference, type Reference } from "../../core-wasm/src/oci/mod.ts";
import type { Context } from "../command.ts";

const TRANSPORTS = ["oci-archive:", "oci:", "docker-archive:"];
const DOCKER = "docker://";

function absolute(ctx: Context, p: string): string {
  return isAbsolute(p) ? p : resolve(ctx.cwd, p);
}

function looksLikePath(text: string): boolean {
  return text.startsWith("/") || text.startsWith("./") || text.startsWith("../") || text === "." || text === "..";
}

/** A source location: `transport:path[:tag]` with an absolute path, or an existing path made absolute. */
export function locationOf(ctx: Context, text: string): string {
  if (text.startsWith(DOCKER)) return formatReference(parseReference(text.slice(DOCKER.length)));
  for (const t of TRANSPORTS) {
    if (!text.startsWith(t)) continue;
    const rest = text.slice(t.length);
    const colon = rest.indexOf(":");
    const path = colon < 0 ? rest : rest.slice(0, colon);
    const tag = colon < 0 ? "" : rest.slice(colon);
    return path === "" ? text : t + absolute(ctx, path) + tag;
  }
  if (looksLikePath(text) || existsRelative(ctx, text)) return absolute(ctx, text);
  return text;
}

/** A bare name is a path when it exists under cwd (skopeo/oci rules); otherwise a registry reference. */
function existsRelative(ctx: Context, text: string): boolean {
  try {
    return statSync(resolve(ctx.cwd, text), { throwIfNoEntry: false }) !== undefined;
  } catch {
    return false;
  }
}

/**
 * A destination: the location to open (bare paths made absolute) and the
 * reference recorded in the store (`oci:/abs[:tag]` or `oci-archive:/abs[:tag]`).
 */
export function sinkLocationOf(ctx: Context, text: string, format: "oci-dir" | "oci-archive"): { location: string; ref: string; registry?: Reference } {
  const registry = destinationReference(ctx, text);
  if (registry !== undefined) {
    const ref = formatReference(registry);
    return { location: ref, ref, registry };
  }
  for (const t of TRANSPORTS) {
    if (text.startsWith(t)) {
      const location = locationOf(ctx, text);
      return { location, ref: location };
    }
  }
  const location = absolute(ctx, text);
  return { location, ref: `${format === "oci-dir" ? "oci" : "oci-archive"}:${location}` };
}

/** An image as the records name it (`oci:/abs/dir`, `oci-archive:/abs/file`), or the text unchanged. */
export function imageRefOf(ctx: Context, text: string): string {
  const loc = locationOf(ctx, text);
  try {
    return formatImageLocation(parseImageLocation(loc));
  } catch {
    return loc;
  }
}


/** The registry reference a destination names, or undefined for a path (see the module header). */
export function destinationReference(ctx: Context, text: string): Reference | undefined {
  if (text.startsWith(DOCKER)) return parseReference(text.slice(DOCKER.length));
  if (TRANSPORTS.some((t) => text.startsWith(t)) || looksLikePath(text)) return undefined;
  const slash = text.indexOf("/");
  if (slash <= 0) return undefined;
  const first = text.slice(0, slash);
  if (!(/[.:]/.test(first) || first === "localhost") || existsRelative(ctx, first)) return undefined;
  try {
    return parseReference(text);
  } catch {
    return undefined; // not a valid reference: a path after all
  }
}
