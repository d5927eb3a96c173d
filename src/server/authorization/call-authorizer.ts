import { status } from "@grpc/grpc-js";
import type { Datastore } from "../datastore/datastore.js";
import { rpcError } from "../endpoints/rpc-error.js";
import { authorizeAgent } from "./agent-authorizer.js";

/** The part of a grpc-js call an authorizer reads. */
export interface CallPeer {
  getPeer(): string;
}

/**
 * Decides who may call a method, per endpoint. The TCP endpoint identifies agents by their
 * SVIDs. The admin Unix socket trusts every caller as a local administrator, because the
 * socket's 0600 mode and 0700 folder limit who can connect.
 */
export interface CallAuthorizer {
  /** Returns the calling agent's SPIFFE ID, or throws PermissionDenied. */
  agent(call: CallPeer): string;
  /** Returns normally for a local administrator, or throws PermissionDenied. */
  admin(call: CallPeer): void;
}

/** Settings of {@link createAgentEndpointAuthorizer}. */
export interface AgentEndpointAuthorizerOptions {
  trustDomain: string;
  datastore: Datastore;
  /** Client certificate chain of the connection a call came in on. */
  peerCertificates: (peer: string) => Buffer[] | undefined;
  now?: () => Date;
}

/**
 * Authorizer of the TCP endpoint: agents prove themselves with their SVID. Admin methods are
 * refused here, because admin SVIDs (entries with `admin = true`) are not supported yet;
 * administrators use the Unix socket.
 */
export function createAgentEndpointAuthorizer(options: AgentEndpointAuthorizerOptions): CallAuthorizer {
  const now = options.now ?? (() => new Date());
  return {
    agent(call) {
      const bundle = options.datastore.bundles.get(options.trustDomain);
      return authorizeAgent({
        peerChain: options.peerCertificates(call.getPeer()),
        roots: bundle?.x509Authorities ?? [],
        trustDomain: options.trustDomain,
        nodes: options.datastore.nodes,
        now: now(),
      });
    },
    admin() {
      // TODO: accept admin SVIDs (entries with admin = true) as SPIRE does.
      throw rpcError(status.PERMISSION_DENIED, "admin methods are served on the admin Unix socket only");
    },
  };
}

/** Authorizer of the admin Unix socket: every caller is a local administrator, none is an agent. */
export function createLocalAuthorizer(): CallAuthorizer {
  return {
    agent() {
      throw rpcError(status.PERMISSION_DENIED, "caller is not an agent: agent methods are served on the TCP endpoint");
    },
    admin() {},
  };
}
