import { describe, expect, test } from "vitest";

import { svidService } from "./services.js";
import { methodShapes, unary, wireBytes } from "./test-support.js";

const SVID_PATH = "/spire.api.server.svid.v1.SVID";

describe("spire.api.server.svid.v1.SVID wire format", () => {
  test("method paths and streaming", () => {
    expect(methodShapes(svidService)).toEqual({
      MintX509SVID: unary(`${SVID_PATH}/MintX509SVID`),
      MintJWTSVID: unary(`${SVID_PATH}/MintJWTSVID`),
      BatchNewX509SVID: unary(`${SVID_PATH}/BatchNewX509SVID`),
      NewJWTSVID: unary(`${SVID_PATH}/NewJWTSVID`),
      NewDownstreamX509CA: unary(`${SVID_PATH}/NewDownstreamX509CA`),
      MintWITSVID: unary(`${SVID_PATH}/MintWITSVID`),
      BatchNewWITSVID: unary(`${SVID_PATH}/BatchNewWITSVID`),
    });
  });

  test("BatchNewX509SVIDRequest params", () => {
    const encoded = svidService.BatchNewX509SVID.requestSerialize({
      params: [{ entry_id: "e1", csr: Buffer.from([0x01]) }],
    });

    // params = 1 { entry_id = 1, csr = 2 }
    expect(encoded).toEqual(wireBytes(0x0a, 7, 0x0a, 2, "e1", 0x12, 1, 0x01));
  });

  test("BatchNewX509SVIDResponse results", () => {
    const encoded = svidService.BatchNewX509SVID.responseSerialize({
      results: [
        { status: { code: 3, message: "bad" } },
        { status: {}, svid: { cert_chain: [Buffer.from([0x01])] } },
      ],
    });

    const failed = wireBytes(0x0a, 7, 0x08, 3, 0x12, 3, "bad"); // status = 1 { code = 1, message = 2 }
    const issued = wireBytes(0x0a, 0, 0x12, 3, 0x0a, 1, 0x01); // status = 1 {}, svid = 2 { cert_chain = 1 }
    expect(encoded).toEqual(
      Buffer.concat([wireBytes(0x0a, failed.length), failed, wireBytes(0x0a, issued.length), issued]),
    );

    const decoded = svidService.BatchNewX509SVID.responseDeserialize(encoded);
    expect(decoded.results[0]?.status?.code).toBe(3);
    expect(decoded.results[0]?.svid).toBeNull();
    expect(decoded.results[1]?.svid?.cert_chain).toEqual([Buffer.from([0x01])]);
  });

  test("NewJWTSVID request and response", () => {
    const request = svidService.NewJWTSVID.requestSerialize({ entry_id: "e1", audience: ["a", "b"] });
    expect(request).toEqual(wireBytes(0x0a, 2, "e1", 0x12, 1, "a", 0x12, 1, "b"));

    const response = svidService.NewJWTSVID.responseSerialize({
      svid: { token: "t", expires_at: 2, issued_at: 1, hint: "h" },
    });
    // svid = 1 { token = 1, expires_at = 3, issued_at = 4, hint = 5 }
    expect(response).toEqual(wireBytes(0x0a, 10, 0x0a, 1, "t", 0x18, 2, 0x20, 1, 0x2a, 1, "h"));
  });

  test("Mint requests", () => {
    const x509 = svidService.MintX509SVID.requestSerialize({ csr: Buffer.from([0x01]), ttl: 60 });
    expect(x509).toEqual(wireBytes(0x0a, 1, 0x01, 0x10, 60));

    const jwt = svidService.MintJWTSVID.requestSerialize({ id: { trust_domain: "a" }, audience: ["x"], ttl: 60 });
    expect(jwt).toEqual(wireBytes(0x0a, 3, 0x0a, 1, "a", 0x12, 1, "x", 0x18, 60));

    const wit = svidService.MintWITSVID.requestSerialize({ public_key: Buffer.from([0x02]), ttl: 60 });
    expect(wit).toEqual(wireBytes(0x12, 1, 0x02, 0x18, 60));
  });

  test("NewDownstreamX509CA request and response", () => {
    const request = svidService.NewDownstreamX509CA.requestSerialize({ csr: Buffer.from([0x01]), preferred_ttl: 60 });
    expect(request).toEqual(wireBytes(0x0a, 1, 0x01, 0x10, 60));

    const response = svidService.NewDownstreamX509CA.responseDeserialize(wireBytes(0x0a, 1, 0x01, 0x12, 1, 0x02));
    expect(response.ca_cert_chain).toEqual([Buffer.from([0x01])]);
    expect(response.x509_authorities).toEqual([Buffer.from([0x02])]);
  });

  test("BatchNewWITSVID request and response", () => {
    const request = svidService.BatchNewWITSVID.requestSerialize({
      params: [{ entry_id: "e1", public_key: Buffer.from([0x02]) }],
    });
    expect(request).toEqual(wireBytes(0x0a, 7, 0x0a, 2, "e1", 0x12, 1, 0x02));

    const response = svidService.BatchNewWITSVID.responseDeserialize(wireBytes(0x0a, 5, 0x12, 3, 0x0a, 1, "t"));
    expect(response.results[0]?.svid?.token).toBe("t");
  });
});
