import { Metadata, status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";

import { permissionDenied } from "../../server/endpoints/rpc-error.js";
import { isAgentRejected, permissionDeniedReason } from "./permission-denied.js";
import { errorLogFields, toServerRpcError } from "./rpc-failure.js";

describe("permissionDeniedReason", () => {
  it("decodes every reason the server encodes", () => {
    for (const reason of ["UNKNOWN", "AGENT_EXPIRED", "AGENT_NOT_ATTESTED", "AGENT_NOT_ACTIVE", "AGENT_BANNED", "AGENT_MUST_REATTEST"] as const) {
      expect(permissionDeniedReason(permissionDenied(reason, "refused"))).toBe(reason);
    }
  });

  it("ignores other status codes", () => {
    expect(permissionDeniedReason({ code: status.UNAVAILABLE, metadata: new Metadata() })).toBeUndefined();
  });

  it("falls back to UNKNOWN without a readable detail", () => {
    const metadata = new Metadata();
    metadata.set("grpc-status-details-bin", Buffer.from([0x1a, 0xff]));

    expect(permissionDeniedReason({ code: status.PERMISSION_DENIED, metadata })).toBe("UNKNOWN");
    expect(permissionDeniedReason({ code: status.PERMISSION_DENIED, metadata: new Metadata() })).toBe("UNKNOWN");
  });

  it("treats only known reasons as rejection", () => {
    expect(isAgentRejected("AGENT_BANNED")).toBe(true);
    expect(isAgentRejected("UNKNOWN")).toBe(false);
    expect(isAgentRejected(undefined)).toBe(false);
  });
});

describe("toServerRpcError", () => {
  it("keeps the code and reason for logs", () => {
    const error = toServerRpcError("failed to fetch bundle", permissionDenied("AGENT_BANNED", "agent is banned"));

    expect(error.message).toBe("failed to fetch bundle: PERMISSION_DENIED: agent is banned (reason AGENT_BANNED)");
    expect(error.code).toBe(status.PERMISSION_DENIED);
    expect(errorLogFields(error)).toEqual({ error: error.message, status_code: "PERMISSION_DENIED", reason: "AGENT_BANNED" });
  });
});
