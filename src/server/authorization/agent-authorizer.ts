import { X509Certificate as NodeCertificate } from "node:crypto";
import { status } from "@grpc/grpc-js";
import { formatSpiffeId } from "../../spiffe/spiffe-id.js";
import { verifyX509SvidChain } from "../../spiffe/x509-svid.js";
import { serialNumberToDecimal } from "../ca/serial-number.js";
import type { NodeStore } from "../datastore/node-store.js";
import { permissionDenied, rpcError } from "../endpoints/rpc-error.js";
import type { RpcError } from "../endpoints/rpc-error.js";

/** Inputs of {@link authorizeAgent}. */
export interface AgentAuthorizationInput {
  /** Client certificate chain of the connection, leaf first; undefined when none was sent. */
  peerChain: Buffer[] | undefined;
  /** DER roots of the server's trust domain. */
  roots: Buffer[];
  trustDomain: string;
  nodes: NodeStore;
  now: Date;
}

/**
 * Checks that the caller presented a valid agent SVID of an attested, unbanned agent and
 * returns the agent's SPIFFE ID; otherwise throws a PermissionDenied {@link RpcError}.
 *
 * The checks and their order follow SPIRE's AgentAuthorizer: an expired SVID gives
 * AGENT_EXPIRED, an unknown agent AGENT_NOT_ATTESTED, a banned one (empty stored serial)
 * AGENT_BANNED, and a serial that is neither the current nor the pending one
 * AGENT_NOT_ACTIVE. The first call made with the pending serial (issued by RenewAgent)
 * promotes it to current, which retires the old SVID.
 *
 * The chain is verified against the bundle at a time inside the leaf's validity, so that
 * an expired but genuine SVID is reported as expired rather than as untrusted.
 */
export function authorizeAgent(input: AgentAuthorizationInput): string {
  const chain = input.peerChain;
  if (chain === undefined || chain.length === 0) {
    throw rpcError(status.PERMISSION_DENIED, "caller is not an agent: the connection has no client certificate");
  }

  const leaf = new NodeCertificate(chain[0] as Buffer);
  const notAfter = new Date(leaf.validTo);
  const expired = input.now.getTime() > notAfter.getTime();
  const verifyAt = expired ? new Date(notAfter.getTime() - 1000) : input.now;

  let agentId: string;
  try {
    const id = verifyX509SvidChain(withoutRoots(chain, input.roots), input.roots, verifyAt);
    if (id.trustDomain !== input.trustDomain || !id.path.startsWith("/spire/agent/")) {
      throw new Error(`${formatSpiffeId(id)} is not an agent ID of trust domain ${input.trustDomain}`);
    }
    agentId = formatSpiffeId(id);
  } catch (error) {
    throw rpcError(status.PERMISSION_DENIED, `caller is not an agent: ${(error as Error).message}`);
  }

  if (expired) {
    throw permissionDenied("AGENT_EXPIRED", `agent "${agentId}" SVID is expired`);
  }

  const node = input.nodes.get(agentId);
  if (node === undefined) {
    throw permissionDenied("AGENT_NOT_ATTESTED", `agent "${agentId}" is not attested`);
  }
  if (node.certSerialNumber === "") {
    throw permissionDenied("AGENT_BANNED", `agent "${agentId}" is banned`);
  }

  const serialNumber = serialNumberToDecimal(leaf.serialNumber);
  if (serialNumber === node.certSerialNumber) {
    return agentId;
  }
  if (serialNumber === node.newCertSerialNumber) {
    input.nodes.activateNewCertificate(agentId, serialNumber);
    return agentId;
  }
  throw permissionDenied(
    "AGENT_NOT_ACTIVE",
    `agent "${agentId}" expected to have serial number "${node.certSerialNumber}"; has "${serialNumber}"`,
  );
}

/** Drops trailing copies of bundle roots, which some clients send along with their chain. */
function withoutRoots(chain: Buffer[], roots: Buffer[]): Buffer[] {
  const trimmed = [...chain];
  while (trimmed.length > 1 && roots.some((root) => root.equals(trimmed[trimmed.length - 1] as Buffer))) {
    trimmed.pop();
  }
  return trimmed;
}
