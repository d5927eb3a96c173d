import { createSecureContext } from "node:tls";
import { isIP } from "node:net";

import { ChannelCredentials } from "@grpc/grpc-js";
import type { ChannelOptions } from "@grpc/grpc-js";

import { certificatesToPem } from "../../spiffe/bundle.js";
import { pkcs8ToPem } from "../crypto/ec-key.js";
import { serverIdentityChecker } from "./server-identity.js";

/** Where the server listens and which trust domain it must belong to. */
export interface ServerEndpoint {
  address: string;
  port: number;
  /** Bare trust domain name; the server must present `spiffe://<td>/spire/server`. */
  trustDomain: string;
}

/** The agent's own SVID and key, for mutual TLS. */
export interface AgentTlsIdentity {
  /** DER certificates, leaf first. */
  svidChain: Buffer[];
  privateKeyPkcs8: Buffer;
}

/** Returns the grpc-js target for the server: `dns:host:port`, or `ipv6:[addr]:port` for IPv6 literals. */
export function serverTarget(endpoint: ServerEndpoint): string {
  if (isIP(endpoint.address) === 6) {
    return `ipv6:[${endpoint.address}]:${endpoint.port}`;
  }
  return `dns:${endpoint.address}:${endpoint.port}`;
}

/**
 * Channel options for every connection to the server.
 *
 * When the server address is an IP literal, `grpc.ssl_target_name_override` sets the TLS
 * server name (SNI) to the trust domain name. grpc-js would otherwise pass the IP address as
 * the server name, which Node.js flags with a deprecation warning (RFC 6066 forbids IP
 * addresses in SNI). The override changes nothing else: grpc-js hands it to the
 * `checkServerIdentity` callback, which ignores the host name and checks the SPIFFE ID.
 * The service config lookup is off because the server is not discovered through DNS TXT
 * records, as in SPIRE's agent.
 */
export function serverChannelOptions(endpoint: ServerEndpoint): ChannelOptions {
  const options: ChannelOptions = { "grpc.service_config_disable_resolution": 1 };
  if (isIP(endpoint.address) !== 0) {
    options["grpc.ssl_target_name_override"] = endpoint.trustDomain;
  }
  return options;
}

/**
 * Creates TLS credentials without a client certificate, for AttestAgent: the server chain
 * must verify against `roots` and the server must present its SPIFFE ID.
 *
 * For insecure bootstrap, `roots` is the server's own leaf certificate, fetched by
 * {@link fetchServerCertificateInsecurely}, and `pinnedLeaf` is true: OpenSSL then accepts
 * that exact certificate as a trust anchor (`allowPartialTrustChain`, Node.js 20.18 or
 * 22.9 and later), so the connection that carries the join token goes to the server whose
 * SPIFFE ID was checked. A Node.js without that option rejects the pinned leaf, which fails
 * closed.
 */
export function bootstrapCredentials(endpoint: ServerEndpoint, roots: Buffer[], pinnedLeaf = false): ChannelCredentials {
  const secureContext = createSecureContext({
    ca: certificatesToPem(roots),
    allowPartialTrustChain: pinnedLeaf,
  });
  return ChannelCredentials.createFromSecureContext(secureContext, {
    checkServerIdentity: serverIdentityChecker(endpoint.trustDomain),
  });
}

/**
 * Creates mutual TLS credentials for every RPC after attestation: the agent presents its
 * SVID, and the server chain must verify against the agent's current trust bundle and
 * carry the server's SPIFFE ID.
 */
export function agentCredentials(endpoint: ServerEndpoint, identity: AgentTlsIdentity, bundle: Buffer[]): ChannelCredentials {
  return ChannelCredentials.createSsl(
    Buffer.from(certificatesToPem(bundle)),
    Buffer.from(pkcs8ToPem(identity.privateKeyPkcs8)),
    Buffer.from(certificatesToPem(identity.svidChain)),
    { checkServerIdentity: serverIdentityChecker(endpoint.trustDomain) },
  );
}
