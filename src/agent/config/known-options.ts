/**
 * The names of every setting SPIRE's agent documents (doc/spire_agent.md in SPIRE's
 * repository), split into those Tessera implements and those it recognises but does not
 * implement yet. A recognised but unimplemented setting is rejected with "not supported
 * yet" instead of "unknown", so a SPIRE configuration fails with a message that gives the reason.
 */

/** `agent {}` settings Tessera implements. */
export const SUPPORTED_AGENT_OPTIONS: readonly string[] = [
  "admin_socket_path",
  "allow_unauthenticated_verifiers",
  "allowed_foreign_jwt_claims",
  "availability_target",
  "data_dir",
  "experimental",
  "insecure_bootstrap",
  "join_token",
  "join_token_file",
  "jwt_svid_cache_max_size",
  "log_file",
  "log_format",
  "log_level",
  "log_selectors",
  // A Tessera addition with no SPIRE counterpart: the folder of the runtime cache.
  "runtime_dir",
  "server_address",
  "server_port",
  "socket_path",
  "trust_bundle_format",
  "trust_bundle_path",
  "trust_domain",
  "workload_x509_svid_key_type",
  "x509_svid_cache_max_size",
];

/** `agent {}` settings SPIRE documents that Tessera does not implement yet. */
export const UNSUPPORTED_AGENT_OPTIONS: readonly string[] = [
  "authorized_delegates",
  "disable_sds_api",
  "disable_workload_api",
  "log_source_location",
  "profiling_enabled",
  "profiling_freq",
  "profiling_names",
  "profiling_port",
  "rebootstrap_delay",
  "rebootstrap_mode",
  "sds",
  "trust_bundle_spiffe_workload_api",
  "trust_bundle_unix_socket",
  "trust_bundle_url",
];

/** `agent { experimental {} }` settings Tessera implements. */
export const SUPPORTED_EXPERIMENTAL_OPTIONS: readonly string[] = ["jwt_svid_cache_hit_timeout", "sync_interval"];

/** `agent { experimental {} }` settings SPIRE documents that Tessera does not implement yet. */
export const UNSUPPORTED_EXPERIMENTAL_OPTIONS: readonly string[] = [
  "admin_named_pipe_name",
  "broker",
  "feature_flags",
  "named_pipe_name",
  "ratelimit",
  "require_pq_kem",
  "use_sync_authorized_entries",
];

/** Top-level blocks Tessera implements. */
export const SUPPORTED_TOP_LEVEL_BLOCKS: readonly string[] = ["agent", "health_checks", "plugins", "telemetry"];

/** Top-level blocks SPIRE documents that Tessera does not implement yet. */
export const UNSUPPORTED_TOP_LEVEL_BLOCKS: readonly string[] = [];

/** `telemetry {}` settings Tessera implements (SPIRE: doc/telemetry/telemetry_config.md). */
export const SUPPORTED_TELEMETRY_OPTIONS: readonly string[] = ["EnableHostnameLabel", "EnableTrustDomainLabel", "MetricPrefix", "Prometheus"];

/** `telemetry {}` sinks and filters SPIRE has that Tessera does not implement yet. */
export const UNSUPPORTED_TELEMETRY_OPTIONS: readonly string[] = [
  "AllowedLabels",
  "AllowedPrefixes",
  "BlockedLabels",
  "BlockedPrefixes",
  "DogStatsd",
  "InMem",
  "M3",
  "Statsd",
];

/** `telemetry { Prometheus {} }` settings Tessera implements. */
export const SUPPORTED_PROMETHEUS_OPTIONS: readonly string[] = ["host", "port"];

/** `telemetry { Prometheus {} }` settings SPIRE has that Tessera does not implement yet (TLS for the endpoint). */
export const UNSUPPORTED_PROMETHEUS_OPTIONS: readonly string[] = ["tls"];

/** `health_checks {}` settings; Tessera implements all of SPIRE's. */
export const SUPPORTED_HEALTH_CHECKS_OPTIONS: readonly string[] = ["bind_address", "bind_port", "listener_enabled", "live_path", "ready_path"];

/** Settings every `plugins { Type "name" {} }` block may have in SPIRE. */
export const SUPPORTED_PLUGIN_OPTIONS: readonly string[] = ["enabled", "plugin_data"];

/** Plugin block settings SPIRE documents that Tessera does not implement yet (external plugins, data files). */
export const UNSUPPORTED_PLUGIN_OPTIONS: readonly string[] = ["plugin_checksum", "plugin_cmd", "plugin_data_file"];
