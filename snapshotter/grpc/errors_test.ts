import assert from "node:assert/strict";
import { status } from "@grpc/grpc-js";
import { test } from "node:test";
import { AlreadyExistsError, FailedPreconditionError, FormatError, InvalidArgumentError, NotFoundError, SociError } from "../../core-wasm/src/errors.ts";
import { UnavailableError } from "../snapshots/mod.ts";
import { infoFromPb, infoToPb } from "./convert.ts";
import { fromServiceError, toServiceError } from "./errors.ts";

test("toServiceError() maps error kinds to containerd's gRPC codes, keeping the message", () => {
  assert.equal(toServiceError(new NotFoundError("Cannot x: y")).code, status.NOT_FOUND);
  assert.equal(toServiceError(new AlreadyExistsError("a")).code, status.ALREADY_EXISTS);
  assert.equal(toServiceError(new FailedPreconditionError("a")).code, status.FAILED_PRECONDITION);
  assert.equal(toServiceError(new InvalidArgumentError("a")).code, status.INVALID_ARGUMENT);
  assert.equal(toServiceError(new FormatError("bad")).code, status.INVALID_ARGUMENT);
  assert.equal(toServiceError(new SociError("a")).code, status.UNKNOWN);
  assert.equal(toServiceError(new UnavailableError("Cannot use layer: gone")).code, status.UNAVAILABLE);
  assert.equal(toServiceError(new Error("plain")).code, status.UNKNOWN);
  assert.equal(toServiceError(new NotFoundError("Cannot find snapshot \"k\": it does not exist")).details, 'Cannot find snapshot "k": it does not exist');
});

test("fromServiceError() maps codes back to typed errors with the action", () => {
  const e = fromServiceError({ code: status.NOT_FOUND, details: "snapshot x: not found" }, "stat snapshot x");
  assert.ok(e instanceof NotFoundError);
  assert.equal(e.message, "Cannot stat snapshot x: snapshot x: not found");
  assert.ok(fromServiceError({ code: status.ALREADY_EXISTS, details: "" }, "a") instanceof AlreadyExistsError);
  assert.ok(fromServiceError({ code: status.FAILED_PRECONDITION, details: "" }, "a") instanceof FailedPreconditionError);
  assert.ok(fromServiceError({ code: status.INVALID_ARGUMENT, details: "" }, "a") instanceof InvalidArgumentError);
  const u = fromServiceError({ code: status.UNAVAILABLE, details: "connection refused" }, "prepare");
  assert.ok(u instanceof SociError && u.hint !== undefined);
  const plain = new Error("x");
  assert.equal(fromServiceError(plain, "a"), plain);
});

test("Info round-trips through the protobuf shape; UNKNOWN kind reads as active", () => {
  const i = { name: "n", parent: "p", kind: "committed" as const, labels: { a: "b" }, createdAt: { seconds: 5, nanos: 6 }, updatedAt: { seconds: 7, nanos: 8 } };
  assert.deepEqual(infoFromPb(infoToPb(i)), i);
  assert.equal(infoToPb(i).kind, "COMMITTED");
  assert.equal(infoFromPb({ ...infoToPb(i), kind: "UNKNOWN" }).kind, "active");
  assert.deepEqual(infoFromPb(null).createdAt, { seconds: 0, nanos: 0 });
});
