/**
 * The error vocabulary shared by the CLI and the snapshotter (STYLE §7).
 *
 * `SociError` carries a `code`, a message in the form
 * `Cannot <action> <object>: <what is the case>`, an optional `hint` (what the
 * user should do) and an optional `cause`. Subclasses exist only where a caller
 * branches on the kind: containerd's kinds (NotFound, AlreadyExists,
 * FailedPrecondition, InvalidArgument), bad input (`FormatError`, with where),
 * remote failures (`RegistryError`) and bad command lines (`UsageError`).
 * Programmer mistakes throw `TypeError`/`RangeError` instead.
 *
 * This module imports nothing.
 */

export type SociErrorCode =
  | "unknown"
  | "not_found"
  | "already_exists"
  | "failed_precondition"
  | "invalid_argument"
  | "format"
  | "registry"
  | "usage";

export interface SociErrorOptions {
  hint?: string;
  cause?: unknown;
}

export class SociError extends Error {
  readonly code: SociErrorCode;
  readonly hint?: string;

  constructor(message: string, options: SociErrorOptions = {}, code: SociErrorCode = "unknown") {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    if (options.hint !== undefined) this.hint = options.hint;
  }
}

export class NotFoundError extends SociError {
  constructor(message: string, options: SociErrorOptions = {}) {
    super(message, options, "not_found");
  }
}

export class AlreadyExistsError extends SociError {
  constructor(message: string, options: SociErrorOptions = {}) {
    super(message, options, "already_exists");
  }
}

export class FailedPreconditionError extends SociError {
  constructor(message: string, options: SociErrorOptions = {}) {
    super(message, options, "failed_precondition");
  }
}

export class InvalidArgumentError extends SociError {
  constructor(message: string, options: SociErrorOptions = {}) {
    super(message, options, "invalid_argument");
  }
}

export class UsageError extends SociError {
  constructor(message: string, options: SociErrorOptions = {}) {
    super(message, options, "usage");
  }
}

/** Where in the input a `FormatError` was found. All fields optional. */
export interface FormatLocation {
  /** Which input (a file path, a layer digest, a blob name). */
  source?: string;
  /** Byte offset in the compressed (as stored) stream. */
  compressedOffset?: number;
  /** Byte offset in the uncompressed stream (e.g. the tar). */
  uncompressedOffset?: number;
}

/** Bad input data: corrupt gzip, hostile tar, malformed flatbuffer or JSON. */
export class FormatError extends SociError {
  readonly location: FormatLocation;

  constructor(message: string, location: FormatLocation = {}, options: SociErrorOptions = {}) {
    super(message + describeLocation(location), options, "format");
    this.location = location;
  }
}

function describeLocation(loc: FormatLocation): string {
  const parts: string[] = [];
  if (loc.source !== undefined) parts.push(`in ${JSON.stringify(loc.source)}`);
  if (loc.compressedOffset !== undefined) parts.push(`at compressed offset ${loc.compressedOffset}`);
  if (loc.uncompressedOffset !== undefined) parts.push(`at uncompressed offset ${loc.uncompressedOffset}`);
  return parts.length === 0 ? "" : ` (${parts.join(", ")})`;
}

export interface RegistryErrorDetails {
  status?: number;
  method?: string;
  /** The request URL with credentials and tokens removed. */
  url?: string;
  /** Registry error codes/messages from the JSON error body. */
  diagnostics?: string[];
  retryable?: boolean;
}

export class RegistryError extends SociError {
  readonly details: RegistryErrorDetails;

  constructor(message: string, details: RegistryErrorDetails = {}, options: SociErrorOptions = {}) {
    super(message, options, "registry");
    this.details = details;
  }

  get retryable(): boolean {
    return this.details.retryable === true;
  }
}
