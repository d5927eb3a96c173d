// Entry point for protocol code: service definitions, clients and message
// types for the SPIFFE Workload API, the SPIRE server APIs, the agent admin
// APIs (Debug, Logger) and gRPC health.
//
// Message types are grouped by proto package, so names that exist in two
// packages (the Workload API's X509SVID and spire.api.types.X509SVID) stay
// apart: `import type { types, workload } from "../proto/index.js"` and then
// `types.Entry__Output` or `workload.X509SVIDResponse`.

export * from "./services.js";
export { findProtoDir, loadProtoDescriptor, loadProtoPackageDefinition, PROTO_LOADER_OPTIONS, PROTO_FILES } from "./load.js";
export type { ProtoDescriptor } from "./load.js";
export { decodeMessage, encodeMessage } from "./codec.js";
export { permissionDeniedMetadata, readPermissionDeniedReason, STATUS_DETAILS_KEY } from "./status-details.js";

export * as workload from "./workload-messages.js";
export * as types from "./spire-types.js";
export * as agentv1 from "./agent-messages.js";
export * as svidv1 from "./svid-messages.js";
export * as entryv1 from "./entry-messages.js";
export * as bundlev1 from "./bundle-messages.js";
export * as health from "./health-messages.js";
export * as wellknown from "./well-known-types.js";
export * as debugv1 from "./debug-messages.js";
export * as loggerv1 from "./logger-messages.js";
