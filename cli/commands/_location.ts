/**
 * Image locations as the user typed them → locations the core opens, with
 * relative paths made absolute against the command's working directory (so
 * `run()` honours `cwd`, and store records name images usable from anywhere).
 * Private to commands/.
 */
import { statSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { formatImageLocation, parseImageLocation } from "../../core-wasm/src/oci/mod.ts";
import type { Context } from "../command.ts";

const TRANSPORTS = ["oci-archive:", "oci:", "docker-archive:"];

function absolute(ctx: Context, p: string): string {
  return isAbsolute(p) ? p : resolve(ctx.cwd, p);
}

function looksLikePath(text: string): boolean {
  return text.startsWith("/") || text.startsWith("./") || text.startsWith("../") || text === "." || text === "..";
}

/** A source location: `transport:path[:tag]` with an absolute path, or an existing path made absolute. */
export function locationOf(ctx: Context, text: string): string {
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
export function sinkLocationOf(ctx: Context, text: string, format: "oci-dir" | "oci-archive"): { location: string; ref: string } {
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

