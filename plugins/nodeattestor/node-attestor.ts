/** Attestation data sent in the first AttestAgent request. */
export interface AttestationData {
  /** Attestor name; the server picks its matching plugin by it (`join_token`). */
  type: string;
  payload: Buffer;
}

/**
 * A NodeAttestor plugin: proves the node's identity to the server during AttestAgent.
 * Some attestors answer server challenges (x509pop, sshpop); join_token does not.
 */
export interface NodeAttestor {
  /** Plugin name from the configuration. */
  readonly name: string;
  /**
   * True when attesting again with the same configuration can succeed (x509pop proves
   * possession of a key it keeps), false for single-use credentials such as a join token.
   * The agent attests again on its own only when this is true.
   */
  readonly reattestable: boolean;
  /** Returns the attestation data. Throws with a clear message when the node cannot attest (e.g. no token). */
  attestationData(): Promise<AttestationData>;
  /** Returns the response to a server challenge. */
  respondToChallenge(challenge: Buffer): Promise<Buffer>;
}
