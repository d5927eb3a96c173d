import type { X509popAgentConfig } from "../../../plugins/nodeattestor/x509pop/x509pop-agent.js";
import type { DockerAttestorConfig } from "../../../plugins/workloadattestor/docker/docker-config.js";
import type { K8sAttestorConfig } from "../../../plugins/workloadattestor/k8s/k8s-config.js";
import type { SystemdAttestorConfig } from "../../../plugins/workloadattestor/systemd/systemd-config.js";
import type { UnixAttestorConfig } from "../../../plugins/workloadattestor/unix/unix-config.js";
import type { HealthChecksConfig } from "./health-checks-block.js";
import type { TelemetryConfig } from "./telemetry-block.js";

/** Default public socket path, the same as spire-agent's. */
export const DEFAULT_SOCKET_PATH = "/tmp/spire-agent/public/api.sock";

/** Default configuration file path for `run`, relative to the working directory as in SPIRE. */
export const DEFAULT_CONFIG_PATH = "conf/agent/agent.conf";

/** Default interval between entry syncs with the server, in milliseconds. */
export const DEFAULT_SYNC_INTERVAL_MS = 5_000;

/** The NodeAttestor plugin chosen in `plugins {}`, with its settings. */
export type NodeAttestorConfig = { name: "join_token" } | { name: "x509pop"; x509pop: X509popAgentConfig };

/** The KeyManager plugin chosen in `plugins {}`. */
export type KeyManagerConfig = { name: "memory" } | { name: "disk"; directory: string };

/**
 * The agent's complete, validated configuration: defaults, then agent.conf, then flags.
 * Paths are as given (relative ones resolve against the working directory).
 */
export interface AgentConfig {
  dataDir: string;
  /** SPIRE level name as given (`DEBUG`, `INFO`, ...); already checked. */
  logLevel: string;
  /** `json` (one JSON object per line) or `text` (`key=value` lines, as SPIRE's text format). */
  logFormat: "json" | "text";
  /** Log file path; standard output when undefined. */
  logFile?: string;
  /**
   * Selector prefixes (`log_selectors`, e.g. `k8s:ns`) whose selectors may appear in
   * "No identity issued" lines; selectors matching none of them are left out.
   */
  logSelectors: string[];
  serverAddress: string;
  serverPort: number;
  socketPath: string;
  /** `admin_socket_path`, absolute; the admin endpoint (Debug, Logger) is off when undefined. */
  adminSocketPath?: string;
  /** Bare trust domain name, e.g. `example.org`. */
  trustDomain: string;
  /** DER roots from trust_bundle_path; empty with insecure_bootstrap. */
  trustBundle: Buffer[];
  trustBundlePath?: string;
  insecureBootstrap: boolean;
  /** From join_token, join_token_file or -joinToken. Never log it. */
  joinToken?: string;
  workloadX509SvidKeyType: "ec-p256";
  x509SvidCacheMaxSize: number;
  /** Hard limit on cached JWT-SVIDs (`jwt_svid_cache_max_size`); 0 in the file selects the default. */
  jwtSvidCacheMaxSize: number;
  /** Serve bundle streams to callers that have no identity (`allow_unauthenticated_verifiers`). */
  allowUnauthenticatedVerifiers: boolean;
  /** Claims besides sub, exp and aud that ValidateJWTSVID returns for other trust domains' tokens. */
  allowedForeignJwtClaims: string[];
  syncIntervalMs: number;
  /**
   * `availability_target`, at least 24 h. X.509-SVIDs whose lifetime exceeds it by more
   * than 12 h are renewed when this much lifetime is left. Undefined selects the half-life rule.
   */
  availabilityTargetMs?: number;
  /** NewJWTSVID deadline while a valid cached token exists (`experimental.jwt_svid_cache_hit_timeout`), in [5 s, 30 s). */
  jwtSvidCacheHitTimeoutMs: number;
  keyManager: KeyManagerConfig;
  /** The configured NodeAttestor; a join token takes precedence over it, as in SPIRE. */
  nodeAttestor: NodeAttestorConfig;
  /** Workload attestors by plugin name; at least one. */
  workloadAttestors: { docker?: DockerAttestorConfig; k8s?: K8sAttestorConfig; systemd?: SystemdAttestorConfig; unix?: UnixAttestorConfig };
  /**
   * Folder of the runtime cache (`runtime_dir`, a Tessera addition): undefined selects the
   * default ($RUNTIME_DIRECTORY, else /run/tessera, used only on tmpfs or ramfs) and an
   * empty string turns the runtime cache off.
   */
  runtimeDir?: string;
  /** The `telemetry {}` block: the Prometheus endpoint and metric naming. */
  telemetry: TelemetryConfig;
  /** The `health_checks {}` block: the HTTP liveness and readiness endpoint. */
  healthChecks: HealthChecksConfig;
}
