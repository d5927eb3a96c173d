import { status } from "@grpc/grpc-js";
import type { ServiceError } from "@grpc/grpc-js";

/** Names of spire.api.types.PermissionDeniedDetails.Reason, indexed by enum number. */
const REASONS = ["UNKNOWN", "AGENT_EXPIRED", "AGENT_NOT_ATTESTED", "AGENT_NOT_ACTIVE", "AGENT_BANNED", "AGENT_MUST_REATTEST"] as const;

/** Reason the server rejected the agent, from a PermissionDenied status detail. */
export type PermissionDeniedReason = (typeof REASONS)[number];

const DETAILS_TYPE_URL = "type.googleapis.com/spire.api.types.PermissionDeniedDetails";

/**
 * Returns the reason carried by a PermissionDenied error from the server, read from the
 * `google.rpc.Status` in its `grpc-status-details-bin` trailer. Returns undefined for any
 * other error, and `UNKNOWN` when the status is PermissionDenied without a readable detail.
 */
export function permissionDeniedReason(error: unknown): PermissionDeniedReason | undefined {
  const serviceError = error as Partial<ServiceError> | undefined;
  if (serviceError?.code !== status.PERMISSION_DENIED) {
    return undefined;
  }

  const trailer = serviceError.metadata?.get("grpc-status-details-bin")[0];
  if (!Buffer.isBuffer(trailer)) {
    return "UNKNOWN";
  }

  try {
    for (const detail of readFields(trailer).filter((field) => field.number === 3)) {
      const any = readFields(detail.bytes as Buffer);
      const typeUrl = any.find((field) => field.number === 1)?.bytes?.toString();
      const value = any.find((field) => field.number === 2)?.bytes;
      if (typeUrl === DETAILS_TYPE_URL && value !== undefined) {
        const reason = readFields(value).find((field) => field.number === 1)?.varint ?? 0;
        return REASONS[reason] ?? "UNKNOWN";
      }
    }
  } catch {
    // A malformed trailer leaves the reason unknown, but the status code alone is enough to act on.
  }
  return "UNKNOWN";
}

/**
 * Tells whether the server refused the agent in a way that needs a new attestation (SPIRE's
 * "should reattest" set, plus a ban): retrying with the same SVID cannot succeed.
 */
export function isAgentRejected(reason: PermissionDeniedReason | undefined): boolean {
  return reason !== undefined && reason !== "UNKNOWN";
}

interface WireField {
  number: number;
  varint?: number;
  bytes?: Buffer;
}

/** Reads the top-level fields of a protobuf message: varints and length-delimited fields only. */
function readFields(message: Buffer): WireField[] {
  const fields: WireField[] = [];
  let offset = 0;

  const readVarint = (): number => {
    let value = 0;
    let scale = 1;
    for (;;) {
      const byte = message[offset++];
      if (byte === undefined) {
        throw new Error("truncated varint");
      }
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) {
        return value;
      }
      scale *= 128;
    }
  };

  while (offset < message.length) {
    const key = readVarint();
    const number = Math.floor(key / 8);
    const wireType = key % 8;

    if (wireType === 0) {
      fields.push({ number, varint: readVarint() });
    } else if (wireType === 2) {
      const length = readVarint();
      if (offset + length > message.length) {
        throw new Error("truncated length-delimited field");
      }
      fields.push({ number, bytes: message.subarray(offset, offset + length) });
      offset += length;
    } else if (wireType === 5) {
      offset += 4;
    } else if (wireType === 1) {
      offset += 8;
    } else {
      throw new Error(`unsupported wire type ${wireType}`);
    }
  }
  return fields;
}
