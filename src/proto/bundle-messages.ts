// Message types of the SPIRE Bundle service (spire.api.server.bundle.v1),
// re-exported under readable names from the files that `npm run gen` writes to
// src/gen/. For each message `X`, `X` is the input shape (what a client call
// or a server callback accepts: fields optional, int64 as number | string |
// Long, bytes as Buffer | Uint8Array | string) and `X__Output` is the decoded
// shape (scalar defaults filled in, int64 as number, bytes as Buffer, a
// virtual property naming the set oneof member). Enums travel as their value
// names; the const of the same name lists them.

export type {
  AppendBundleRequest,
  AppendBundleRequest__Output,
} from "../gen/spire/api/server/bundle/v1/AppendBundleRequest.js";
export type {
  BatchCreateFederatedBundleRequest,
  BatchCreateFederatedBundleRequest__Output,
} from "../gen/spire/api/server/bundle/v1/BatchCreateFederatedBundleRequest.js";
export type {
  _spire_api_server_bundle_v1_BatchCreateFederatedBundleResponse_Result as BatchCreateFederatedBundleResponseResult,
  _spire_api_server_bundle_v1_BatchCreateFederatedBundleResponse_Result__Output as BatchCreateFederatedBundleResponseResult__Output,
  BatchCreateFederatedBundleResponse,
  BatchCreateFederatedBundleResponse__Output,
} from "../gen/spire/api/server/bundle/v1/BatchCreateFederatedBundleResponse.js";
export { _spire_api_server_bundle_v1_BatchDeleteFederatedBundleRequest_Mode as BatchDeleteFederatedBundleMode } from "../gen/spire/api/server/bundle/v1/BatchDeleteFederatedBundleRequest.js";
export type {
  _spire_api_server_bundle_v1_BatchDeleteFederatedBundleRequest_Mode__Output as BatchDeleteFederatedBundleMode__Output,
  BatchDeleteFederatedBundleRequest,
  BatchDeleteFederatedBundleRequest__Output,
} from "../gen/spire/api/server/bundle/v1/BatchDeleteFederatedBundleRequest.js";
export type {
  _spire_api_server_bundle_v1_BatchDeleteFederatedBundleResponse_Result as BatchDeleteFederatedBundleResponseResult,
  _spire_api_server_bundle_v1_BatchDeleteFederatedBundleResponse_Result__Output as BatchDeleteFederatedBundleResponseResult__Output,
  BatchDeleteFederatedBundleResponse,
  BatchDeleteFederatedBundleResponse__Output,
} from "../gen/spire/api/server/bundle/v1/BatchDeleteFederatedBundleResponse.js";
export type {
  BatchSetFederatedBundleRequest,
  BatchSetFederatedBundleRequest__Output,
} from "../gen/spire/api/server/bundle/v1/BatchSetFederatedBundleRequest.js";
export type {
  _spire_api_server_bundle_v1_BatchSetFederatedBundleResponse_Result as BatchSetFederatedBundleResponseResult,
  _spire_api_server_bundle_v1_BatchSetFederatedBundleResponse_Result__Output as BatchSetFederatedBundleResponseResult__Output,
  BatchSetFederatedBundleResponse,
  BatchSetFederatedBundleResponse__Output,
} from "../gen/spire/api/server/bundle/v1/BatchSetFederatedBundleResponse.js";
export type {
  BatchUpdateFederatedBundleRequest,
  BatchUpdateFederatedBundleRequest__Output,
} from "../gen/spire/api/server/bundle/v1/BatchUpdateFederatedBundleRequest.js";
export type {
  _spire_api_server_bundle_v1_BatchUpdateFederatedBundleResponse_Result as BatchUpdateFederatedBundleResponseResult,
  _spire_api_server_bundle_v1_BatchUpdateFederatedBundleResponse_Result__Output as BatchUpdateFederatedBundleResponseResult__Output,
  BatchUpdateFederatedBundleResponse,
  BatchUpdateFederatedBundleResponse__Output,
} from "../gen/spire/api/server/bundle/v1/BatchUpdateFederatedBundleResponse.js";
export type {
  CountBundlesRequest,
  CountBundlesRequest__Output,
} from "../gen/spire/api/server/bundle/v1/CountBundlesRequest.js";
export type {
  CountBundlesResponse,
  CountBundlesResponse__Output,
} from "../gen/spire/api/server/bundle/v1/CountBundlesResponse.js";
export type {
  GetBundleRequest,
  GetBundleRequest__Output,
} from "../gen/spire/api/server/bundle/v1/GetBundleRequest.js";
export type {
  GetFederatedBundleRequest,
  GetFederatedBundleRequest__Output,
} from "../gen/spire/api/server/bundle/v1/GetFederatedBundleRequest.js";
export type {
  ListFederatedBundlesRequest,
  ListFederatedBundlesRequest__Output,
} from "../gen/spire/api/server/bundle/v1/ListFederatedBundlesRequest.js";
export type {
  ListFederatedBundlesResponse,
  ListFederatedBundlesResponse__Output,
} from "../gen/spire/api/server/bundle/v1/ListFederatedBundlesResponse.js";
export type {
  PublishJWTAuthorityRequest,
  PublishJWTAuthorityRequest__Output,
} from "../gen/spire/api/server/bundle/v1/PublishJWTAuthorityRequest.js";
export type {
  PublishJWTAuthorityResponse,
  PublishJWTAuthorityResponse__Output,
} from "../gen/spire/api/server/bundle/v1/PublishJWTAuthorityResponse.js";
export type {
  PublishWITAuthorityRequest,
  PublishWITAuthorityRequest__Output,
} from "../gen/spire/api/server/bundle/v1/PublishWITAuthorityRequest.js";
export type {
  PublishWITAuthorityResponse,
  PublishWITAuthorityResponse__Output,
} from "../gen/spire/api/server/bundle/v1/PublishWITAuthorityResponse.js";
