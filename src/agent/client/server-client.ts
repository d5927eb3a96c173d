import { Channel, status } from "@grpc/grpc-js";
import type { CallOptions, ServiceError } from "@grpc/grpc-js";

import type { Logger } from "../../common/log.js";
import { AgentClient, BundleClient, EntryClient, SvidClient } from "../../proto/index.js";
import type { agentv1, svidv1, types } from "../../proto/index.js";
import type { CachedEntry } from "../cache/cache-types.js";
import type { AgentTlsIdentity, ServerEndpoint } from "./dial.js";
import { agentCredentials, serverChannelOptions, serverTarget } from "./dial.js";
import type { EntrySyncResult } from "./entry-sync.js";
import { syncAuthorizedEntries } from "./entry-sync.js";
import { retryWithinDeadline } from "./jwt-svid-retry.js";
import { toServerRpcError } from "./rpc-failure.js";
import { readStream } from "./stream-reader.js";

/** Deadline of every call to the server, as in SPIRE's agent. */
export const RPC_TIMEOUT_MS = 30_000;

/**
 * Default deadline of NewJWTSVID while a still-valid cached token exists to fall back on
 * (`experimental.jwt_svid_cache_hit_timeout`), and the smallest value that option accepts.
 */
export const JWT_SVID_CACHE_HIT_TIMEOUT_MS = 5_000;

/** A JWT-SVID from NewJWTSVID, checked on receipt. */
export interface ServerJwtSvid {
  /** Compact JWS. Never log it. */
  token: string;
  /** SPIFFE ID in URI form, as the server reports it. */
  spiffeId: string;
  hint: string;
  /** Unix seconds, never 0. */
  issuedAt: number;
  /** Unix seconds, never before `issuedAt`. */
  expiresAt: number;
}

/** One BatchNewX509SVID result; results come in the order of the request's parameters. */
export interface X509SvidResult {
  entryId: string;
  /** DER chain, leaf first; undefined when the server refused this entry. */
  certChain?: Buffer[];
  /** The per-entry status when the server refused it. */
  error?: { code: number; message: string };
}

/** Settings for {@link createServerClient}. */
export interface ServerClientOptions {
  endpoint: ServerEndpoint;
  /** Returns the agent's current SVID and key, and the bundle that authenticates the server; read at each dial. */
  tlsMaterial(): { identity: AgentTlsIdentity; bundle: Buffer[] };
  logger: Logger;
  rpcTimeoutMs?: number;
  /** NewJWTSVID deadline when a cached token can stand in; {@link JWT_SVID_CACHE_HIT_TIMEOUT_MS} when unset. */
  jwtCacheHitTimeoutMs?: number;
}

/**
 * The agent's client for the server APIs after attestation. Calls use one shared mTLS
 * channel, dialled on first use with the agent's current SVID. Any failed call drops
 * that channel so the next call dials again: that is how the agent recovers when the
 * server restarts or its certificate changes. Calls already running on a dropped channel
 * finish before it closes. Every method throws a ServerRpcError on failure; callers log it.
 */
export interface ServerClient {
  syncAuthorizedEntries(cached: ReadonlyMap<string, CachedEntry>): Promise<EntrySyncResult>;
  getBundle(): Promise<types.Bundle__Output>;
  /** Returns undefined when the server has no bundle for `trustDomain` (NotFound). */
  getFederatedBundle(trustDomain: string): Promise<types.Bundle__Output | undefined>;
  batchNewX509Svid(params: Array<{ entryId: string; csr: Buffer }>): Promise<X509SvidResult[]>;
  /**
   * Mints a JWT-SVID for `entryId` and `audience`, retrying transient failures with backoff
   * inside one deadline, as SPIRE's agent does. `cacheHit` shortens that deadline to the
   * cache-hit timeout, for callers that can return a cached token instead.
   * The call is not cancelled when a workload goes away, because other workloads may share it.
   */
  newJwtSvid(entryId: string, audience: string[], options?: { cacheHit?: boolean }): Promise<ServerJwtSvid>;
  /** Renews the agent SVID from a CSR for a new key; returns the DER chain, leaf first. */
  renewAgent(csr: Buffer): Promise<Buffer[]>;
  /** Drops the current channel, e.g. after the agent SVID was renewed. */
  release(): void;
  close(): void;
}

interface Connection {
  channel: Channel;
  agent: AgentClient;
  bundle: BundleClient;
  entry: EntryClient;
  svid: SvidClient;
  inFlight: number;
  released: boolean;
}

