import { Metadata, status } from "@grpc/grpc-js";

import type { Status__Output as RpcStatusOutput } from "../gen/google/rpc/Status.js";
import type {
  PermissionDeniedDetails__Output,
  PermissionDeniedDetailsReason__Output,
} from "./spire-types.js";
import { decodeMessage, encodeMessage } from "./codec.js";

/** Binary trailer in which gRPC servers send a serialized google.rpc.Status with typed details. */
export const STATUS_DETAILS_KEY = "grpc-status-details-bin";

const TYPE_URL_PREFIX = "type.googleapis.com/";
const PERMISSION_DENIED_DETAILS = "spire.api.types.PermissionDeniedDetails";

/**
 * Builds trailer metadata for a PermissionDenied error that explains to the
 * agent why it was rejected, as SPIRE servers do. Pass it as `metadata` next to
 * `code: status.PERMISSION_DENIED` and the same `details` message.
 */
export function permissionDeniedMetadata(reason: PermissionDeniedDetailsReason__Output, message: string): Metadata {
  const detail = encodeMessage(PERMISSION_DENIED_DETAILS, { reason });
  const rpcStatus = encodeMessage("google.rpc.Status", {
    code: status.PERMISSION_DENIED,
    message,
    details: [{ type_url: TYPE_URL_PREFIX + PERMISSION_DENIED_DETAILS, value: detail }],
  });

  const metadata = new Metadata();
  metadata.set(STATUS_DETAILS_KEY, rpcStatus);
  return metadata;
}

/**
 * Returns the PermissionDeniedDetails reason carried in an error's trailer
 * metadata, or undefined when the trailer is missing, malformed or contains
 * no such detail.
 */
export function readPermissionDeniedReason(
  metadata: Metadata | undefined,
): PermissionDeniedDetailsReason__Output | undefined {
  const raw = metadata?.get(STATUS_DETAILS_KEY)[0];
  if (!Buffer.isBuffer(raw)) {
    return undefined;
  }

  try {
    const rpcStatus = decodeMessage<RpcStatusOutput>("google.rpc.Status", raw);
    const detail = rpcStatus.details.find((any) => any.type_url === TYPE_URL_PREFIX + PERMISSION_DENIED_DETAILS);
    if (detail === undefined) {
      return undefined;
    }

    return decodeMessage<PermissionDeniedDetails__Output>(PERMISSION_DENIED_DETAILS, detail.value).reason;
  } catch {
    // A malformed trailer carries no usable reason. The caller still has the
    // status code and message.
    return undefined;
  }
}
