import { status as Status } from "@grpc/grpc-js";
import type { Metadata, ServiceError } from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { WorkloadAttestor } from "../../plugins/workloadattestor/workload-attestor.js";
import type { Selector } from "../spiffe/selector.js";
import { callerOf } from "./caller-listener.js";
import { serviceError } from "./grpc-status.js";
import { attestWorkload, WorkloadAttestationError } from "./workload-attestation.js";
import type { WorkloadAttestationObserver } from "./workload-attestation.js";

/** gRPC metadata key that every Workload API request must carry with the value `true`. */
export const SECURITY_HEADER = "workload.spiffe.io";

/** Dependencies the Workload API handlers use to identify callers. */
export interface CallAuthorizationContext {
  attestors: readonly WorkloadAttestor[];
  logger: Logger;
  /** Time limit per attestor in milliseconds; see {@link attestWorkload}. */
  attestorTimeoutMs?: number;
  /** Receives the outcome of every workload attestation and attestor run, e.g. for metrics. */
  attestationObserver?: WorkloadAttestationObserver;
  /** `log_selectors`: prefixes of the selectors that "No identity issued" lines may show. Default none. */
  logSelectors?: readonly string[];
}

/** A caller that passed every check: its pid and the selectors that describe it. */
export interface AuthorizedCaller {
  pid: number;
  selectors: Selector[];
}

/**
 * Tells whether `metadata` carries the security header exactly once with the exact value
 * `true`. The SPIFFE Workload Endpoint specification requires the header so that a
 * server-side request forgery cannot reach the endpoint unless it also controls gRPC metadata.
 */
export function hasSecurityHeader(metadata: Metadata): boolean {
  const values = metadata.get(SECURITY_HEADER);
  return values.length === 1 && values[0] === "true";
}

/** Returns the InvalidArgument error for a request without a valid security header. */
export function missingSecurityHeaderError(): ServiceError {
  return serviceError(Status.INVALID_ARGUMENT, "security header missing from request");
}

/**
 * Checks a Workload API call and attests its caller, in SPIRE's order:
 * 1. the security header, else InvalidArgument "security header missing from request";
 * 2. kernel credentials of the connection, else Unauthenticated;
 * 3. workload attestation, else Unavailable "workload attestation failed";
 * 4. the process that connected is still the same one, else Unauthenticated "could not
 *    verify existence of the original caller". This runs after attestation so that a
 *    process that exits and lets another process take its pid during attestation gets
 *    nothing.
 *
 * Throws a gRPC service error for each failure. When `signal` aborts during attestation,
 * it rejects with a Cancelled error.
 */
export async function authorizeCall(
  call: { metadata: Metadata; getPeer(): string },
  context: CallAuthorizationContext,
  signal: AbortSignal,
): Promise<AuthorizedCaller> {
  if (!hasSecurityHeader(call.metadata)) {
    throw missingSecurityHeaderError();
  }

  const caller = callerOf(call);
  if (caller === undefined) {
    context.logger.warn("Rejected Workload API call: no caller credentials for its connection");
    throw serviceError(Status.UNAUTHENTICATED, "could not read the caller's process credentials");
  }

  const selectors = await attestCaller(caller.pid, context, signal);

  if (!caller.isAlive()) {
    context.logger.warn({ pid: caller.pid }, "Rejected Workload API call: the calling process is gone");
    throw serviceError(
      Status.UNAUTHENTICATED,
      "could not verify existence of the original caller: the process exited or its pid was reused",
    );
  }

  return { pid: caller.pid, selectors };
}

async function attestCaller(pid: number, context: CallAuthorizationContext, signal: AbortSignal): Promise<Selector[]> {
  try {
    return await attestWorkload(pid, {
      attestors: context.attestors,
      logger: context.logger,
      timeoutMs: context.attestorTimeoutMs,
      signal,
      observer: context.attestationObserver,
    });
  } catch (error) {
    if (signal.aborted) {
      throw serviceError(Status.CANCELLED, "the client cancelled the call during workload attestation");
    }
    if (error instanceof WorkloadAttestationError) {
      throw serviceError(Status.UNAVAILABLE, error.message);
    }
    throw error;
  }
}
