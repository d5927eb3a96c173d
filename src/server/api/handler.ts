import { status } from "@grpc/grpc-js";
import type { handleUnaryCall, ServerUnaryCall } from "@grpc/grpc-js";
import type { Logger } from "../../common/log.js";
import { isRpcError, rpcError } from "../endpoints/rpc-error.js";
import type { RpcError } from "../endpoints/rpc-error.js";

/**
 * Turns any thrown value into a gRPC error and logs it. An RpcError keeps its code and is
 * logged at warn for PermissionDenied, error for Internal and info otherwise. Anything else
 * is an unexpected failure, so it is logged at error and sent as Internal with its message.
 */
export function toRpcError(log: Logger, method: string, error: unknown): RpcError {
  if (isRpcError(error)) {
    let level: "warn" | "error" | "info" = "info";
    if (error.code === status.PERMISSION_DENIED) level = "warn";
    if (error.code === status.INTERNAL) level = "error";
    log[level]({ method, code: status[error.code], error: error.details }, "Request failed");
    return error;
  }
  log.error({ method, err: error }, "Request failed");
  return rpcError(status.INTERNAL, `${method} failed: ${(error as Error).message ?? String(error)}`);
}

/** Wraps an async unary implementation so that its result or error reaches the callback. */
export function unary<Request, Response>(
  log: Logger,
  method: string,
  implementation: (call: ServerUnaryCall<Request, Response>) => Promise<Response> | Response,
): handleUnaryCall<Request, Response> {
  return (call, callback) => {
    Promise.resolve()
      .then(() => implementation(call))
      .then(
        (response) => callback(null, response),
        (error: unknown) => callback(toRpcError(log, method, error)),
      );
  };
}

/** A unary handler that returns Unimplemented, for API methods this server does not offer. */
export function unimplementedUnary<Request, Response>(method: string): handleUnaryCall<Request, Response> {
  return (_call, callback) => callback(rpcError(status.UNIMPLEMENTED, `${method} is not implemented by tessera-server`));
}

/** A streaming handler that returns Unimplemented. */
export function unimplementedStream(method: string): (call: { emit(event: "error", error: RpcError): boolean }) => void {
  return (call) => {
    call.emit("error", rpcError(status.UNIMPLEMENTED, `${method} is not implemented by tessera-server`));
  };
}

/** Throws InvalidArgument with `message`; a shorthand for request validation. */
export function invalidArgument(message: string): never {
  throw rpcError(status.INVALID_ARGUMENT, message);
}

/** Runs `work` and rethrows any plain Error as InvalidArgument prefixed with `context`. */
export function validating<T>(context: string, work: () => T): T {
  try {
    return work();
  } catch (error) {
    if (isRpcError(error)) throw error;
    throw rpcError(status.INVALID_ARGUMENT, `${context}: ${(error as Error).message}`);
  }
}
