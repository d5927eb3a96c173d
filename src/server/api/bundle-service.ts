import { status } from "@grpc/grpc-js";
import type { BundleHandlers, bundlev1, types } from "../../proto/index.js";
import { parseTrustDomain } from "../../spiffe/trust-domain.js";
import type { CallAuthorizer, CallPeer } from "../authorization/call-authorizer.js";
import { BundleInUseError, BundleNotFoundError, deleteFederatedBundle } from "../datastore/delete-federated-bundle.js";
import type { FederatedBundleDeleteMode } from "../datastore/delete-federated-bundle.js";
import type { Bundle } from "../datastore/types.js";
import { rpcError } from "../endpoints/rpc-error.js";
import { invalidArgument, unary, unimplementedUnary, validating } from "./handler.js";
import { paginate } from "./pagination.js";
import { bundleFromProto, bundleToProto } from "./proto-convert.js";
import type { ServerContext } from "./server-context.js";

type BundleStatus = { code: status; message: string };

type BundleWrite = "create" | "set" | "update";

const WRITE_GERUNDS: Record<BundleWrite, string> = { create: "creating", set: "setting", update: "updating" };

/**
 * Implements `spire.api.server.bundle.v1.Bundle`: the server's own bundle for anyone
 * (agents fetch it right after attestation, before they hold an SVID), federated bundles for
 * agents and admins, and creating, setting, updating and deleting federated bundles for
 * admins. AppendBundle and publishing authorities return Unimplemented.
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

  function failure(action: string, trustDomainName: string, code: status, message: string): { status: BundleStatus; bundle: null } {
    log.info({ trust_domain: trustDomainName, code: status[code], error: message }, `Failed to ${action} federated bundle`);
    return { status: { code, message }, bundle: null };
  }

  /**
   * Checks and converts one federated bundle of a batch. Returns the stored form, or the
   * failed result when the trust domain is invalid or the server's own, or a field is invalid.
   */
  function convertFederated(
    action: BundleWrite,
    input: types.Bundle__Output,
  ): Omit<Bundle, "sequenceNumber"> | { status: BundleStatus; bundle: null } {
    let federated: string;
    try {
      federated = parseTrustDomain(input.trust_domain);
    } catch (error) {
      return failure(action, input.trust_domain, status.INVALID_ARGUMENT, `trust domain argument is not valid: ${(error as Error).message}`);
    }
    if (federated === trustDomain) {
      return failure(action, federated, status.INVALID_ARGUMENT, `${WRITE_GERUNDS[action]} a federated bundle for the server's own trust domain is not allowed`);
    }
    try {
      return bundleFromProto(input);
    } catch (error) {
      return failure(action, federated, status.INVALID_ARGUMENT, `failed to convert bundle: ${(error as Error).message}`);
    }
  }

  function stored(bundle: Bundle, mask: types.BundleMask__Output | null, message: string) {
    log.info({ trust_domain: bundle.trustDomain, sequence_number: bundle.sequenceNumber }, message);
    return { status: { code: status.OK, message: "OK" }, bundle: applyBundleMask(bundleToProto(bundle), mask) };
  }

  function createFederated(input: types.Bundle__Output, mask: types.BundleMask__Output | null) {
    const converted = convertFederated("create", input);
    if ("status" in converted) return converted;
    const created = datastore.transaction(() => {
      if (datastore.bundles.get(converted.trustDomain) !== undefined) return undefined;
      return datastore.bundles.set(converted);
    });
    if (created === undefined) return failure("create", converted.trustDomain, status.ALREADY_EXISTS, "bundle already exists");
    return stored(created, mask, "Federated bundle created");
  }

  function setFederated(input: types.Bundle__Output, mask: types.BundleMask__Output | null) {
    const converted = convertFederated("set", input);
    if ("status" in converted) return converted;
    return stored(datastore.bundles.set(converted), mask, "Federated bundle set");
  }

  function updateFederated(input: types.Bundle__Output, inputMask: types.BundleMask__Output | null, outputMask: types.BundleMask__Output | null) {
    const converted = convertFederated("update", input);
    if ("status" in converted) return converted;
    const updated = datastore.transaction(() => {
      const current = datastore.bundles.get(converted.trustDomain);
      if (current === undefined) return undefined;
      // Fields outside the input mask keep their stored values, and a null mask replaces them all.
      return datastore.bundles.set({
        trustDomain: current.trustDomain,
        x509Authorities: inputMask === null || inputMask.x509_authorities ? converted.x509Authorities : current.x509Authorities,
        jwtAuthorities: inputMask === null || inputMask.jwt_authorities ? converted.jwtAuthorities : current.jwtAuthorities,
        refreshHint: inputMask === null || inputMask.refresh_hint ? converted.refreshHint : current.refreshHint,
      });
    });
    if (updated === undefined) return failure("update", converted.trustDomain, status.NOT_FOUND, "bundle not found");
    return stored(updated, outputMask, "Federated bundle updated");
  }

  function deleteFederated(name: string, mode: FederatedBundleDeleteMode): bundlev1.BatchDeleteFederatedBundleResponseResult {
    const result = (code: status, message: string) => ({ status: { code, message }, trust_domain: name });
    const rejected = (code: status, message: string) => {
      log.info({ trust_domain: name, mode, code: status[code], error: message }, "Failed to delete federated bundle");
      return result(code, message);
    };

    let federated: string;
    try {
      federated = parseTrustDomain(name);
    } catch (error) {
      return rejected(status.INVALID_ARGUMENT, `trust domain argument is not valid: ${(error as Error).message}`);
    }
    if (federated === trustDomain) {
      return rejected(status.INVALID_ARGUMENT, "removing the bundle for the server trust domain is not allowed");
    }

    try {
      const entryIds = deleteFederatedBundle(datastore, federated, mode);
      log.info({ trust_domain: federated, mode, entry_ids: entryIds }, "Federated bundle deleted");
      return result(status.OK, "OK");
    } catch (error) {
      if (error instanceof BundleNotFoundError) return rejected(status.NOT_FOUND, "bundle not found");
      if (error instanceof BundleInUseError) {
        return rejected(status.FAILED_PRECONDITION, `failed to delete federated bundle: ${error.message}`);
      }
      log.error({ trust_domain: federated, mode, err: error }, "Failed to delete federated bundle");
      return result(status.INTERNAL, `failed to delete federated bundle: ${(error as Error).message}`);
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

    BatchCreateFederatedBundle: unary(log, "BatchCreateFederatedBundle", (call) => {
      authorizer.admin(call);
      return { results: call.request.bundle.map((bundle) => createFederated(bundle, call.request.output_mask)) };
    }),

    BatchSetFederatedBundle: unary(log, "BatchSetFederatedBundle", (call) => {
      authorizer.admin(call);
      return { results: call.request.bundle.map((bundle) => setFederated(bundle, call.request.output_mask)) };
    }),

    BatchUpdateFederatedBundle: unary(log, "BatchUpdateFederatedBundle", (call) => {
      authorizer.admin(call);
      const { bundle: bundles, input_mask: inputMask, output_mask: outputMask } = call.request;
      return { results: bundles.map((bundle) => updateFederated(bundle, inputMask, outputMask)) };
    }),

    BatchDeleteFederatedBundle: unary(log, "BatchDeleteFederatedBundle", (call) => {
      authorizer.admin(call);
      const mode = deleteModeFromProto(call.request.mode);
      return { results: call.request.trust_domains.map((name) => deleteFederated(name, mode)) };
    }),
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

function deleteModeFromProto(mode: bundlev1.BatchDeleteFederatedBundleMode__Output): FederatedBundleDeleteMode {
  switch (mode) {
    case "RESTRICT":
      return "restrict";
    case "DELETE":
      return "delete";
    case "DISSOCIATE":
      return "dissociate";
    default:
      return invalidArgument(`failed to parse deletion mode: unknown mode ${JSON.stringify(mode)}`);
  }
}
