// Helpers for the wire-format tests in this folder.

import type { ServiceDefinition } from "@grpc/grpc-js";

/**
 * Builds a byte string from hand-written protobuf wire parts: numbers are
 * single bytes (tags, lengths, varint bytes) and strings are their ASCII
 * bytes. Tests use it to state expected encodings literally, so a wrong field
 * number in a .proto file shows up as a byte mismatch.
 */
export function wireBytes(...parts: ReadonlyArray<number | string>): Buffer {
  const bytes: number[] = [];

  for (const part of parts) {
    if (typeof part === "string") {
      bytes.push(...Buffer.from(part, "ascii"));
      continue;
    }

    if (!Number.isInteger(part) || part < 0 || part > 0xff) {
      throw new RangeError(`invalid wire byte ${part}: expected an integer from 0 to 255`);
    }
    bytes.push(part);
  }

  return Buffer.from(bytes);
}

/** HTTP/2 path and streaming flags of one gRPC method. */
export interface MethodShape {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
}

/** Lists path and streaming flags of every method of a service, keyed by method name. */
export function methodShapes(service: ServiceDefinition): Record<string, MethodShape> {
  const shapes: Record<string, MethodShape> = {};

  for (const [name, method] of Object.entries(service)) {
    shapes[name] = { path: method.path, requestStream: method.requestStream, responseStream: method.responseStream };
  }

  return shapes;
}

/** Builds a MethodShape for a unary call. */
export function unary(path: string): MethodShape {
  return { path, requestStream: false, responseStream: false };
}

/** Builds a MethodShape for a server-streaming call. */
export function serverStream(path: string): MethodShape {
  return { path, requestStream: false, responseStream: true };
}

/** Builds a MethodShape for a bidirectional streaming call. */
export function bidiStream(path: string): MethodShape {
  return { path, requestStream: true, responseStream: true };
}
