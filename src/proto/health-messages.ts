// Message types of the gRPC health service (grpc.health.v1), re-exported under
// readable names from the files that `npm run gen` writes to src/gen/. For
// each message `X`, `X` is the input shape (what a client call or a server
// callback accepts: fields optional, int64 as number | string | Long, bytes as
// Buffer | Uint8Array | string) and `X__Output` is the decoded shape (scalar
// defaults filled in, int64 as number, bytes as Buffer, a virtual property
// naming the set oneof member). Enums travel as their value names; the const
// of the same name lists them.

export type {
  HealthCheckRequest,
  HealthCheckRequest__Output,
} from "../gen/grpc/health/v1/HealthCheckRequest.js";
export { _grpc_health_v1_HealthCheckResponse_ServingStatus as ServingStatus } from "../gen/grpc/health/v1/HealthCheckResponse.js";
export type {
  _grpc_health_v1_HealthCheckResponse_ServingStatus__Output as ServingStatus__Output,
  HealthCheckResponse,
  HealthCheckResponse__Output,
} from "../gen/grpc/health/v1/HealthCheckResponse.js";
