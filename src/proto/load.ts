import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { loadPackageDefinition } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import type { Options, PackageDefinition } from "@grpc/proto-loader";

import type { ProtoGrpcType as AgentV1Grpc } from "../gen/agent-v1.js";
import type { ProtoGrpcType as BundleV1Grpc } from "../gen/bundle-v1.js";
import type { ProtoGrpcType as DebugV1Grpc } from "../gen/debug-v1.js";
import type { ProtoGrpcType as EntryV1Grpc } from "../gen/entry-v1.js";
import type { ProtoGrpcType as HealthV1Grpc } from "../gen/health-v1.js";
import type { ProtoGrpcType as LoggerV1Grpc } from "../gen/logger-v1.js";
import type { ProtoGrpcType as RpcStatusGrpc } from "../gen/rpc-status.js";
import type { ProtoGrpcType as SvidV1Grpc } from "../gen/svid-v1.js";
import type { ProtoGrpcType as WorkloadApiGrpc } from "../gen/workload-api.js";

/**
 * Options for @grpc/proto-loader. They must match GENERATOR_OPTIONS in
 * scripts/gen-proto-types.mjs, because the generated types in src/gen/
 * describe the objects this loader produces. Field names stay snake_case,
 * int64 becomes a JavaScript number (exact up to 2^53) and enums their names.
 * Decoded messages get scalar defaults and a virtual property naming the set
 * oneof member.
 */
export const PROTO_LOADER_OPTIONS: Readonly<Options> = Object.freeze({
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
});

/** Top-level .proto files, relative to the proto/ folder. Files they import load with them. */
export const PROTO_FILES: readonly string[] = Object.freeze([
  "spiffe/workload/workload.proto",
  "spire/api/server/agent/v1/agent.proto",
  "spire/api/server/svid/v1/svid.proto",
  "spire/api/server/entry/v1/entry.proto",
  "spire/api/server/bundle/v1/bundle.proto",
  "grpc/health/v1/health.proto",
  "google/rpc/status.proto",
  "spire/api/agent/debug/v1/debug.proto",
  "spire/api/agent/logger/v1/logger.proto",
]);

/** Everything the loaded .proto files define, typed by the generated ProtoGrpcType files. */
export type ProtoDescriptor = WorkloadApiGrpc &
  AgentV1Grpc &
  SvidV1Grpc &
  EntryV1Grpc &
  BundleV1Grpc &
  HealthV1Grpc &
  RpcStatusGrpc &
  DebugV1Grpc &
  LoggerV1Grpc;

const MARKER_FILE = join("proto", "spiffe", "workload", "workload.proto");

/**
 * Finds the repository's proto/ folder by walking up from this module.
 *
 * This module runs as src/proto/load.ts under vitest and as
 * dist/src/proto/load.js after tsc, so the folder sits at a different depth
 * in each case.
 */
export function findProtoDir(startDir: string = dirname(fileURLToPath(import.meta.url))): string {
  let current = startDir;

  for (;;) {
    if (existsSync(join(current, MARKER_FILE))) {
      return join(current, "proto");
    }

    const parent = dirname(current);
    if (parent === current) {
      throw new Error(`proto folder not found: no ${MARKER_FILE} in ${startDir} or any parent folder`);
    }
    current = parent;
  }
}

let cachedPackageDefinition: PackageDefinition | undefined;
let cachedDescriptor: ProtoDescriptor | undefined;

/**
 * Parses all top-level .proto files once and returns the proto-loader package
 * definition, keyed by fully qualified name ("spire.api.server.agent.v1.Agent",
 * "SpiffeWorkloadAPI", ...). Later calls return the same object.
 */
export function loadProtoPackageDefinition(): PackageDefinition {
  if (cachedPackageDefinition !== undefined) {
    return cachedPackageDefinition;
  }

  const protoDir = findProtoDir();
  try {
    cachedPackageDefinition = loadSync([...PROTO_FILES], {
      ...PROTO_LOADER_OPTIONS,
      includeDirs: [protoDir],
    });
  } catch (error) {
    throw new Error(`failed to load .proto files from ${protoDir}: ${String(error)}`, { cause: error });
  }

  return cachedPackageDefinition;
}

/**
 * Returns the grpc-js object tree for all loaded services and messages,
 * e.g. `descriptor.spire.api.server.agent.v1.Agent.service`. Built once.
 */
export function loadProtoDescriptor(): ProtoDescriptor {
  if (cachedDescriptor === undefined) {
    // The generated ProtoGrpcType files describe exactly this tree; grpc-js
    // itself only types it as a generic GrpcObject.
    cachedDescriptor = loadPackageDefinition(loadProtoPackageDefinition()) as unknown as ProtoDescriptor;
  }

  return cachedDescriptor;
}
