import { status as Status } from "@grpc/grpc-js";
import type { ServerUnaryCall, ServiceError, sendUnaryData } from "@grpc/grpc-js";
import type { workload } from "../proto/index.js";
import { parseSpiffeId } from "../spiffe/spiffe-id.js";
import { authorizeCall, hasSecurityHeader, missingSecurityHeaderError } from "./call-authorization.js";
import { isServiceError, serviceError } from "./grpc-status.js";
import { callerJwtBundles } from "./jwt-bundles.js";
import type { JwtMethodContext } from "./jwt-method-context.js";
import type { JwtIdentity } from "./jwt-source.js";
import { JwtSvidValidationError, publicKeyFromDer, validateJwtSvid } from "./jwt-svid-validation.js";
import { logNoIdentityIssued } from "./no-identity-log.js";
import type { JwtKeyLookup } from "./jwt-svid-validation.js";
import { toProtobufStruct } from "./protobuf-struct.js";
import { filterDuplicateHints } from "./x509-response.js";
import { findJwtAudienceProblem } from "../spiffe/jwt-audience.js";

/** Claims that ValidateJWTSVID always returns for a token of another trust domain. */
const DEFAULT_FOREIGN_CLAIMS: readonly string[] = ["sub", "exp", "aud"];

/**
 * Serves `FetchJWTSVID`: one JWT-SVID per identity of the caller (after hint
 * de-duplication), or only for the identity whose SPIFFE ID equals `spiffe_id`.
 *
 * Checks run in SPIRE's order: security header, audience ("audience must be specified"),
 * `spiffe_id` ("invalid requested SPIFFE ID: ..."), then attestation. No identity gives
 * PermissionDenied "no identity issued". SPIRE returns an empty response when no identity
 * has the requested `spiffe_id`; this endpoint returns PermissionDenied then too, so a
 * client learns why it got no token. Any token failure fails the whole call with
 * Unavailable "failed to mint JWT-SVID: <the JwtSource's message>", so a JwtSource should
 * throw a message that reads well after that prefix ("the server is unreachable: ...").
 * A call the client cancels ends with Cancelled and a debug log line.
 */
export function serveFetchJwtSvid(
  call: ServerUnaryCall<workload.JWTSVIDRequest__Output, workload.JWTSVIDResponse>,
  callback: sendUnaryData<workload.JWTSVIDResponse>,
  context: JwtMethodContext,
): void {
  const signal = abortSignalOf(call);
  // TODO: answer Unavailable with the last server error shortly before the caller's
  // deadline. The agent retries NewJWTSVID for up to 30 s, so a client with a 5 s deadline
  // sees DeadlineExceeded instead of the reason (such as an unreachable server).
  fetchJwtSvids(call, context, signal).then(
    (response) => callback(null, response),
    (error: unknown) => callback(toServiceError(error, context, "FetchJWTSVID", signal)),
  );
}

async function fetchJwtSvids(
  call: ServerUnaryCall<workload.JWTSVIDRequest__Output, workload.JWTSVIDResponse>,
  context: JwtMethodContext,
  signal: AbortSignal,
): Promise<workload.JWTSVIDResponse> {
  if (!hasSecurityHeader(call.metadata)) {
    throw missingSecurityHeaderError();
  }
  const { audience, spiffe_id: requestedId } = call.request;
  const audienceProblem = findJwtAudienceProblem(audience);
  if (audienceProblem !== undefined) {
    throw serviceError(Status.INVALID_ARGUMENT, audienceProblem);
  }
  if (requestedId !== "") {
    try {
      parseSpiffeId(requestedId);
    } catch (error) {
      throw serviceError(Status.INVALID_ARGUMENT, `invalid requested SPIFFE ID: ${(error as Error).message}`);
    }
  }

  const caller = await authorizeCall(call, context, signal);

  const identities = filterDuplicateHints(context.jwtSource.matchingIdentities(caller.selectors)).filter(
    (identity) => requestedId === "" || identity.spiffeId === requestedId,
  );
  if (identities.length === 0) {
    logNoIdentityIssued(context.logger, {
      pid: caller.pid,
      selectors: caller.selectors,
      method: "FetchJWTSVID",
      logSelectors: context.logSelectors,
      requestedSpiffeId: requestedId,
    });
    throw serviceError(Status.PERMISSION_DENIED, "no identity issued");
  }

  const svids: workload.JWTSVID[] = [];
  for (const identity of identities) {
    try {
      const svid = await context.jwtSource.fetchJwtSvid(identity, audience, signal);
      svids.push({ spiffe_id: svid.spiffeId, svid: svid.token, hint: identity.hint });
    } catch (error) {
      throw jwtSvidFailure(error, { pid: caller.pid, identity, signal, context });
    }
  }

  context.logger.debug(
    { pid: caller.pid, spiffe_ids: svids.map((svid) => svid.spiffe_id), count: svids.length },
    "Sending JWT-SVIDs",
  );
  return { svids };
}

