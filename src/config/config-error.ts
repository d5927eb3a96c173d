/**
 * Raised for an invalid agent or server configuration. The message names the setting as
 * written in the file (e.g. `agent.server_port`) and what to change.
 */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
}
