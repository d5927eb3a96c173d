import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";

import { cleanStatusDetails, toServerRpcError } from "./rpc-failure.js";

describe("cleanStatusDetails", () => {
  it("drops an empty resolution note", () => {
    const details = "No connection established. Last error: Error: self-signed certificate in certificate chain. Resolution note: ";

    expect(cleanStatusDetails(details)).toBe("No connection established. Last error: self-signed certificate in certificate chain");
  });

  it("keeps a resolution note with text", () => {
    const details = "No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:1. Resolution note: DNS lookup failed";

    expect(cleanStatusDetails(details)).toBe("No connection established. Last error: connect ECONNREFUSED 127.0.0.1:1. Resolution note: DNS lookup failed");
  });
});

describe("toServerRpcError", () => {
  it("names the status and cleaned details", () => {
    const error = Object.assign(new Error("14 UNAVAILABLE: ..."), {
      code: status.UNAVAILABLE,
      details: "No connection established. Last error: Error: certificate has expired. Resolution note: ",
    });

    const wrapped = toServerRpcError("failed to attest agent", error);

    expect(wrapped.message).toBe("failed to attest agent: UNAVAILABLE: No connection established. Last error: certificate has expired");
    expect(wrapped.code).toBe(status.UNAVAILABLE);
  });
});
