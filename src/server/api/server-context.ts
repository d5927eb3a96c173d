import type { Logger } from "../../common/log.js";
import type { CaManager } from "../ca/ca-manager.js";
import type { JwtKeyManager } from "../ca/jwt-key-manager.js";
import type { ServerNodeAttestorsConfig } from "../config/server-config.js";
import type { Datastore } from "../datastore/datastore.js";

/** The state the API services share: the trust domain, the store, the CA and the settings. */
export interface ServerContext {
  trustDomain: string;
  datastore: Datastore;
  ca: CaManager;
  jwtKeys: JwtKeyManager;
  logger: Logger;
  /** TTL of agent SVIDs issued by AttestAgent and RenewAgent, in seconds. */
  agentTtlSeconds: number;
  /** TTL of workload X.509-SVIDs whose entry sets none, in seconds. */
  defaultX509SvidTtlSeconds: number;
  /** TTL of JWT-SVIDs whose entry sets none, in seconds. */
  defaultJwtSvidTtlSeconds: number;
  /** Most entries SyncAuthorizedEntries sends whole before switching to revision pages (SPIRE: 500). */
  syncPageSize: number;
  /** Configured NodeAttestor plugins besides join_token, which is built in. Undefined means none. */
  nodeAttestors?: ServerNodeAttestorsConfig;
  now: () => Date;
}
