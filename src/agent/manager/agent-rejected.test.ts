import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";

import { ServerRpcError } from "../client/rpc-failure.js";
import { AgentRejectedError, allowsReattestation, asAgentRejection, explainRejection } from "./agent-rejected.js";

const agentId = "spiffe://example.org/spire/agent/join_token/abc";

describe("asAgentRejection", () => {
  it("converts a PermissionDenied with a reason", () => {
    const error = new ServerRpcError("failed to sync: PERMISSION_DENIED", status.PERMISSION_DENIED, "agent is not attested", "AGENT_NOT_ATTESTED");

    const rejection = asAgentRejection(error);

    expect(rejection?.reason).toBe("AGENT_NOT_ATTESTED");
    expect(rejection?.cause).toBe(error);
  });

  it("ignores a PermissionDenied without a reason", () => {
    const error = new ServerRpcError("failed to attest: PERMISSION_DENIED", status.PERMISSION_DENIED, "agent is banned", "UNKNOWN");

    expect(asAgentRejection(error)).toBeUndefined();
  });
});

describe("allowsReattestation", () => {
  it("allows every reason but a ban", () => {
    expect(allowsReattestation("AGENT_EXPIRED")).toBe(true);
    expect(allowsReattestation("AGENT_NOT_ATTESTED")).toBe(true);
    expect(allowsReattestation("AGENT_NOT_ACTIVE")).toBe(true);
    expect(allowsReattestation("AGENT_MUST_REATTEST")).toBe(true);
    expect(allowsReattestation("AGENT_BANNED")).toBe(false);
  });
});

describe("explainRejection", () => {
  it("asks a banned agent's operator to evict it", () => {
    const explained = explainRejection(new AgentRejectedError("AGENT_BANNED"), { spiffeId: agentId, nodeAttestor: "join_token" });

    expect(explained.logMessage).toBe("Agent is banned: removing SVID and shutting down");
    expect(explained.exitMessage).toBe(
      `the server banned the agent ${agentId}: to let this node attest again, evict it on the server (tessera-server agent evict -spiffeID ${agentId}), ` +
        "then start the agent again with a new join token (create one with `tessera-server token generate -spiffeID <node ID>`)",
    );
  });

  it("asks a banned x509pop agent to restart", () => {
    const x509popId = "spiffe://example.org/spire/agent/x509pop/0123abcd";

    const explained = explainRejection(new AgentRejectedError("AGENT_BANNED"), { spiffeId: x509popId, nodeAttestor: "x509pop" });

    expect(explained.exitMessage).toBe(
      `the server banned the agent ${x509popId}: to let this node attest again, evict it on the server (tessera-server agent evict -spiffeID ${x509popId}), ` +
        "then start the agent again to attest with x509pop",
    );
  });

  it("asks for a new join token", () => {
    const explained = explainRejection(new AgentRejectedError("AGENT_NOT_ATTESTED"), { spiffeId: agentId, nodeAttestor: "join_token" });

    expect(explained.logMessage).toBe("Agent must attest again with a new join token: removing SVID and shutting down");
    expect(explained.exitMessage).toBe(
      `the server rejected the agent ${agentId} (AGENT_NOT_ATTESTED): a join token works only once, so start the agent with a new join token ` +
        "(create one with `tessera-server token generate -spiffeID <node ID>`)",
    );
  });

  it("names a failed reattestation", () => {
    const rejection = new AgentRejectedError("AGENT_EXPIRED", { reattestationFailure: new Error("certificate verification failed") });

    const explained = explainRejection(rejection, { spiffeId: agentId, nodeAttestor: "x509pop" });

    expect(explained.logMessage).toBe("Agent failed to attest again: removing SVID and shutting down");
    expect(explained.exitMessage).toBe(
      `the server rejected the agent ${agentId} (AGENT_EXPIRED) and attesting again with x509pop failed: certificate verification failed; fix that, then start the agent again`,
    );
  });
});
