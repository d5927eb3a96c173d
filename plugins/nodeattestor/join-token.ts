import type { NodeAttestor } from "./node-attestor.js";

/**
 * Creates the `join_token` NodeAttestor: the payload is the token itself, which the server
 * accepts once and then deletes. `token` may be undefined when the agent expects to reuse
 * a stored SVID; attestation then fails with a message saying how to pass a token.
 */
export function createJoinTokenAttestor(token: string | undefined): NodeAttestor {
  return {
    name: "join_token",
    reattestable: false,

    async attestationData() {
      if (token === undefined || token === "") {
        throw new Error(
          "join token attestation needs a token: set agent.join_token or agent.join_token_file, or pass -joinToken " +
            "(create one with `tessera-server token generate -spiffeID <agent ID>`)",
        );
      }
      return { type: "join_token", payload: Buffer.from(token) };
    },

    async respondToChallenge() {
      throw new Error("the server sent a challenge, but join token attestation has none");
    },
  };
}
