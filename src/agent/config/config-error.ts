/**
 * Raised for an invalid agent configuration. The message names the setting (as written in
 * agent.conf, e.g. `agent.server_port`) and what to change.
 */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
}
