// Message types of the agent's Logger API (package spire.api.agent.logger.v1)
// and of the spire.api.types logger messages it returns, re-exported under
// readable names from the files that `npm run gen` writes to src/gen/. `X` is
// the input shape (fields optional) and `X__Output` the decoded shape. Enums
// travel as their value names; the LogLevel const lists them.

export type { GetLoggerRequest, GetLoggerRequest__Output } from "../gen/spire/api/agent/logger/v1/GetLoggerRequest.js";
export type { ResetLogLevelRequest, ResetLogLevelRequest__Output } from "../gen/spire/api/agent/logger/v1/ResetLogLevelRequest.js";
export type { SetLogLevelRequest, SetLogLevelRequest__Output } from "../gen/spire/api/agent/logger/v1/SetLogLevelRequest.js";
export { LogLevel } from "../gen/spire/api/types/LogLevel.js";
export type { LogLevel__Output } from "../gen/spire/api/types/LogLevel.js";
export type { Logger, Logger__Output } from "../gen/spire/api/types/Logger.js";
