import type { X509popServerConfig } from "../../../plugins/nodeattestor/x509pop/x509pop-server-config.js";
import type { CaSubject } from "../ca/x509-ca.js";

/** The store of the server CA key: KeyManager "disk" (a keys.json file) or "memory". */
export type ServerKeyManagerConfig = { kind: "disk"; keysPath: string } | { kind: "memory" };

/** The complete, checked server configuration; durations in seconds. */
export interface ServerConfig {
  trustDomain: string;
  bindAddress: string;
  /** TCP port of the agent API; 0 picks a free port. */
  bindPort: number;
  /** Unix socket of the admin API. */
  socketPath: string;
  dataDir: string;
  logLevel: string;
  logFormat: "json";
  logFile: string | undefined;
  caTtlSeconds: number;
  caSubject: CaSubject;
  defaultX509SvidTtlSeconds: number;
  defaultJwtSvidTtlSeconds: number;
  agentTtlSeconds: number;
  /** SQLite database file of the "sql" DataStore. */
  databasePath: string;
  keyManager: ServerKeyManagerConfig;
  /** Entries per SyncAuthorizedEntries page (SPIRE: 500); lower values exercise paging in tests. */
  entryPageSize: number;
  /** Configured NodeAttestor plugins besides join_token, which the server always accepts, as SPIRE's does. */
  nodeAttestors?: ServerNodeAttestorsConfig;
}

/** Settings of the server-side NodeAttestor plugins, by plugin name. */
export interface ServerNodeAttestorsConfig {
  x509pop?: X509popServerConfig;
}

/** SPIRE's defaults, where it has one. */
export const SERVER_DEFAULTS = {
  bindAddress: "0.0.0.0",
  bindPort: 8081,
  socketPath: "/tmp/spire-server/private/api.sock",
  logLevel: "INFO",
  caTtlSeconds: 24 * 3600,
  defaultX509SvidTtlSeconds: 3600,
  defaultJwtSvidTtlSeconds: 300,
  entryPageSize: 500,
} as const;
