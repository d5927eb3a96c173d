import { createRequire } from "node:module";
import { isAbsolute, join } from "node:path";

import type { Root, Type } from "protobufjs";

import { findProtoDir, PROTO_FILES, PROTO_LOADER_OPTIONS } from "./load.js";

// protobufjs is the encoder @grpc/proto-loader itself uses. Resolving it from
// proto-loader's location gives the exact same copy without a separate
// dependency entry.
const requireFromHere = createRequire(import.meta.url);
const protobuf = createRequire(requireFromHere.resolve("@grpc/proto-loader"))("protobufjs") as typeof import("protobufjs");

let cachedRoot: Root | undefined;

function loadRoot(): Root {
  if (cachedRoot !== undefined) {
    return cachedRoot;
  }

  const protoDir = findProtoDir();
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => (isAbsolute(target) ? target : join(protoDir, target));

  try {
    root.loadSync([...PROTO_FILES], { keepCase: true });
    root.resolveAll();
  } catch (error) {
    throw new Error(`failed to load .proto files from ${protoDir}: ${String(error)}`, { cause: error });
  }

  cachedRoot = root;
  return root;
}

function lookupMessageType(typeName: string): Type {
  try {
    return loadRoot().lookupType(typeName);
  } catch (error) {
    throw new Error(`unknown protobuf message type ${typeName}: ${String(error)}`, { cause: error });
  }
}

/**
 * Encodes a message that is not an RPC argument (RPC arguments go through
 * the service definitions' serializers), e.g. "spire.api.types.PermissionDeniedDetails".
 * The value uses the same object shape as the generated input types.
 */
export function encodeMessage(typeName: string, value: object): Buffer {
  const type = lookupMessageType(typeName);
  const bytes = type.encode(type.fromObject(value as Record<string, unknown>)).finish();

  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Decodes a message by fully qualified name into the shape of the generated
 * `__Output` type (same conversion options as the gRPC loader). The caller
 * names the expected type, which is not checked beyond the decode itself.
 * Throws on malformed bytes.
 */
export function decodeMessage<T>(typeName: string, bytes: Uint8Array): T {
  const type = lookupMessageType(typeName);

  return type.toObject(type.decode(bytes), PROTO_LOADER_OPTIONS) as T;
}
