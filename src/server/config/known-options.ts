/**
 * The settings of spire-server's configuration file (doc/spire_server.md in SPIRE's
 * repository), split into those tessera-server implements and those it recognises but does not implement yet. A
 * recognised but unimplemented setting is rejected as "not supported yet" rather than
 * "unknown", so a SPIRE configuration fails with the reason.
 */

/** Top-level blocks tessera-server implements. */
export const SUPPORTED_TOP_LEVEL_BLOCKS: readonly string[] = ["server", "plugins"];

/** Top-level blocks SPIRE has that tessera-server does not implement yet. */
export const UNSUPPORTED_TOP_LEVEL_BLOCKS: readonly string[] = ["health_checks", "telemetry"];

/** `server {}` settings tessera-server implements. */
export const SUPPORTED_SERVER_OPTIONS: readonly string[] = [
  "agent_ttl",
  "bind_address",
  "bind_port",
  "ca_key_type",
  "ca_subject",
  "ca_ttl",
  "data_dir",
  "default_jwt_svid_ttl",
  "default_x509_svid_ttl",
  "experimental",
  "log_file",
  "log_format",
  "log_level",
  "socket_path",
  "trust_domain",
];

/** `server {}` settings SPIRE has that tessera-server does not implement yet. */
export const UNSUPPORTED_SERVER_OPTIONS: readonly string[] = [
  "admin_ids",
  "audit_log_enabled",
  "cache_reload_interval",
  "ca_ttl_x509",
  "default_svid_ttl",
  "federation",
  "jwt_issuer",
  "jwt_key_type",
  "log_source_location",
  "profiling_enabled",
  "profiling_freq",
  "profiling_names",
  "profiling_port",
  "prune_events_older_than",
  "ratelimit",
  "sql_transaction_timeout",
  "use_legacy_downstream_x509_ca_ttl",
];

/** `server { ca_subject {} }` settings, all implemented. */
export const SUPPORTED_CA_SUBJECT_OPTIONS: readonly string[] = ["common_name", "country", "organization"];

/** `server { experimental {} }` settings tessera-server implements. */
export const SUPPORTED_EXPERIMENTAL_OPTIONS: readonly string[] = ["entry_page_size"];

/** `server { experimental {} }` settings SPIRE has that tessera-server does not implement yet. */
export const UNSUPPORTED_EXPERIMENTAL_OPTIONS: readonly string[] = [
  "auth_opa_policy_engine",
  "cache_reload_interval",
  "events_based_cache",
  "feature_flags",
  "named_pipe_name",
  "prune_events_older_than",
  "require_pq_kem",
];

/** Settings every `plugins { Type "name" {} }` block may have, and those not implemented yet. */
export const SUPPORTED_PLUGIN_OPTIONS: readonly string[] = ["enabled", "plugin_data"];
export const UNSUPPORTED_PLUGIN_OPTIONS: readonly string[] = ["plugin_checksum", "plugin_cmd", "plugin_data_file"];

/** Built-in plugin names per type: those implemented, then those SPIRE has that are not. */
export const SERVER_PLUGIN_NAMES: Readonly<Record<string, { supported: readonly string[]; unsupported: readonly string[] }>> = {
  DataStore: { supported: ["sql"], unsupported: [] },
  KeyManager: { supported: ["disk", "memory"], unsupported: ["aws_kms", "azure_key_vault", "gcp_kms"] },
  NodeAttestor: {
    supported: ["join_token", "x509pop"],
    unsupported: ["aws_iid", "azure_imds", "azure_msi", "gcp_iit", "http_challenge", "k8s_psat", "sshpop", "tpm_devid"],
  },
  UpstreamAuthority: {
    supported: [],
    unsupported: ["aws_pca", "awssecret", "cert-manager", "disk", "ejbca", "gcp_cas", "spire", "vault"],
  },
  Notifier: { supported: [], unsupported: ["gcs_bundle", "k8sbundle"] },
  BundlePublisher: { supported: [], unsupported: ["aws_rolesanywhere_trustanchor", "aws_s3", "gcp_cloudstorage", "k8s_configmap"] },
  CredentialComposer: { supported: [], unsupported: ["uniqueid"] },
};
