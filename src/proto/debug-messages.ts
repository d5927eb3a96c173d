// Message types of the agent's Debug API (package spire.agent.debug.v1),
// re-exported under readable names from the files that `npm run gen` writes to
// src/gen/. `X` is the input shape (fields optional, int64 as number | string
// | Long) and `X__Output` the decoded shape (defaults filled in, int64 as
// number).

export type { GetInfoRequest, GetInfoRequest__Output } from "../gen/spire/agent/debug/v1/GetInfoRequest.js";
export type {
  _spire_agent_debug_v1_GetInfoResponse_Cert as GetInfoResponseCert,
  _spire_agent_debug_v1_GetInfoResponse_Cert__Output as GetInfoResponseCert__Output,
  GetInfoResponse,
  GetInfoResponse__Output,
} from "../gen/spire/agent/debug/v1/GetInfoResponse.js";
