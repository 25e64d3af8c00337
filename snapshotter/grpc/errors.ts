/**
 * The one error map of the gRPC edge (STYLE §7, snapshotter §2.2): SociError
 * kinds from `core-wasm/src/errors.ts` to gRPC status codes on the server
 * side, and status codes back to those kinds on the client side (containerd's
 * `errdefs` mapping). The status message keeps the error's text.
 *
 * Not here: logging (the server logs once per failed call).
 */
import { status, type ServiceError } from "@grpc/grpc-js";
import { UnavailableError } from "../snapshots/mod.ts";
import {
  AlreadyExistsError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  SociError,
  type SociErrorCode,
} from "../../core-wasm/src/errors.ts";

const TO_STATUS: Partial<Record<SociErrorCode, status>> = {
  not_found: status.NOT_FOUND,
  already_exists: status.ALREADY_EXISTS,
  failed_precondition: status.FAILED_PRECONDITION,
  invalid_argument: status.INVALID_ARGUMENT,
  usage: status.INVALID_ARGUMENT,
  format: status.INVALID_ARGUMENT,
  registry: status.UNAVAILABLE,
};

/** An error as a gRPC status for `callback(err)`. */
export function toServiceError(e: unknown): Partial<ServiceError> {
  const code = e instanceof UnavailableError ? status.UNAVAILABLE : e instanceof SociError ? (TO_STATUS[e.code] ?? status.UNKNOWN) : status.UNKNOWN;
  const message = e instanceof Error ? e.message : String(e);
  return { code, details: message, message };
}

/** An error from a call to containerd as a typed error, with `Cannot <action>: <what containerd said>`. */
export function fromServiceError(e: unknown, action: string): Error {
  const se = e as Partial<ServiceError>;
  if (typeof se?.code !== "number") return e instanceof Error ? e : new Error(String(e));
  const what = se.details || se.message || `gRPC status ${se.code}`;
  const msg = `Cannot ${action}: ${what}`;
  switch (se.code) {
    case status.NOT_FOUND:
      return new NotFoundError(msg, { cause: e });
    case status.ALREADY_EXISTS:
      return new AlreadyExistsError(msg, { cause: e });
    case status.FAILED_PRECONDITION:
      return new FailedPreconditionError(msg, { cause: e });
    case status.INVALID_ARGUMENT:
      return new InvalidArgumentError(msg, { cause: e });
    case status.UNAVAILABLE:
      return new SociError(msg, { cause: e, hint: "Is containerd running, and is the --address socket right?" });
    default:
      return new SociError(msg, { cause: e });
  }
}
