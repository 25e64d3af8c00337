/**
 * From an image location (reference.ts) to an `ImageSource` or `ImageSink`.
 * Registry references are handed to an injected opener, so a registry client
 * can plug in without oci/ knowing about HTTP.
 *
 * Not here: the transports themselves (layout.ts, archive.ts).
 */
import { FailedPreconditionError, UsageError } from "../errors.ts";
import { DockerArchiveSource, OciArchiveWriter, openOciArchive } from "./archive.ts";
import type { ImageSink, ImageSource } from "./image_source.ts";
import { LayoutSource, OciLayoutWriter } from "./layout.ts";
import { formatReference, parseImageLocation, type ImageLocation, type Reference } from "./reference.ts";

export interface OpenImageOptions {
  /** Opens registry references; without it they are refused. */
  openRegistry?(ref: Reference): Promise<ImageSource>;
}

/** Opens an image for reading. Errors: those of the transport; FailedPreconditionError for an unsupported one. */
export async function openImageSource(location: string | ImageLocation, opts: OpenImageOptions = {}): Promise<ImageSource> {
  const loc = typeof location === "string" ? parseImageLocation(location) : location;
  switch (loc.transport) {
    case "oci":
      return LayoutSource.openDir(loc.path, loc.tag);
    case "oci-archive":
      return openOciArchive(loc.path, loc.tag);
    case "docker-archive":
      return DockerArchiveSource.open(loc.path, loc.ref);
    case "docker":
      if (opts.openRegistry) return opts.openRegistry(loc.reference);
      throw new FailedPreconditionError(`Cannot read image ${formatReference(loc.reference)}: registry sources are not supported here`, {
        hint: "Copy the image to an OCI layout first (skopeo copy docker://… oci:DIR) and pass that directory",
      });
  }
}

export interface ImageTarget {
  sink: ImageSink;
  /** Tag to pass to `setRoot`, from `oci:DIR:TAG` / `oci-archive:FILE:TAG`. */
  tag?: string;
}

/**
 * Opens a destination. A bare path is a directory for `format` `oci-dir` and an
 * archive for `oci-archive` (the default). docker-archive and registries are
 * refused with a UsageError.
 */
export async function openImageSink(location: string, format: "oci-dir" | "oci-archive" = "oci-archive"): Promise<ImageTarget> {
  let loc: ImageLocation;
  if (location.startsWith("oci:") || location.startsWith("oci-archive:") || location.startsWith("docker-archive:")) loc = parseImageLocation(location);
  else loc = format === "oci-dir" ? { transport: "oci", path: location } : { transport: "oci-archive", path: location };
  switch (loc.transport) {
    case "oci":
      return { sink: await OciLayoutWriter.create(loc.path), ...(loc.tag ? { tag: loc.tag } : {}) };
    case "oci-archive":
      return { sink: await OciArchiveWriter.create(loc.path), ...(loc.tag ? { tag: loc.tag } : {}) };
    default:
      throw new UsageError(`Cannot write image to ${JSON.stringify(location)}: only OCI layouts (oci:DIR) and oci-archive files can be written`);
  }
}
