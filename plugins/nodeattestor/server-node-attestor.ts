import type { status } from "@grpc/grpc-js";

import type { Selector } from "../../src/spiffe/selector.js";

/** The outcome of a successful node attestation by a server-side NodeAttestor. */
export interface NodeAttestationResult {
  /** The agent's SPIFFE ID, under `spiffe://<trust domain>/spire/agent/`. */
  agentId: string;
  /** Node selectors, such as `x509pop:subject:cn:node-1`. */
  selectors: Selector[];
  /** True when the node can prove its identity again, so it attests instead of renewing its SVID. */
  canReattest: boolean;
}

/** Sends a challenge to the agent and resolves with its response. */
export type ChallengeExchange = (challenge: Buffer) => Promise<Buffer>;

/**
 * A server-side NodeAttestor plugin: checks the attestation data an agent sends with
 * AttestAgent, challenges it when the method needs proof of possession, and names the agent.
 */
export interface ServerNodeAttestor {
  /** Plugin name; agents send it as the attestation data type. */
  readonly name: string;
  /** Attests one node. Throws a {@link NodeAttestationError} carrying the gRPC code to return. */
  attest(payload: Buffer, exchange: ChallengeExchange): Promise<NodeAttestationResult>;
}

/** A failed attestation with the gRPC status the server returns to the agent. */
export class NodeAttestationError extends Error {
  override readonly name = "NodeAttestationError";

  constructor(
    message: string,
    readonly code: status,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
