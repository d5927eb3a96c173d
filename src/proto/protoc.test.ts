// Cross-checks our .proto files with protoc, an encoder written independently
// of protobufjs. Skipped when protoc is not installed (Debian package
// protobuf-compiler).

import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";

import { afterAll, describe, expect, test } from "vitest";

import { findProtoDir } from "./load.js";
import { agentService, bundleService, entryService, workloadApiService } from "./services.js";

const PROTOC = ["/usr/bin/protoc", "/usr/local/bin/protoc"].find((path) => existsSync(path));
const protoDir = findProtoDir();
const tempDir = mkdtempSync(join(tmpdir(), "tessera-protoc-"));

afterAll(() => {
  rmSync(tempDir, { recursive: true, force: true });
});

function listProtoFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      return listProtoFiles(path);
    }
    return name.endsWith(".proto") ? [relative(protoDir, path)] : [];
  });
}

/** Encodes a text-format message with protoc --encode. */
function protocEncode(protoc: string, file: string, messageName: string, text: string): Buffer {
  return execFileSync(protoc, ["-I", protoDir, `--encode=${messageName}`, file], { input: text });
}

describe.skipIf(PROTOC === undefined)("protoc cross-check (skipped without protoc)", () => {
  const protoc = PROTOC ?? "protoc";

  test("all files compile to a descriptor set", () => {
    const files = listProtoFiles(protoDir);
    const output = join(tempDir, "all.pb");

    execFileSync(protoc, ["-I", protoDir, "--include_imports", `--descriptor_set_out=${output}`, ...files]);

    expect(files.length).toBeGreaterThanOrEqual(18);
    expect(statSync(output).size).toBeGreaterThan(0);
  });

  test("X509SVIDResponse matches protoc encoding", () => {
    const expected = protocEncode(
      protoc,
      "spiffe/workload/workload.proto",
      "X509SVIDResponse",
      'svids { spiffe_id: "spiffe://a.test/w" x509_svid: "\\001" hint: "h" } ' +
        'federated_bundles { key: "spiffe://b.test" value: "\\004\\005" }',
    );

    const actual = workloadApiService.FetchX509SVID.responseSerialize({
      svids: [{ spiffe_id: "spiffe://a.test/w", x509_svid: Buffer.from([0x01]), hint: "h" }],
      federated_bundles: { "spiffe://b.test": Buffer.from([0x04, 0x05]) },
    });
    expect(actual).toEqual(expected);
  });

  test("AttestAgentRequest matches protoc encoding", () => {
    const expected = protocEncode(
      protoc,
      "spire/api/server/agent/v1/agent.proto",
      "spire.api.server.agent.v1.AttestAgentRequest",
      'params { data { type: "join_token" payload: "tok" } params { csr: "\\305" } }',
    );

    const actual = agentService.AttestAgent.requestSerialize({
      params: { data: { type: "join_token", payload: Buffer.from("tok") }, params: { csr: Buffer.from([0xc5]) } },
    });
    expect(actual).toEqual(expected);
  });

  test("Entry matches protoc encoding", () => {
    const expected = protocEncode(
      protoc,
      "spire/api/types/entry.proto",
      "spire.api.types.Entry",
      'id: "e" spiffe_id { trust_domain: "a" path: "/w" } selectors { type: "unix" value: "uid:0" } ' +
        'revision_number: 4 hint: "h" created_at: 5 ' +
        "additional_attributes { disable_x509_svid_prefetch: true jwt_svid_include_jti: true }",
    );

    const actual = entryService.GetEntry.responseSerialize({
      id: "e",
      spiffe_id: { trust_domain: "a", path: "/w" },
      selectors: [{ type: "unix", value: "uid:0" }],
      revision_number: 4,
      hint: "h",
      created_at: 5,
      additional_attributes: { disable_x509_svid_prefetch: true, jwt_svid_include_jti: true },
    });
    expect(actual).toEqual(expected);
  });

  test("SyncAuthorizedEntriesResponse matches protoc encoding", () => {
    const expected = protocEncode(
      protoc,
      "spire/api/server/entry/v1/entry.proto",
      "spire.api.server.entry.v1.SyncAuthorizedEntriesResponse",
      'entry_revisions { id: "a" revision_number: 3 created_at: 9 } more: true',
    );

    const actual = entryService.SyncAuthorizedEntries.responseSerialize({
      entry_revisions: [{ id: "a", revision_number: 3, created_at: 9 }],
      more: true,
    });
    expect(actual).toEqual(expected);
  });

  test("Bundle matches protoc encoding", () => {
    const expected = protocEncode(
      protoc,
      "spire/api/types/bundle.proto",
      "spire.api.types.Bundle",
      'trust_domain: "a.test" x509_authorities { asn1: "\\001" tainted: true } ' +
        'jwt_authorities { key_id: "k" expires_at: 10 } refresh_hint: 300 sequence_number: 7 ' +
        'wit_authorities { key_id: "w" }',
    );

    const actual = bundleService.GetBundle.responseSerialize({
      trust_domain: "a.test",
      x509_authorities: [{ asn1: Buffer.from([0x01]), tainted: true }],
      jwt_authorities: [{ key_id: "k", expires_at: 10 }],
      refresh_hint: 300,
      sequence_number: 7,
      wit_authorities: [{ key_id: "w" }],
    });
    expect(actual).toEqual(expected);
  });
});

