import { Server } from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { WorkloadAttestor } from "../../plugins/workloadattestor/workload-attestor.js";
import { healthService, workloadApiService } from "../proto/index.js";
import type { WorkloadApiHandlers } from "../proto/index.js";
import { callObserverInterceptor } from "./call-observer.js";
import type { WorkloadApiCallObserver } from "./call-observer.js";
import { listenWorkloadSocket } from "./caller-listener.js";
import { createHealthHandlers, identitySourceIsReady } from "./health-service.js";
import type { NamedHealthCheck } from "./health-service.js";
import type { IdentitySource } from "./identity-source.js";
import { serveJwtBundles } from "./jwt-bundle-stream.js";
import type { JwtMethodContext } from "./jwt-method-context.js";
import type { JwtSource } from "./jwt-source.js";
import { serveFetchJwtSvid, serveValidateJwtSvid } from "./jwt-svid-methods.js";
import { unimplementedStream, unimplementedUnary } from "./unimplemented-methods.js";
import type { WorkloadAttestationObserver } from "./workload-attestation.js";
import { serveX509Bundles, serveX509Svids } from "./x509-streams.js";
import type { X509StreamContext } from "./x509-streams.js";

/** Settings for {@link startWorkloadEndpoint}. */
export interface WorkloadEndpointOptions {
  /** Path of the Unix socket to serve on, e.g. `/tmp/spire-agent/public/api.sock`. */
  socketPath: string;
  identitySource: IdentitySource;
  /** Configured workload attestors; each call runs all of them. */
  attestors: readonly WorkloadAttestor[];
  logger: Logger;
  /** Time limit per attestor and call in milliseconds; default 30 s. */
  attestorTimeoutMs?: number;
  /** Serve the own trust domain bundle to callers without an identity (`allow_unauthenticated_verifiers`). */
  allowUnauthenticatedVerifiers?: boolean;
  /** Source of JWT-SVIDs and JWT bundles; without it the JWT methods return Unimplemented. */
  jwtSource?: JwtSource;
  /** Claims ValidateJWTSVID returns for other trust domains' tokens besides sub, exp and aud (`allowed_foreign_jwt_claims`). */
  allowedForeignJwtClaims?: string[];
  /** Health check result; default: the identity source has a bundle for its own trust domain. */
  isReady?: () => boolean;
  /** Health checks reported under their service names, e.g. SERVER_HEALTH_SERVICE. */
  healthChecks?: ReadonlyMap<string, NamedHealthCheck>;
  /** `log_selectors`: prefixes of the selectors that "No identity issued" lines may show. Default none. */
  logSelectors?: readonly string[];
  /** Receives the start and end (with status) of every call on the socket, e.g. for metrics. */
  callObserver?: WorkloadApiCallObserver;
  /** Receives the outcome of every workload attestation and attestor run, e.g. for metrics. */
  attestationObserver?: WorkloadAttestationObserver;
}

/** A running Workload API endpoint. */
export interface WorkloadEndpoint {
  /**
   * Attests callers with `attestors` from the next call on. Open streams keep the
   * selectors they were attested with, and calls still attesting finish with the previous
   * attestors, so the caller should close those only once such calls are done.
   */
  setAttestors(attestors: readonly WorkloadAttestor[]): void;
  /** Replaces the `log_selectors` prefixes for the next "No identity issued" lines. */
  setLogSelectors(prefixes: readonly string[]): void;
  /** Ends every open call, stops accepting connections and removes the socket file. */
  close(): Promise<void>;
}

/**
 * Serves the SPIFFE Workload API (`SpiffeWorkloadAPI`) and `grpc.health.v1.Health` on a
 * Unix socket whose connections carry kernel caller credentials.
 *
 * X.509-SVIDs and X.509 bundles are always served, the JWT methods when `jwtSource` is
 * given, and the WIT methods return Unimplemented. Resolves once the socket accepts connections; rejects when the socket
 * cannot be created.
 */
export async function startWorkloadEndpoint(options: WorkloadEndpointOptions): Promise<WorkloadEndpoint> {
  const logger = options.logger.child({ subsystem: "workload_api" });
  const context: X509StreamContext = {
    identitySource: options.identitySource,
    attestors: options.attestors,
    logger,
    attestorTimeoutMs: options.attestorTimeoutMs,
    allowUnauthenticatedVerifiers: options.allowUnauthenticatedVerifiers,
    logSelectors: options.logSelectors,
    attestationObserver: options.attestationObserver,
  };
  const jwtContext: JwtMethodContext | undefined =
    options.jwtSource === undefined
      ? undefined
      : { ...context, jwtSource: options.jwtSource, allowedForeignJwtClaims: options.allowedForeignJwtClaims };
  const isReady = options.isReady ?? (() => identitySourceIsReady(options.identitySource));

  const server = new Server(options.callObserver === undefined ? {} : { interceptors: [callObserverInterceptor(options.callObserver)] });
  server.addService(workloadApiService, createWorkloadApiHandlers(context, jwtContext));
  server.addService(healthService, createHealthHandlers(isReady, options.healthChecks));

  const socket = await listenWorkloadSocket(server, { socketPath: options.socketPath, logger });

  // The JWT context is a copy, so each setting goes to both contexts.
  const contexts = jwtContext === undefined ? [context] : [context, jwtContext];
  return {
    setAttestors(attestors) {
      for (const target of contexts) target.attestors = attestors;
    },
    setLogSelectors(prefixes) {
      for (const target of contexts) target.logSelectors = prefixes;
    },
    async close() {
      // forceShutdown cancels open streams, so their subscriptions close too.
      server.forceShutdown();
      await socket.close();
      logger.info({ socket_path: options.socketPath }, "Workload API endpoint stopped");
    },
  };
}

/**
 * Builds the `SpiffeWorkloadAPI` handlers around shared contexts. Without `jwtContext`
 * the JWT methods return Unimplemented.
 */
export function createWorkloadApiHandlers(context: X509StreamContext, jwtContext?: JwtMethodContext): WorkloadApiHandlers {
  const jwtHandlers: Pick<WorkloadApiHandlers, "FetchJWTSVID" | "FetchJWTBundles" | "ValidateJWTSVID"> =
    jwtContext === undefined
      ? {
          FetchJWTSVID: unimplementedUnary("FetchJWTSVID"),
          FetchJWTBundles: unimplementedStream("FetchJWTBundles"),
          ValidateJWTSVID: unimplementedUnary("ValidateJWTSVID"),
        }
      : {
          FetchJWTSVID: (call, callback) => serveFetchJwtSvid(call, callback, jwtContext),
          FetchJWTBundles: (call) => serveJwtBundles(call, jwtContext),
          ValidateJWTSVID: (call, callback) => serveValidateJwtSvid(call, callback, jwtContext),
        };

  return {
    FetchX509SVID: (call) => serveX509Svids(call, context),
    FetchX509Bundles: (call) => serveX509Bundles(call, context),
    ...jwtHandlers,
    FetchWITSVID: unimplementedStream("FetchWITSVID"),
    FetchWITBundles: unimplementedStream("FetchWITBundles"),
  };
}
