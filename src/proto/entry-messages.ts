// Message types of the SPIRE Entry service (spire.api.server.entry.v1),
// re-exported under readable names from the files that `npm run gen` writes to
// src/gen/. For each message `X`, `X` is the input shape (what a client call
// or a server callback accepts: fields optional, int64 as number | string |
// Long, bytes as Buffer | Uint8Array | string) and `X__Output` is the decoded
// shape (scalar defaults filled in, int64 as number, bytes as Buffer, a
// virtual property naming the set oneof member). Enums travel as their value
// names; the const of the same name lists them.

export type {
  BatchCreateEntryRequest,
  BatchCreateEntryRequest__Output,
} from "../gen/spire/api/server/entry/v1/BatchCreateEntryRequest.js";
export type {
  _spire_api_server_entry_v1_BatchCreateEntryResponse_Result as BatchCreateEntryResponseResult,
  _spire_api_server_entry_v1_BatchCreateEntryResponse_Result__Output as BatchCreateEntryResponseResult__Output,
  BatchCreateEntryResponse,
  BatchCreateEntryResponse__Output,
} from "../gen/spire/api/server/entry/v1/BatchCreateEntryResponse.js";
export type {
  BatchDeleteEntryRequest,
  BatchDeleteEntryRequest__Output,
} from "../gen/spire/api/server/entry/v1/BatchDeleteEntryRequest.js";
export type {
  _spire_api_server_entry_v1_BatchDeleteEntryResponse_Result as BatchDeleteEntryResponseResult,
  _spire_api_server_entry_v1_BatchDeleteEntryResponse_Result__Output as BatchDeleteEntryResponseResult__Output,
  BatchDeleteEntryResponse,
  BatchDeleteEntryResponse__Output,
} from "../gen/spire/api/server/entry/v1/BatchDeleteEntryResponse.js";
export type {
  BatchUpdateEntryRequest,
  BatchUpdateEntryRequest__Output,
} from "../gen/spire/api/server/entry/v1/BatchUpdateEntryRequest.js";
export type {
  _spire_api_server_entry_v1_BatchUpdateEntryResponse_Result as BatchUpdateEntryResponseResult,
  _spire_api_server_entry_v1_BatchUpdateEntryResponse_Result__Output as BatchUpdateEntryResponseResult__Output,
  BatchUpdateEntryResponse,
  BatchUpdateEntryResponse__Output,
} from "../gen/spire/api/server/entry/v1/BatchUpdateEntryResponse.js";
export type {
  _spire_api_server_entry_v1_CountEntriesRequest_Filter as CountEntriesRequestFilter,
  _spire_api_server_entry_v1_CountEntriesRequest_Filter__Output as CountEntriesRequestFilter__Output,
  CountEntriesRequest,
  CountEntriesRequest__Output,
} from "../gen/spire/api/server/entry/v1/CountEntriesRequest.js";
export type {
  CountEntriesResponse,
  CountEntriesResponse__Output,
} from "../gen/spire/api/server/entry/v1/CountEntriesResponse.js";
export type { EntryRevision, EntryRevision__Output } from "../gen/spire/api/server/entry/v1/EntryRevision.js";
export type {
  GetAuthorizedEntriesRequest,
  GetAuthorizedEntriesRequest__Output,
} from "../gen/spire/api/server/entry/v1/GetAuthorizedEntriesRequest.js";
export type {
  GetAuthorizedEntriesResponse,
  GetAuthorizedEntriesResponse__Output,
} from "../gen/spire/api/server/entry/v1/GetAuthorizedEntriesResponse.js";
export type {
  GetEntryRequest,
  GetEntryRequest__Output,
} from "../gen/spire/api/server/entry/v1/GetEntryRequest.js";
export type {
  _spire_api_server_entry_v1_ListEntriesRequest_Filter as ListEntriesRequestFilter,
  _spire_api_server_entry_v1_ListEntriesRequest_Filter__Output as ListEntriesRequestFilter__Output,
  ListEntriesRequest,
  ListEntriesRequest__Output,
} from "../gen/spire/api/server/entry/v1/ListEntriesRequest.js";
export type {
  ListEntriesResponse,
  ListEntriesResponse__Output,
} from "../gen/spire/api/server/entry/v1/ListEntriesResponse.js";
export type {
  SyncAuthorizedEntriesRequest,
  SyncAuthorizedEntriesRequest__Output,
} from "../gen/spire/api/server/entry/v1/SyncAuthorizedEntriesRequest.js";
export type {
  SyncAuthorizedEntriesResponse,
  SyncAuthorizedEntriesResponse__Output,
} from "../gen/spire/api/server/entry/v1/SyncAuthorizedEntriesResponse.js";
