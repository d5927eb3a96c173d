// Message types of the SPIRE Agent service (spire.api.server.agent.v1),
// re-exported under readable names from the files that `npm run gen` writes to
// src/gen/. For each message `X`, `X` is the input shape (what a client call
// or a server callback accepts: fields optional, int64 as number | string |
// Long, bytes as Buffer | Uint8Array | string) and `X__Output` is the decoded
// shape (scalar defaults filled in, int64 as number, bytes as Buffer, a
// virtual property naming the set oneof member). Enums travel as their value
// names; the const of the same name lists them.

export type {
  AgentX509SVIDParams,
  AgentX509SVIDParams__Output,
} from "../gen/spire/api/server/agent/v1/AgentX509SVIDParams.js";
export type {
  _spire_api_server_agent_v1_AttestAgentRequest_Params as AttestAgentRequestParams,
  _spire_api_server_agent_v1_AttestAgentRequest_Params__Output as AttestAgentRequestParams__Output,
  AttestAgentRequest,
  AttestAgentRequest__Output,
} from "../gen/spire/api/server/agent/v1/AttestAgentRequest.js";
export type {
  _spire_api_server_agent_v1_AttestAgentResponse_Result as AttestAgentResponseResult,
  _spire_api_server_agent_v1_AttestAgentResponse_Result__Output as AttestAgentResponseResult__Output,
  AttestAgentResponse,
  AttestAgentResponse__Output,
} from "../gen/spire/api/server/agent/v1/AttestAgentResponse.js";
export type {
  BanAgentRequest,
  BanAgentRequest__Output,
} from "../gen/spire/api/server/agent/v1/BanAgentRequest.js";
export type {
  _spire_api_server_agent_v1_CountAgentsRequest_Filter as CountAgentsRequestFilter,
  _spire_api_server_agent_v1_CountAgentsRequest_Filter__Output as CountAgentsRequestFilter__Output,
  CountAgentsRequest,
  CountAgentsRequest__Output,
} from "../gen/spire/api/server/agent/v1/CountAgentsRequest.js";
export type {
  CountAgentsResponse,
  CountAgentsResponse__Output,
} from "../gen/spire/api/server/agent/v1/CountAgentsResponse.js";
export type {
  CreateJoinTokenRequest,
  CreateJoinTokenRequest__Output,
} from "../gen/spire/api/server/agent/v1/CreateJoinTokenRequest.js";
export type {
  DeleteAgentRequest,
  DeleteAgentRequest__Output,
} from "../gen/spire/api/server/agent/v1/DeleteAgentRequest.js";
export type {
  GetAgentRequest,
  GetAgentRequest__Output,
} from "../gen/spire/api/server/agent/v1/GetAgentRequest.js";
export type {
  _spire_api_server_agent_v1_ListAgentsRequest_Filter as ListAgentsRequestFilter,
  _spire_api_server_agent_v1_ListAgentsRequest_Filter__Output as ListAgentsRequestFilter__Output,
  ListAgentsRequest,
  ListAgentsRequest__Output,
} from "../gen/spire/api/server/agent/v1/ListAgentsRequest.js";
export type {
  ListAgentsResponse,
  ListAgentsResponse__Output,
} from "../gen/spire/api/server/agent/v1/ListAgentsResponse.js";
export type {
  PostStatusRequest,
  PostStatusRequest__Output,
} from "../gen/spire/api/server/agent/v1/PostStatusRequest.js";
export type {
  PostStatusResponse,
  PostStatusResponse__Output,
} from "../gen/spire/api/server/agent/v1/PostStatusResponse.js";
export type {
  RenewAgentRequest,
  RenewAgentRequest__Output,
} from "../gen/spire/api/server/agent/v1/RenewAgentRequest.js";
export type {
  RenewAgentResponse,
  RenewAgentResponse__Output,
} from "../gen/spire/api/server/agent/v1/RenewAgentResponse.js";
