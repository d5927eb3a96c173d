// Message types of the SPIRE SVID service (spire.api.server.svid.v1),
// re-exported under readable names from the files that `npm run gen` writes to
// src/gen/. For each message `X`, `X` is the input shape (what a client call
// or a server callback accepts: fields optional, int64 as number | string |
// Long, bytes as Buffer | Uint8Array | string) and `X__Output` is the decoded
// shape (scalar defaults filled in, int64 as number, bytes as Buffer, a
// virtual property naming the set oneof member). Enums travel as their value
// names; the const of the same name lists them.

export type {
  BatchNewWITSVIDRequest,
  BatchNewWITSVIDRequest__Output,
} from "../gen/spire/api/server/svid/v1/BatchNewWITSVIDRequest.js";
export type {
  _spire_api_server_svid_v1_BatchNewWITSVIDResponse_Result as BatchNewWITSVIDResponseResult,
  _spire_api_server_svid_v1_BatchNewWITSVIDResponse_Result__Output as BatchNewWITSVIDResponseResult__Output,
  BatchNewWITSVIDResponse,
  BatchNewWITSVIDResponse__Output,
} from "../gen/spire/api/server/svid/v1/BatchNewWITSVIDResponse.js";
export type {
  BatchNewX509SVIDRequest,
  BatchNewX509SVIDRequest__Output,
} from "../gen/spire/api/server/svid/v1/BatchNewX509SVIDRequest.js";
export type {
  _spire_api_server_svid_v1_BatchNewX509SVIDResponse_Result as BatchNewX509SVIDResponseResult,
  _spire_api_server_svid_v1_BatchNewX509SVIDResponse_Result__Output as BatchNewX509SVIDResponseResult__Output,
  BatchNewX509SVIDResponse,
  BatchNewX509SVIDResponse__Output,
} from "../gen/spire/api/server/svid/v1/BatchNewX509SVIDResponse.js";
export type {
  MintJWTSVIDRequest,
  MintJWTSVIDRequest__Output,
} from "../gen/spire/api/server/svid/v1/MintJWTSVIDRequest.js";
export type {
  MintJWTSVIDResponse,
  MintJWTSVIDResponse__Output,
} from "../gen/spire/api/server/svid/v1/MintJWTSVIDResponse.js";
export type {
  MintWITSVIDRequest,
  MintWITSVIDRequest__Output,
} from "../gen/spire/api/server/svid/v1/MintWITSVIDRequest.js";
export type {
  MintWITSVIDResponse,
  MintWITSVIDResponse__Output,
} from "../gen/spire/api/server/svid/v1/MintWITSVIDResponse.js";
export type {
  MintX509SVIDRequest,
  MintX509SVIDRequest__Output,
} from "../gen/spire/api/server/svid/v1/MintX509SVIDRequest.js";
export type {
  MintX509SVIDResponse,
  MintX509SVIDResponse__Output,
} from "../gen/spire/api/server/svid/v1/MintX509SVIDResponse.js";
export type {
  NewDownstreamX509CARequest,
  NewDownstreamX509CARequest__Output,
} from "../gen/spire/api/server/svid/v1/NewDownstreamX509CARequest.js";
export type {
  NewDownstreamX509CAResponse,
  NewDownstreamX509CAResponse__Output,
} from "../gen/spire/api/server/svid/v1/NewDownstreamX509CAResponse.js";
export type {
  NewJWTSVIDRequest,
  NewJWTSVIDRequest__Output,
} from "../gen/spire/api/server/svid/v1/NewJWTSVIDRequest.js";
export type {
  NewJWTSVIDResponse,
  NewJWTSVIDResponse__Output,
} from "../gen/spire/api/server/svid/v1/NewJWTSVIDResponse.js";
export type {
  NewWITSVIDParams,
  NewWITSVIDParams__Output,
} from "../gen/spire/api/server/svid/v1/NewWITSVIDParams.js";
export type {
  NewX509SVIDParams,
  NewX509SVIDParams__Output,
} from "../gen/spire/api/server/svid/v1/NewX509SVIDParams.js";
