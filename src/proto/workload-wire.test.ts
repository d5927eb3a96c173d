import { describe, expect, test } from "vitest";

import { workloadApiService } from "./services.js";
import type { workload } from "./index.js";
import { methodShapes, serverStream, unary, wireBytes } from "./test-support.js";

const SVID_ID = "spiffe://a.test/w"; // 17 bytes
const FOREIGN_TD = "spiffe://b.test"; // 15 bytes

describe("SpiffeWorkloadAPI wire format", () => {
  test("method paths and streaming", () => {
    expect(methodShapes(workloadApiService)).toEqual({
      FetchX509SVID: serverStream("/SpiffeWorkloadAPI/FetchX509SVID"),
      FetchX509Bundles: serverStream("/SpiffeWorkloadAPI/FetchX509Bundles"),
      FetchJWTSVID: unary("/SpiffeWorkloadAPI/FetchJWTSVID"),
      FetchJWTBundles: serverStream("/SpiffeWorkloadAPI/FetchJWTBundles"),
      ValidateJWTSVID: unary("/SpiffeWorkloadAPI/ValidateJWTSVID"),
      FetchWITSVID: serverStream("/SpiffeWorkloadAPI/FetchWITSVID"),
      FetchWITBundles: serverStream("/SpiffeWorkloadAPI/FetchWITBundles"),
    });
  });

  test("X509SVIDResponse svid and federated bundle", () => {
    const response: workload.X509SVIDResponse = {
      svids: [{ spiffe_id: SVID_ID, x509_svid: Buffer.from([0x01]), x509_svid_key: Buffer.from([0x02]), bundle: Buffer.from([0x03]), hint: "h" }],
      federated_bundles: { [FOREIGN_TD]: Buffer.from([0x04, 0x05]) },
    };

    const svid = wireBytes(
      0x0a, 17, SVID_ID, // spiffe_id = 1
      0x12, 1, 0x01, // x509_svid = 2
      0x1a, 1, 0x02, // x509_svid_key = 3
      0x22, 1, 0x03, // bundle = 4
      0x2a, 1, "h", // hint = 5
    );
    const bundleEntry = wireBytes(0x0a, 15, FOREIGN_TD, 0x12, 2, 0x04, 0x05);
    const expected = Buffer.concat([
      wireBytes(0x0a, svid.length), svid, // svids = 1
      wireBytes(0x1a, bundleEntry.length), bundleEntry, // federated_bundles = 3 (map entry)
    ]);

    expect(workloadApiService.FetchX509SVID.responseSerialize(response)).toEqual(expected);

    const decoded = workloadApiService.FetchX509SVID.responseDeserialize(expected);
    expect(decoded.svids[0]?.hint).toBe("h");
    expect(decoded.federated_bundles[FOREIGN_TD]).toEqual(Buffer.from([0x04, 0x05]));
    expect(decoded.crl).toEqual([]);
  });

  test("X509BundlesResponse crl and bundles", () => {
    const encoded = workloadApiService.FetchX509Bundles.responseSerialize({
      crl: [Buffer.from([0x09])],
      bundles: { "spiffe://a.test": Buffer.from([0x01]) },
    });

    const entry = wireBytes(0x0a, 15, "spiffe://a.test", 0x12, 1, 0x01);
    expect(encoded).toEqual(Buffer.concat([wireBytes(0x0a, 1, 0x09, 0x12, entry.length), entry]));
  });

  test("JWTSVIDRequest and JWTSVIDResponse", () => {
    const request = workloadApiService.FetchJWTSVID.requestSerialize({ audience: ["x", "y"], spiffe_id: "s" });
    expect(request).toEqual(wireBytes(0x0a, 1, "x", 0x0a, 1, "y", 0x12, 1, "s"));

    const response = workloadApiService.FetchJWTSVID.responseSerialize({
      svids: [{ spiffe_id: SVID_ID, svid: "t", hint: "h" }],
    });
    const svid = wireBytes(0x0a, 17, SVID_ID, 0x12, 1, "t", 0x1a, 1, "h");
    expect(response).toEqual(Buffer.concat([wireBytes(0x0a, svid.length), svid]));
  });

  test("JWTBundlesResponse bundles map", () => {
    const encoded = workloadApiService.FetchJWTBundles.responseSerialize({
      bundles: { "spiffe://a.test": Buffer.from("{}") },
    });

    const entry = wireBytes(0x0a, 15, "spiffe://a.test", 0x12, 2, "{}");
    expect(encoded).toEqual(Buffer.concat([wireBytes(0x0a, entry.length), entry]));
  });

  test("ValidateJWTSVID request and claims", () => {
    const request = workloadApiService.ValidateJWTSVID.requestSerialize({ audience: "a", svid: "t" });
    expect(request).toEqual(wireBytes(0x0a, 1, "a", 0x12, 1, "t"));

    const response = workloadApiService.ValidateJWTSVID.responseSerialize({
      spiffe_id: "s",
      claims: { fields: { sub: { stringValue: "s" } } },
    });
    // Struct.fields = 1 (map entry: key = 1, Value = 2), Value.string_value = 3.
    // The well-known types come from protobufjs with camelCase field names.
    const value = wireBytes(0x1a, 1, "s");
    const entry = Buffer.concat([wireBytes(0x0a, 3, "sub", 0x12, value.length), value]);
    const struct = Buffer.concat([wireBytes(0x0a, entry.length), entry]);
    expect(response).toEqual(Buffer.concat([wireBytes(0x0a, 1, "s", 0x12, struct.length), struct]));

    const decoded = workloadApiService.ValidateJWTSVID.responseDeserialize(response);
    expect(decoded.claims?.fields["sub"]?.stringValue).toBe("s");
    expect(decoded.claims?.fields["sub"]?.kind).toBe("stringValue");
  });

  test("WIT-SVID messages", () => {
    const request = workloadApiService.FetchWITSVID.requestSerialize({ spiffe_id: "s" });
    expect(request).toEqual(wireBytes(0x0a, 1, "s"));

    const response = workloadApiService.FetchWITSVID.responseSerialize({
      svids: [{ spiffe_id: "s", wit_svid: "t", wit_svid_key: "k", hint: "h" }],
    });
    const svid = wireBytes(0x0a, 1, "s", 0x12, 1, "t", 0x1a, 1, "k", 0x22, 1, "h");
    expect(response).toEqual(Buffer.concat([wireBytes(0x0a, svid.length), svid]));

    const bundles = workloadApiService.FetchWITBundles.responseSerialize({ bundles: { "spiffe://a.test": "{}" } });
    const entry = wireBytes(0x0a, 15, "spiffe://a.test", 0x12, 2, "{}");
    expect(bundles).toEqual(Buffer.concat([wireBytes(0x0a, entry.length), entry]));
    expect(workloadApiService.FetchWITBundles.responseDeserialize(bundles).bundles["spiffe://a.test"]).toBe("{}");
  });
});
