import { describe, expect, test } from "vitest";

import { entryService } from "./services.js";
import { bidiStream, methodShapes, unary, wireBytes } from "./test-support.js";

const ENTRY_PATH = "/spire.api.server.entry.v1.Entry";

describe("spire.api.server.entry.v1.Entry wire format", () => {
  test("method paths and streaming", () => {
    expect(methodShapes(entryService)).toEqual({
      CountEntries: unary(`${ENTRY_PATH}/CountEntries`),
      ListEntries: unary(`${ENTRY_PATH}/ListEntries`),
      GetEntry: unary(`${ENTRY_PATH}/GetEntry`),
      BatchCreateEntry: unary(`${ENTRY_PATH}/BatchCreateEntry`),
      BatchUpdateEntry: unary(`${ENTRY_PATH}/BatchUpdateEntry`),
      BatchDeleteEntry: unary(`${ENTRY_PATH}/BatchDeleteEntry`),
      GetAuthorizedEntries: unary(`${ENTRY_PATH}/GetAuthorizedEntries`),
      SyncAuthorizedEntries: bidiStream(`${ENTRY_PATH}/SyncAuthorizedEntries`),
    });
  });

  test("Entry fields up to additional_attributes", () => {
    const encoded = entryService.GetEntry.responseSerialize({
      id: "e",
      spiffe_id: { trust_domain: "a", path: "/w" },
      selectors: [{ type: "unix", value: "uid:0" }],
      x509_svid_ttl: 60,
      federates_with: ["b"],
      revision_number: 4,
      jwt_svid_ttl: 30,
      hint: "h",
      created_at: 5,
      additional_attributes: { disable_x509_svid_prefetch: true, jwt_svid_include_jti: true },
    });

    const expected = wireBytes(
      0x0a, 1, "e", // id = 1
      0x12, 7, 0x0a, 1, "a", 0x12, 2, "/w", // spiffe_id = 2
      0x22, 13, 0x0a, 4, "unix", 0x12, 5, "uid:0", // selectors = 4
      0x28, 60, // x509_svid_ttl = 5
      0x32, 1, "b", // federates_with = 6
      0x58, 4, // revision_number = 11
      0x68, 30, // jwt_svid_ttl = 13
      0x72, 1, "h", // hint = 14
      0x78, 5, // created_at = 15
      0x82, 0x01, 4, 0x08, 1, 0x10, 1, // additional_attributes = 16 (two-byte tag)
    );
    expect(encoded).toEqual(expected);

    const decoded = entryService.GetEntry.responseDeserialize(expected);
    expect(decoded.created_at).toBe(5);
    expect(decoded.additional_attributes?.jwt_svid_include_jti).toBe(true);
  });

  test("Entry flags and expiry", () => {
    const decoded = entryService.GetEntry.responseDeserialize(
      wireBytes(0x1a, 3, 0x0a, 1, "a", 0x38, 1, 0x40, 1, 0x48, 9, 0x52, 1, "d", 0x60, 1),
    );

    expect(decoded.parent_id).toEqual({ trust_domain: "a", path: "" }); // parent_id = 3
    expect(decoded.admin).toBe(true); // admin = 7
    expect(decoded.downstream).toBe(true); // downstream = 8
    expect(decoded.expires_at).toBe(9); // expires_at = 9
    expect(decoded.dns_names).toEqual(["d"]); // dns_names = 10
    expect(decoded.store_svid).toBe(true); // store_svid = 12
  });

  test("EntryMask created_at and additional_attributes", () => {
    const encoded = entryService.GetAuthorizedEntries.requestSerialize({
      output_mask: { spiffe_id: true, created_at: true, additional_attributes: true },
    });

    // output_mask = 1 { spiffe_id = 2, created_at = 15, additional_attributes = 16 }
    expect(encoded).toEqual(wireBytes(0x0a, 7, 0x10, 1, 0x78, 1, 0x80, 0x01, 1));
  });

  test("SyncAuthorizedEntriesRequest ids", () => {
    const encoded = entryService.SyncAuthorizedEntries.requestSerialize({
      output_mask: { spiffe_id: true },
      ids: ["a", "b"],
    });

    expect(encoded).toEqual(wireBytes(0x0a, 2, 0x10, 1, 0x12, 1, "a", 0x12, 1, "b"));
  });

  test("SyncAuthorizedEntriesResponse revisions and more", () => {
    const revisions = entryService.SyncAuthorizedEntries.responseSerialize({
      entry_revisions: [{ id: "a", revision_number: 3, created_at: 9 }],
      more: true,
    });
    // entry_revisions = 1 { id = 1, revision_number = 2, created_at = 3 }, more = 3
    expect(revisions).toEqual(wireBytes(0x0a, 7, 0x0a, 1, "a", 0x10, 3, 0x18, 9, 0x18, 1));

    const entries = entryService.SyncAuthorizedEntries.responseSerialize({ entries: [{ id: "e" }], more: false });
    expect(entries).toEqual(wireBytes(0x12, 3, 0x0a, 1, "e", 0x18, 0)); // entries = 2

    const decoded = entryService.SyncAuthorizedEntries.responseDeserialize(revisions);
    expect(decoded.more).toBe(true);
    expect(decoded.entry_revisions[0]?.created_at).toBe(9);
  });

  test("ListEntriesRequest filter wrappers", () => {
    const encoded = entryService.ListEntries.requestSerialize({
      filter: { by_hint: { value: "h" }, by_downstream: { value: true } },
      page_token: "p",
    });

    // filter = 1 { by_hint = 5 (StringValue), by_downstream = 6 (BoolValue) }, page_token = 4
    expect(encoded).toEqual(wireBytes(0x0a, 9, 0x2a, 3, 0x0a, 1, "h", 0x32, 2, 0x08, 1, 0x22, 1, "p"));
  });

  test("batch entry results", () => {
    const created = entryService.BatchCreateEntry.responseDeserialize(
      wireBytes(0x0a, 9, 0x0a, 2, 0x08, 6, 0x12, 3, 0x0a, 1, "e"),
    );
    expect(created.results[0]?.status?.code).toBe(6);
    expect(created.results[0]?.entry?.id).toBe("e");

    const deleted = entryService.BatchDeleteEntry.responseDeserialize(wireBytes(0x0a, 5, 0x0a, 0, 0x12, 1, "e"));
    expect(deleted.results[0]?.id).toBe("e");

    const update = entryService.BatchUpdateEntry.requestSerialize({ input_mask: { hint: true }, output_mask: {} });
    expect(update).toEqual(wireBytes(0x12, 2, 0x70, 1, 0x1a, 0)); // input_mask = 2 { hint = 14 }, output_mask = 3
  });
});
