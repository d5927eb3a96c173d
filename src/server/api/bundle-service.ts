import { status } from "@grpc/grpc-js";
import type { BundleHandlers, types } from "../../proto/index.js";
import { parseTrustDomain } from "../../spiffe/trust-domain.js";
import type { CallAuthorizer, CallPeer } from "../authorization/call-authorizer.js";
import { rpcError } from "../endpoints/rpc-error.js";
import { unary, unimplementedUnary, validating } from "./handler.js";
import { paginate } from "./pagination.js";
import { bundleToProto } from "./proto-convert.js";
import type { ServerContext } from "./server-context.js";

/**
 * Implements `spire.api.server.bundle.v1.Bundle`: the server's own bundle for anyone
 * (agents fetch it right after attestation, before they hold an SVID), federated bundles for
 * agents and admins. Changing federated bundles is not offered yet (Unimplemented).
 */
export function createBundleService(context: ServerContext, authorizer: CallAuthorizer): BundleHandlers {
  const log = context.logger.child({ subsystem: "bundle_api" });
  const { datastore, trustDomain } = context;

  function requireAgentOrAdmin(call: CallPeer): void {
    try {
      authorizer.admin(call);
    } catch {
      authorizer.agent(call);
    }
  }

  return {
    GetBundle: unary(log, "GetBundle", (call) => {
      const bundle = datastore.bundles.get(trustDomain);
      if (bundle === undefined) throw rpcError(status.NOT_FOUND, "bundle not found");
      return applyBundleMask(bundleToProto(bundle), call.request.output_mask);
    }),

    GetFederatedBundle: unary(log, "GetFederatedBundle", (call) => {
      requireAgentOrAdmin(call);
      const federated = validating("trust domain argument is not valid", () => parseTrustDomain(call.request.trust_domain));
      if (federated === trustDomain) {
        throw rpcError(status.INVALID_ARGUMENT, "getting a federated bundle for the server's own trust domain is not allowed");
      }
      const bundle = datastore.bundles.get(federated);
      if (bundle === undefined) throw rpcError(status.NOT_FOUND, "bundle not found");
      return applyBundleMask(bundleToProto(bundle), call.request.output_mask);
    }),

    ListFederatedBundles: unary(log, "ListFederatedBundles", (call) => {
      authorizer.admin(call);
      const federated = datastore.bundles.list().filter((bundle) => bundle.trustDomain !== trustDomain);
      const page = validating("invalid request", () => paginate(federated, call.request.page_size, call.request.page_token));
      return {
        bundles: page.items.map((bundle) => applyBundleMask(bundleToProto(bundle), call.request.output_mask)),
        next_page_token: page.nextPageToken,
      };
    }),

    CountBundles: unary(log, "CountBundles", (call) => {
      authorizer.admin(call);
      return { count: datastore.bundles.list().length };
    }),

    AppendBundle: unimplementedUnary("AppendBundle"),
    PublishJWTAuthority: unimplementedUnary("PublishJWTAuthority"),
    PublishWITAuthority: unimplementedUnary("PublishWITAuthority"),
    BatchCreateFederatedBundle: unimplementedUnary("BatchCreateFederatedBundle"),
    BatchUpdateFederatedBundle: unimplementedUnary("BatchUpdateFederatedBundle"),
    BatchSetFederatedBundle: unimplementedUnary("BatchSetFederatedBundle"),
    BatchDeleteFederatedBundle: unimplementedUnary("BatchDeleteFederatedBundle"),
  };
}

/** Clears the bundle fields the mask leaves out; a null mask keeps every field. */
function applyBundleMask(bundle: types.Bundle__Output, mask: types.BundleMask__Output | null): types.Bundle__Output {
  if (mask === null) return bundle;
  return {
    trust_domain: bundle.trust_domain,
    x509_authorities: mask.x509_authorities ? bundle.x509_authorities : [],
    jwt_authorities: mask.jwt_authorities ? bundle.jwt_authorities : [],
    refresh_hint: mask.refresh_hint ? bundle.refresh_hint : 0,
    sequence_number: mask.sequence_number ? bundle.sequence_number : 0,
    wit_authorities: mask.wit_authorities ? bundle.wit_authorities : [],
  };
}
