import { status } from "@grpc/grpc-js";
import type { SvidHandlers, svidv1, types } from "../../proto/index.js";
import { fetchAuthorizedEntries } from "../authorization/authorized-entries.js";
import type { CallAuthorizer } from "../authorization/call-authorizer.js";
import { parseAndVerifyCsr } from "../ca/csr.js";
import type { RegistrationEntry } from "../datastore/types.js";
import { rpcError } from "../endpoints/rpc-error.js";
import { invalidArgument, unary, unimplementedUnary } from "./handler.js";
import { idToProto } from "./proto-convert.js";
import type { ServerContext } from "./server-context.js";
import { findJwtAudienceProblem } from "../../spiffe/jwt-audience.js";

type Result = svidv1.BatchNewX509SVIDResponseResult;

/**
 * Implements `spire.api.server.svid.v1.SVID` for agents: BatchNewX509SVID signs workload
 * X.509-SVIDs and NewJWTSVID signs workload JWT-SVIDs, both only for entries the calling
 * agent is authorized for. WIT-SVIDs, minting and downstream CAs return Unimplemented.
 */
export function createSvidService(context: ServerContext, authorizer: CallAuthorizer): SvidHandlers {
  const log = context.logger.child({ subsystem: "svid_api" });

  function failure(code: status, message: string, entryId: string): Result {
    log.info({ entry_id: entryId, code: status[code], error: message }, "Failed to sign X509-SVID");
    return { status: { code, message }, svid: null };
  }

  /**
   * Signs one CSR for one entry. Only the entry decides the SVID: its SPIFFE ID, DNS names
   * and TTL; the CSR contributes nothing but its verified public key.
   */
  async function signForEntry(param: svidv1.NewX509SVIDParams__Output, entries: Map<string, RegistrationEntry>): Promise<Result> {
    if (param.entry_id === "") return failure(status.INVALID_ARGUMENT, "missing entry ID", "");
    if (param.csr.length === 0) return failure(status.INVALID_ARGUMENT, "missing CSR", param.entry_id);

    const entry = entries.get(param.entry_id);
    if (entry === undefined) return failure(status.NOT_FOUND, "entry not found or not authorized", param.entry_id);

    let publicKey;
    try {
      ({ publicKey } = await parseAndVerifyCsr(param.csr));
    } catch (error) {
      return failure(status.INVALID_ARGUMENT, (error as Error).message, param.entry_id);
    }

    try {
      const chain = await context.ca.signX509Svid({
        spiffeId: entry.spiffeId,
        publicKey,
        ttlSeconds: entry.x509SvidTtl > 0 ? entry.x509SvidTtl : context.defaultX509SvidTtlSeconds,
        dnsNames: entry.dnsNames,
      });
      const leaf = chain[0];
      if (leaf === undefined) throw new Error("the CA returned an empty chain");

      const svid: types.X509SVID = {
        id: idToProto(entry.spiffeId),
        cert_chain: chain.map((certificate) => Buffer.from(certificate.rawData)),
        expires_at: Math.floor(leaf.notAfter.getTime() / 1000),
        hint: entry.hint,
      };
      return { status: { code: status.OK, message: "OK" }, svid };
    } catch (error) {
      log.error({ entry_id: entry.id, spiffe_id: entry.spiffeId, err: error }, "Failed to sign X509-SVID");
      return { status: { code: status.INTERNAL, message: `failed to sign X509-SVID: ${(error as Error).message}` }, svid: null };
    }
  }

  return {
    BatchNewX509SVID: unary(log, "BatchNewX509SVID", async (call) => {
      const agentId = authorizer.agent(call);
      if (call.request.params.length === 0) invalidArgument("missing parameters");

      const authorized = fetchAuthorizedEntries(context.datastore, context.trustDomain, agentId, context.now());
      const entries = new Map(authorized.map((entry) => [entry.id, entry]));

      // Signing runs WebCrypto work on libuv's thread pool, so the CSRs of one call are
      // signed together: the JavaScript part of one overlaps the crypto of others.
      const results = await Promise.all(call.request.params.map((param) => signForEntry(param, entries)));
      return { results };
    }),

    NewJWTSVID: unary(log, "NewJWTSVID", (call) => {
      const agentId = authorizer.agent(call);
      const authorized = fetchAuthorizedEntries(context.datastore, context.trustDomain, agentId, context.now());
      const entry = authorized.find((candidate) => candidate.id === call.request.entry_id);
      if (entry === undefined) throw rpcError(status.NOT_FOUND, "entry not found or not authorized");

      const audience = call.request.audience.filter((value) => value !== "");
      if (audience.length === 0) invalidArgument("at least one audience is required");
      const audienceProblem = findJwtAudienceProblem(audience);
      if (audienceProblem !== undefined) invalidArgument(audienceProblem);

      let signed;
      try {
        signed = context.jwtKeys.signJwtSvid({
          spiffeId: entry.spiffeId,
          audience,
          ttlSeconds: entry.jwtSvidTtl > 0 ? entry.jwtSvidTtl : context.defaultJwtSvidTtlSeconds,
          now: context.now(),
        });
      } catch (error) {
        log.error({ entry_id: entry.id, spiffe_id: entry.spiffeId, err: error }, "Failed to sign JWT-SVID");
        throw rpcError(status.INTERNAL, `failed to sign JWT-SVID: ${(error as Error).message}`);
      }
      log.debug({ entry_id: entry.id, spiffe_id: entry.spiffeId, expires_at: signed.expiresAt }, "Signed JWT-SVID");

      const svid: types.JWTSVID = {
        token: signed.token,
        id: idToProto(entry.spiffeId),
        expires_at: signed.expiresAt,
        issued_at: signed.issuedAt,
        hint: entry.hint,
      };
      return { svid };
    }),

    MintX509SVID: unimplementedUnary("MintX509SVID"),
    MintJWTSVID: unimplementedUnary("MintJWTSVID"),
    NewDownstreamX509CA: unimplementedUnary("NewDownstreamX509CA"),
    MintWITSVID: unimplementedUnary("MintWITSVID"),
    BatchNewWITSVID: unimplementedUnary("BatchNewWITSVID"),
  };
}
