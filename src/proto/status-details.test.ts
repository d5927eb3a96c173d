import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { credentials, Metadata, Server, ServerCredentials, status } from "@grpc/grpc-js";
import type { ServiceError } from "@grpc/grpc-js";
import { afterAll, describe, expect, test } from "vitest";

import { decodeMessage, encodeMessage } from "./codec.js";
import { HealthClient, healthService } from "./services.js";
import type { HealthHandlers } from "./services.js";
import { permissionDeniedMetadata, readPermissionDeniedReason, STATUS_DETAILS_KEY } from "./status-details.js";
import { wireBytes } from "./test-support.js";

const TYPE_URL = "type.googleapis.com/spire.api.types.PermissionDeniedDetails"; // 59 bytes
const tempDir = mkdtempSync(join(tmpdir(), "tessera-status-details-"));

afterAll(() => {
  rmSync(tempDir, { recursive: true, force: true });
});

describe("codec", () => {
  test("PermissionDeniedDetails reason bytes", () => {
    const encoded = encodeMessage("spire.api.types.PermissionDeniedDetails", { reason: "AGENT_MUST_REATTEST" });

    expect(encoded).toEqual(wireBytes(0x08, 5)); // reason = 1, AGENT_MUST_REATTEST = 5
    expect(decodeMessage("spire.api.types.PermissionDeniedDetails", wireBytes(0x08, 4))).toEqual({
      reason: "AGENT_BANNED",
    });
  });

  test("unknown type name fails", () => {
    expect(() => encodeMessage("spire.api.types.NoSuchMessage", {})).toThrow(/unknown protobuf message type/);
  });

  test("malformed bytes fail", () => {
    // details = 3 claims 9 bytes but only 1 follows.
    expect(() => decodeMessage("google.rpc.Status", wireBytes(0x1a, 9, 0x0a))).toThrow();
  });
});

describe("permissionDeniedMetadata", () => {
  test("trailer holds google.rpc.Status with detail", () => {
    const metadata = permissionDeniedMetadata("AGENT_BANNED", "m");

    const anyValue = Buffer.concat([wireBytes(0x0a, TYPE_URL.length, TYPE_URL), wireBytes(0x12, 2, 0x08, 4)]);
    const expected = Buffer.concat([
      wireBytes(0x08, 7), // code = 1, PERMISSION_DENIED
      wireBytes(0x12, 1, "m"), // message = 2
      wireBytes(0x1a, anyValue.length), anyValue, // details = 3 { type_url = 1, value = 2 }
    ]);
    expect(metadata.get(STATUS_DETAILS_KEY)).toEqual([expected]);
  });

  test("reason survives a real gRPC call", async () => {
    const target = `unix://${join(tempDir, "api.sock")}`;
    const server = new Server();
    server.addService(healthService, {
      Check: (_call, callback) =>
        callback({
          code: status.PERMISSION_DENIED,
          details: "agent must reattest",
          metadata: permissionDeniedMetadata("AGENT_MUST_REATTEST", "agent must reattest"),
        }),
      Watch: (call) => call.end(),
    } satisfies HealthHandlers);
    await new Promise<void>((resolve, reject) => {
      server.bindAsync(target, ServerCredentials.createInsecure(), (error) => (error ? reject(error) : resolve()));
    });
    const client = new HealthClient(target, credentials.createInsecure());

    const error = await new Promise<ServiceError>((resolve, reject) => {
      client.Check({}, (callError) => (callError ? resolve(callError) : reject(new Error("call succeeded"))));
    });
    client.close();
    server.forceShutdown();

    expect(error.code).toBe(status.PERMISSION_DENIED);
    expect(error.details).toBe("agent must reattest");
    expect(readPermissionDeniedReason(error.metadata)).toBe("AGENT_MUST_REATTEST");
  });
});

describe("readPermissionDeniedReason", () => {
  test("missing trailer gives undefined", () => {
    expect(readPermissionDeniedReason(undefined)).toBeUndefined();
    expect(readPermissionDeniedReason(new Metadata())).toBeUndefined();
  });

  test("malformed trailer gives undefined", () => {
    const metadata = new Metadata();
    metadata.set(STATUS_DETAILS_KEY, wireBytes(0x1a, 9, 0x0a));

    expect(readPermissionDeniedReason(metadata)).toBeUndefined();
  });

  test("other detail types give undefined", () => {
    const metadata = new Metadata();
    const any = wireBytes(0x0a, 8, "x.test/y", 0x12, 0);
    metadata.set(STATUS_DETAILS_KEY, Buffer.concat([wireBytes(0x08, 7, 0x1a, any.length), any]));

    expect(readPermissionDeniedReason(metadata)).toBeUndefined();
  });
});