/**
 * Serves `ValidateJWTSVID`: checks `svid` with {@link validateJwtSvid} against the JWT
 * authorities the caller may see (own trust domain, plus the federated trust domains of
 * its identities) and returns the subject and claims. The caller needs no identity.
 *
 * A string `aud` is returned as a one-element list. For a subject outside the agent's
 * trust domain only `sub`, `exp`, `aud` and the allowed foreign claims are returned.
 * Invalid tokens get InvalidArgument with the reason.
 */
export function serveValidateJwtSvid(
  call: ServerUnaryCall<workload.ValidateJWTSVIDRequest__Output, workload.ValidateJWTSVIDResponse>,
  callback: sendUnaryData<workload.ValidateJWTSVIDResponse>,
  context: JwtMethodContext,
): void {
  const signal = abortSignalOf(call);
  validate(call, context, signal).then(
    (response) => callback(null, response),
    (error: unknown) => callback(toServiceError(error, context, "ValidateJWTSVID", signal)),
  );
}

async function validate(
  call: ServerUnaryCall<workload.ValidateJWTSVIDRequest__Output, workload.ValidateJWTSVIDResponse>,
  context: JwtMethodContext,
  signal: AbortSignal,
): Promise<workload.ValidateJWTSVIDResponse> {
  if (!hasSecurityHeader(call.metadata)) {
    throw missingSecurityHeaderError();
  }
  const { audience, svid } = call.request;
  if (audience === "") {
    throw serviceError(Status.INVALID_ARGUMENT, "audience must be specified");
  }
  if (svid === "") {
    throw serviceError(Status.INVALID_ARGUMENT, "svid must be specified");
  }

  const caller = await authorizeCall(call, context, signal);
  const identities = context.jwtSource.matchingIdentities(caller.selectors);
  const bundles = callerJwtBundles(context.jwtSource, identities);
  const lookupKey: JwtKeyLookup = (trustDomain, keyId) => {
    const authority = bundles.get(trustDomain)?.find((candidate) => candidate.keyId === keyId);
    return authority === undefined ? undefined : publicKeyFromDer(authority.publicKeyDer);
  };

  let validated;
  try {
    validated = validateJwtSvid(svid, audience, lookupKey);
  } catch (error) {
    if (error instanceof JwtSvidValidationError) {
      context.logger.warn({ pid: caller.pid, reason: error.message }, "Rejected a JWT-SVID in ValidateJWTSVID");
      throw serviceError(Status.INVALID_ARGUMENT, error.message);
    }
    throw error;
  }

  const claims = returnedClaims(validated.claims, validated.spiffeId.trustDomain, context);
  return { spiffe_id: claims.sub as string, claims: toProtobufStruct(claims) };
}

function returnedClaims(
  claims: Record<string, unknown>,
  subjectTrustDomain: string,
  context: JwtMethodContext,
): Record<string, unknown> {
  const own = subjectTrustDomain === context.jwtSource.jwtBundles().trustDomain;
  const allowed = new Set([...DEFAULT_FOREIGN_CLAIMS, ...(context.allowedForeignJwtClaims ?? [])]);

  const result: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(claims)) {
    if (own || allowed.has(name)) {
      result[name] = value;
    }
  }
  if (typeof result.aud === "string") {
    result.aud = [result.aud];
  }
  return result;
}

/**
 * Logs a failed token fetch and returns the status for the workload. A call the client
 * cancelled is no agent error, so it gets one debug line and no stack. The log keeps only
 * the message, because pino's `err` serializer appends every cause and the agent's
 * errors already repeat their cause's text.
 */
function jwtSvidFailure(
  error: unknown,
  failure: { pid: number; identity: JwtIdentity; signal: AbortSignal; context: JwtMethodContext },
): ServiceError {
  const { pid, identity, signal, context } = failure;
  const fields = { pid, method: "FetchJWTSVID", spiffe_id: identity.spiffeId, entry_id: identity.entryId };

  if (signal.aborted) {
    context.logger.debug(fields, "Client cancelled the call while its JWT-SVID was fetched");
    return serviceError(Status.CANCELLED, "the client cancelled the call while its JWT-SVID was fetched");
  }

  const message = error instanceof Error ? error.message : String(error);
  context.logger.error({ ...fields, error: message }, "Failed to fetch JWT-SVID");
  return serviceError(Status.UNAVAILABLE, `failed to mint JWT-SVID: ${message}`);
}

/** Returns a signal that aborts when the client cancels the unary call or goes away. */
function abortSignalOf(call: ServerUnaryCall<unknown, unknown>): AbortSignal {
  const controller = new AbortController();
  call.once("cancelled", () => controller.abort());
  return controller.signal;
}

function toServiceError(error: unknown, context: JwtMethodContext, method: string, signal: AbortSignal): ServiceError {
  if (isServiceError(error)) {
    return error;
  }
  if (signal.aborted) {
    context.logger.debug({ method }, "Client cancelled the call");
    return serviceError(Status.CANCELLED, `the client cancelled ${method}`);
  }
  context.logger.error({ err: error }, `${method} failed`);
  return serviceError(Status.INTERNAL, `internal error while serving ${method}`);
}
