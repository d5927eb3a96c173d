import { status as Status } from "@grpc/grpc-js";
import type { ServiceError } from "@grpc/grpc-js";

/**
 * Creates the error object grpc-js turns into a call's final status: `code` and `details`
 * are sent to the client as they are.
 */
export function serviceError(code: Status, details: string): ServiceError {
  return Object.assign(new Error(details), { code, details, metadata: undefined as never });
}

/** Tells whether `error` carries a gRPC status code, i.e. was made by {@link serviceError} or grpc-js. */
export function isServiceError(error: unknown): error is ServiceError {
  return error instanceof Error && typeof (error as Partial<ServiceError>).code === "number";
}
