import { describe, expect, test } from "vitest";

import { bundleService } from "./services.js";
import { methodShapes, unary, wireBytes } from "./test-support.js";

const BUNDLE_PATH = "/spire.api.server.bundle.v1.Bundle";

describe("spire.api.server.bundle.v1.Bundle wire format", () => {
  test("method paths and streaming", () => {
    expect(methodShapes(bundleService)).toEqual({
      CountBundles: unary(`${BUNDLE_PATH}/CountBundles`),
      GetBundle: unary(`${BUNDLE_PATH}/GetBundle`),
      AppendBundle: unary(`${BUNDLE_PATH}/AppendBundle`),
      PublishJWTAuthority: unary(`${BUNDLE_PATH}/PublishJWTAuthority`),
      PublishWITAuthority: unary(`${BUNDLE_PATH}/PublishWITAuthority`),
      ListFederatedBundles: unary(`${BUNDLE_PATH}/ListFederatedBundles`),
      GetFederatedBundle: unary(`${BUNDLE_PATH}/GetFederatedBundle`),
      BatchCreateFederatedBundle: unary(`${BUNDLE_PATH}/BatchCreateFederatedBundle`),
      BatchUpdateFederatedBundle: unary(`${BUNDLE_PATH}/BatchUpdateFederatedBundle`),
      BatchSetFederatedBundle: unary(`${BUNDLE_PATH}/BatchSetFederatedBundle`),
      BatchDeleteFederatedBundle: unary(`${BUNDLE_PATH}/BatchDeleteFederatedBundle`),
    });
  });

  test("Bundle with every authority kind", () => {
    const encoded = bundleService.GetBundle.responseSerialize({
      trust_domain: "a.test",
      x509_authorities: [{ asn1: Buffer.from([0x01]), tainted: true }],
      jwt_authorities: [{ public_key: Buffer.from([0x02]), key_id: "k", expires_at: 10, tainted: true }],
      refresh_hint: 300,
      sequence_number: 7,
      wit_authorities: [{ key_id: "w" }],
    });

    const expected = wireBytes(
      0x0a, 6, "a.test", // trust_domain = 1
      0x12, 5, 0x0a, 1, 0x01, 0x10, 1, // x509_authorities = 2 { asn1 = 1, tainted = 2 }
      0x1a, 10, 0x0a, 1, 0x02, 0x12, 1, "k", 0x18, 10, 0x20, 1, // jwt_authorities = 3 { public_key, key_id, expires_at, tainted }
      0x20, 0xac, 0x02, // refresh_hint = 4, varint 300
      0x28, 7, // sequence_number = 5
      0x32, 3, 0x12, 1, "w", // wit_authorities = 6 { key_id = 2 }
    );
    expect(encoded).toEqual(expected);

    const decoded = bundleService.GetBundle.responseDeserialize(expected);
    expect(decoded.sequence_number).toBe(7);
    expect(decoded.jwt_authorities[0]?.expires_at).toBe(10);
    expect(decoded.wit_authorities[0]?.key_id).toBe("w");
  });

  test("GetFederatedBundleRequest with mask", () => {
    const encoded = bundleService.GetFederatedBundle.requestSerialize({
      trust_domain: "b.test",
      output_mask: { x509_authorities: true, wit_authorities: true },
    });

    // trust_domain = 1, output_mask = 2 { x509_authorities = 2, wit_authorities = 6 }
    expect(encoded).toEqual(wireBytes(0x0a, 6, "b.test", 0x12, 4, 0x10, 1, 0x30, 1));
  });

  test("AppendBundle and publish requests", () => {
    const append = bundleService.AppendBundle.requestSerialize({
      jwt_authorities: [{ key_id: "k" }],
      wit_authorities: [{ key_id: "w" }],
    });
    expect(append).toEqual(wireBytes(0x12, 3, 0x12, 1, "k", 0x22, 3, 0x12, 1, "w"));

    const publishJwt = bundleService.PublishJWTAuthority.requestSerialize({ jwt_authority: { key_id: "k" } });
    expect(publishJwt).toEqual(wireBytes(0x0a, 3, 0x12, 1, "k"));

    const publishWit = bundleService.PublishWITAuthority.responseDeserialize(wireBytes(0x0a, 3, 0x12, 1, "w"));
    expect(publishWit.wit_authorities[0]?.key_id).toBe("w");
  });

  test("BatchDeleteFederatedBundleRequest mode", () => {
    const encoded = bundleService.BatchDeleteFederatedBundle.requestSerialize({
      trust_domains: ["b.test"],
      mode: "DISSOCIATE",
    });
    expect(encoded).toEqual(wireBytes(0x0a, 6, "b.test", 0x10, 2));

    expect(bundleService.BatchDeleteFederatedBundle.requestDeserialize(wireBytes(0x10, 1)).mode).toBe("DELETE");
    expect(bundleService.BatchDeleteFederatedBundle.requestDeserialize(wireBytes()).mode).toBe("RESTRICT");
  });

  test("ListFederatedBundles paging fields", () => {
    const request = bundleService.ListFederatedBundles.requestSerialize({ page_size: 2, page_token: "p" });
    expect(request).toEqual(wireBytes(0x10, 2, 0x1a, 1, "p"));

    const response = bundleService.ListFederatedBundles.responseDeserialize(
      wireBytes(0x0a, 3, 0x0a, 1, "b", 0x12, 1, "n"),
    );
    expect(response.bundles[0]?.trust_domain).toBe("b");
    expect(response.next_page_token).toBe("n");
  });
});
