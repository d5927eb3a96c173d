import { status as Status } from "@grpc/grpc-js";
import type { Metadata, ServerWritableStream, ServiceError, sendUnaryData } from "@grpc/grpc-js";
import { hasSecurityHeader, missingSecurityHeaderError } from "./call-authorization.js";
import { serviceError } from "./grpc-status.js";

// The JWT methods are unimplemented only when the endpoint starts without a JwtSource.
const JWT_NOT_SUPPORTED = "is not implemented: this agent serves X.509-SVIDs only, JWT-SVIDs are not enabled";
const WIT_NOT_SUPPORTED = "is not implemented: this agent does not serve WIT-SVIDs";

/**
 * Returns the Unimplemented error for a Workload API method this agent does not serve.
 * A request without the security header gets InvalidArgument instead, as for every
 * other Workload API method.
 */
export function unimplementedError(method: string, metadata: Metadata): ServiceError {
  if (!hasSecurityHeader(metadata)) {
    return missingSecurityHeaderError();
  }

  const reason = method.includes("WIT") ? WIT_NOT_SUPPORTED : JWT_NOT_SUPPORTED;
  return serviceError(Status.UNIMPLEMENTED, `${method} ${reason}`);
}

/** Creates a unary handler that always fails with {@link unimplementedError}. */
export function unimplementedUnary(method: string) {
  return (call: { metadata: Metadata }, callback: sendUnaryData<never>): void => {
    callback(unimplementedError(method, call.metadata));
  };
}

/** Creates a server-streaming handler that always ends with {@link unimplementedError}. */
export function unimplementedStream(method: string) {
  return (call: ServerWritableStream<unknown, unknown>): void => {
    call.emit("error", unimplementedError(method, call.metadata));
  };
}
