import { status } from "@grpc/grpc-js";
import type { ServiceError } from "@grpc/grpc-js";

import type { PermissionDeniedReason } from "./permission-denied.js";
import { permissionDeniedReason } from "./permission-denied.js";

/** A failed call to the server, with the gRPC status and, for PermissionDenied, the server's reason. */
export class ServerRpcError extends Error {
  override readonly name = "ServerRpcError";

  constructor(
    message: string,
    /** gRPC status code; UNKNOWN for failures that were not gRPC statuses. */
    readonly code: status,
    readonly statusMessage: string,
    readonly reason: PermissionDeniedReason | undefined,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/**
 * Wraps a failed call in a {@link ServerRpcError} whose message starts with `what`
 * ("failed to fetch bundle") and names the status, plus the server's reason when it
 * refused the agent (for example AGENT_BANNED). An error that is already a
 * ServerRpcError is returned as it is.
 */
export function toServerRpcError(what: string, error: unknown): ServerRpcError {
  if (error instanceof ServerRpcError) {
    return error;
  }

  const serviceError = error as Partial<ServiceError> | undefined;
  const code = typeof serviceError?.code === "number" ? serviceError.code : status.UNKNOWN;
  const statusMessage =
    typeof serviceError?.details === "string" && serviceError.details !== "" ? cleanStatusDetails(serviceError.details) : String((error as Error)?.message ?? error);
  const reason = permissionDeniedReason(error);

  const detail = reason === undefined ? statusMessage : `${statusMessage} (reason ${reason})`;
  return new ServerRpcError(`${what}: ${status[code]}: ${detail}`, code, statusMessage, reason, { cause: error });
}

/**
 * Removes two artifacts of grpc-js 1.14 from the details of a failed connection: the
 * "Error: " before the last error, and a trailing "Resolution note: " that has no note.
 */
export function cleanStatusDetails(details: string): string {
  return details.replace("Last error: Error: ", "Last error: ").replace(/\.? Resolution note: *$/, "");
}

/**
 * Returns log fields for an error: `error` (the message) and, for a failed server call,
 * `status_code` (the gRPC code name) and `reason` when the server refused the agent.
 */
export function errorLogFields(error: unknown): Record<string, unknown> {
  const fields: Record<string, unknown> = { error: error instanceof Error ? error.message : String(error) };
  if (error instanceof ServerRpcError) {
    fields.status_code = status[error.code];
    if (error.reason !== undefined) {
      fields.reason = error.reason;
    }
  }
  return fields;
}