/** Creates the client; nothing is dialled until the first call. */
export function createServerClient(options: ServerClientOptions): ServerClient {
  const logger = options.logger;
  const timeoutMs = options.rpcTimeoutMs ?? RPC_TIMEOUT_MS;
  let current: Connection | undefined;
  let closed = false;

  function dial(): Connection {
    const { identity, bundle } = options.tlsMaterial();
    const target = serverTarget(options.endpoint);
    const credentials = agentCredentials(options.endpoint, identity, bundle);
    const channel = new Channel(target, credentials, serverChannelOptions(options.endpoint));
    const clientOptions = { channelOverride: channel };

    return {
      channel,
      agent: new AgentClient(target, credentials, clientOptions),
      bundle: new BundleClient(target, credentials, clientOptions),
      entry: new EntryClient(target, credentials, clientOptions),
      svid: new SvidClient(target, credentials, clientOptions),
      inFlight: 0,
      released: false,
    };
  }

  function releaseConnection(connection: Connection): void {
    if (current === connection) {
      current = undefined;
    }
    connection.released = true;
    if (connection.inFlight === 0) {
      connection.channel.close();
    }
  }

  async function withConnection<T>(what: string, call: (connection: Connection) => Promise<T>): Promise<T> {
    if (closed) {
      throw new Error(`${what}: the server client is closed`);
    }
    current ??= dial();
    const connection = current;
    connection.inFlight++;

    try {
      return await call(connection);
    } catch (error) {
      releaseConnection(connection);
      throw toServerRpcError(what, error);
    } finally {
      connection.inFlight--;
      if (connection.released && connection.inFlight === 0) {
        connection.channel.close();
      }
    }
  }

  const callOptions = (): CallOptions => ({ deadline: Date.now() + timeoutMs });

  return {
    syncAuthorizedEntries(cached) {
      return withConnection("failed to fetch authorized entries", async (connection) => {
        const call = connection.entry.SyncAuthorizedEntries(callOptions());
        const reader = readStream(call, "SyncAuthorizedEntries");
        try {
          return await syncAuthorizedEntries({ send: (request) => call.write(request), receive: reader.receive }, cached, logger);
        } finally {
          // SPIRE's agent ends the exchange by cancelling; the server treats that as normal.
          call.cancel();
        }
      });
    },

    getBundle() {
      return withConnection("failed to fetch bundle", (connection) =>
        unary<types.Bundle__Output>((callback) => connection.bundle.GetBundle({}, callOptions(), callback)),
      );
    },

    getFederatedBundle(trustDomain) {
      return withConnection(`failed to fetch federated bundle ${trustDomain}`, async (connection) => {
        try {
          return await unary<types.Bundle__Output>((callback) =>
            connection.bundle.GetFederatedBundle({ trust_domain: trustDomain }, callOptions(), callback),
          );
        } catch (error) {
          if ((error as Partial<ServiceError>).code !== status.NOT_FOUND) {
            throw error;
          }
          logger.warn({ trust_domain: trustDomain }, "Federated bundle not found on the server");
          return undefined;
        }
      });
    },

    batchNewX509Svid(params) {
      return withConnection("failed to mint X.509-SVIDs", async (connection) => {
        const response = await unary<svidv1.BatchNewX509SVIDResponse__Output>((callback) =>
            connection.svid.BatchNewX509SVID(
              { params: params.map((param) => ({ entry_id: param.entryId, csr: param.csr })) },
              callOptions(),
              callback,
            ),
        );
        if (response.results.length !== params.length) {
          throw new Error(`the server returned ${response.results.length} results for ${params.length} CSRs`);
        }

        return response.results.map((result, index): X509SvidResult => {
          const entryId = (params[index] as { entryId: string }).entryId;
          const code = result.status?.code ?? 0;
          if (code !== 0 || result.svid === null || result.svid.cert_chain.length === 0) {
            return { entryId, error: { code: code === 0 ? status.UNKNOWN : code, message: result.status?.message || "the server returned no SVID" } };
          }
          return { entryId, certChain: result.svid.cert_chain };
        });
      });
    },

    newJwtSvid(entryId, audience, jwtOptions = {}) {
      const attemptTimeoutMs = jwtOptions.cacheHit === true ? Math.min(timeoutMs, options.jwtCacheHitTimeoutMs ?? JWT_SVID_CACHE_HIT_TIMEOUT_MS) : timeoutMs;
      const attempt = (deadlineMs: number): Promise<ServerJwtSvid> =>
        withConnection(`failed to mint JWT-SVID for entry ${entryId}`, async (connection) => {
          const response = await unary<svidv1.NewJWTSVIDResponse__Output>((callback) =>
            connection.svid.NewJWTSVID({ entry_id: entryId, audience }, { deadline: deadlineMs }, callback),
          );
          return checkJwtSvid(response.svid);
        });
      return retryWithinDeadline(attempt, { timeoutMs: attemptTimeoutMs });
    },

    renewAgent(csr) {
      return withConnection("failed to renew agent", async (connection) => {
        const response = await unary<agentv1.RenewAgentResponse__Output>((callback) =>
          connection.agent.RenewAgent({ params: { csr } }, callOptions(), callback),
        );
        if (response.svid === null || response.svid.cert_chain.length === 0) {
          throw new Error("the server returned no agent SVID");
        }
        return response.svid.cert_chain;
      });
    },

    release() {
      if (current !== undefined) {
        releaseConnection(current);
      }
    },

    close() {
      closed = true;
      if (current !== undefined) {
        releaseConnection(current);
      }
    },
  };
}

/** Validates a NewJWTSVID result the way SPIRE's agent does: both times set, issued no later than it expires. */
export function checkJwtSvid(svid: types.JWTSVID__Output | null): ServerJwtSvid {
  if (svid === null || svid.token === "") {
    throw new Error("the server returned no JWT-SVID");
  }
  if (svid.issued_at === 0) {
    throw new Error("the server returned a JWT-SVID without an issued-at time");
  }
  if (svid.expires_at === 0) {
    throw new Error("the server returned a JWT-SVID without an expiry time");
  }
  if (svid.issued_at > svid.expires_at) {
    throw new Error(`the server returned a JWT-SVID issued at ${svid.issued_at}, after its expiry at ${svid.expires_at}`);
  }

  const spiffeId = svid.id === null ? "" : `spiffe://${svid.id.trust_domain}${svid.id.path}`;
  return { token: svid.token, spiffeId, hint: svid.hint, issuedAt: svid.issued_at, expiresAt: svid.expires_at };
}

function unary<T>(start: (callback: (error: ServiceError | null, response?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    start((error, response) => {
      if (error !== null) {
        reject(error);
      } else if (response === undefined) {
        reject(new Error("the server sent no response"));
      } else {
        resolve(response);
      }
    });
  });
}
