import { Metadata, status } from "@grpc/grpc-js";
import type { ServerErrorResponse } from "@grpc/grpc-js";
import type { types } from "../../proto/index.js";

/** A gRPC error a handler returns or throws; grpc-js sends `code`, `details` and `metadata`. */
export interface RpcError extends ServerErrorResponse {
  code: status;
  details: string;
}

/** Creates an error with a status code and message, for handlers to pass to callbacks. */
export function rpcError(code: status, message: string): RpcError {
  return Object.assign(new Error(message), { code, details: message });
}

/** Tells whether a thrown value is already an {@link RpcError}. */
export function isRpcError(value: unknown): value is RpcError {
  return value instanceof Error && typeof (value as Partial<RpcError>).code === "number";
}

/** Fully qualified name of the detail message the agent decodes from a PermissionDenied status. */
const PERMISSION_DENIED_DETAILS_TYPE_URL = "type.googleapis.com/spire.api.types.PermissionDeniedDetails";

/**
 * Creates a PermissionDenied error that carries a `spire.api.types.PermissionDeniedDetails`
 * status detail. SPIRE uses the detail to give an agent the reason (banned, expired, ...).
 *
 * The detail travels as a serialized `google.rpc.Status` in the `grpc-status-details-bin`
 * trailer, which Go's `status.FromError(err).Details()` and grpc-js clients both read.
 */
export function permissionDenied(reason: types.PermissionDeniedDetailsReason__Output, message: string): RpcError {
  const details = encodeMessage([varintField(1, reasonNumber(reason))]);
  const any = encodeMessage([bytesField(1, Buffer.from(PERMISSION_DENIED_DETAILS_TYPE_URL)), bytesField(2, details)]);
  const googleRpcStatus = encodeMessage([
    varintField(1, status.PERMISSION_DENIED),
    bytesField(2, Buffer.from(message)),
    bytesField(3, any),
  ]);

  const metadata = new Metadata();
  metadata.set("grpc-status-details-bin", googleRpcStatus);
  return Object.assign(rpcError(status.PERMISSION_DENIED, message), { metadata });
}

/** Enum numbers from spire.api.types.PermissionDeniedDetails.Reason (status.proto). */
const REASON_NUMBERS: Record<types.PermissionDeniedDetailsReason__Output, number> = {
  UNKNOWN: 0,
  AGENT_EXPIRED: 1,
  AGENT_NOT_ATTESTED: 2,
  AGENT_NOT_ACTIVE: 3,
  AGENT_BANNED: 4,
  AGENT_MUST_REATTEST: 5,
};

function reasonNumber(reason: types.PermissionDeniedDetailsReason__Output): number {
  return REASON_NUMBERS[reason];
}

// A protobuf writer for the three small messages above; the proto loader offers no
// serializer for messages that are not RPC arguments.

function encodeMessage(fields: Buffer[]): Buffer {
  return Buffer.concat(fields);
}

function varintField(fieldNumber: number, value: number): Buffer {
  return Buffer.concat([encodeVarint((fieldNumber << 3) | 0), encodeVarint(value)]);
}

function bytesField(fieldNumber: number, value: Buffer): Buffer {
  return Buffer.concat([encodeVarint((fieldNumber << 3) | 2), encodeVarint(value.length), value]);
}

function encodeVarint(value: number): Buffer {
  const bytes: number[] = [];
  let remaining = value;
  while (remaining > 0x7f) {
    bytes.push((remaining & 0x7f) | 0x80);
    remaining = Math.floor(remaining / 128);
  }
  bytes.push(remaining);
  return Buffer.from(bytes);
}
