// Wire format of the agent admin APIs (Debug and Logger): method paths and
// field numbers stated as literal bytes, then cross-checked with protoc when
// it is installed (Debian package protobuf-compiler).

import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";

import { describe, expect, test } from "vitest";

import { findProtoDir } from "./load.js";
import { debugService, loggerService } from "./services.js";
import { methodShapes, unary, wireBytes } from "./test-support.js";

const PROTOC = ["/usr/bin/protoc", "/usr/local/bin/protoc"].find((path) => existsSync(path));

function protocEncode(file: string, messageName: string, text: string): Buffer {
  return execFileSync(PROTOC ?? "protoc", ["-I", findProtoDir(), `--encode=${messageName}`, file], { input: text });
}

describe("spire.agent.debug.v1.Debug wire format", () => {
  test("method paths and streaming", () => {
    expect(methodShapes(debugService)).toEqual({
      GetInfo: unary("/spire.agent.debug.v1.Debug/GetInfo"),
    });
  });

  test("GetInfoResponse field numbers", () => {
    const encoded = debugService.GetInfo.responseSerialize({
      svid_chain: [{ id: { trust_domain: "a", path: "/p" }, expires_at: 5, subject: "O=S" }],
      uptime: 1,
      svids_count: 2,
      last_sync_success: 3,
      cached_x509_svids_count: 4,
      cached_jwt_svids_count: 5,
      cached_svidstore_x509_svids_count: 6,
    });

    expect(encoded).toEqual(
      wireBytes(
        0x0a, 16, 0x0a, 7, 0x0a, 1, "a", 0x12, 2, "/p", 0x10, 5, 0x1a, 3, "O=S",
        0x10, 1,
        0x18, 2,
        0x20, 3,
        0x28, 4,
        0x30, 5,
        0x38, 6,
      ),
    );
  });

  test("GetInfoResponse decodes defaults", () => {
    const decoded = debugService.GetInfo.responseDeserialize(wireBytes(0x0a, 0));

    expect(decoded.svid_chain).toEqual([{ id: null, expires_at: 0, subject: "" }]);
    expect(decoded.uptime).toBe(0);
    expect(decoded.last_sync_success).toBe(0);
    expect(decoded.cached_svidstore_x509_svids_count).toBe(0);
  });

  test("GetInfoRequest is empty", () => {
    expect(debugService.GetInfo.requestSerialize({})).toEqual(wireBytes());
  });
});

describe("spire.api.agent.logger.v1.Logger wire format", () => {
  test("method paths and streaming", () => {
    expect(methodShapes(loggerService)).toEqual({
      GetLogger: unary("/spire.api.agent.logger.v1.Logger/GetLogger"),
      SetLogLevel: unary("/spire.api.agent.logger.v1.Logger/SetLogLevel"),
      ResetLogLevel: unary("/spire.api.agent.logger.v1.Logger/ResetLogLevel"),
    });
  });

  test("LogLevel enum values", () => {
    const levels = ["UNSPECIFIED", "PANIC", "FATAL", "ERROR", "WARN", "INFO", "DEBUG", "TRACE"] as const;

    levels.forEach((level, number) => {
      const encoded = loggerService.SetLogLevel.requestSerialize({ new_level: level });
      // protobufjs writes a field that the caller set even when it contains the default (0).
      expect(encoded, level).toEqual(wireBytes(0x08, number));
      expect(loggerService.SetLogLevel.requestDeserialize(wireBytes(0x08, number)).new_level, level).toBe(level);
    });
  });

  test("Logger field numbers", () => {
    const encoded = loggerService.GetLogger.responseSerialize({ current_level: "DEBUG", launch_level: "INFO" });

    expect(encoded).toEqual(wireBytes(0x08, 6, 0x10, 5));
    expect(loggerService.ResetLogLevel.responseDeserialize(wireBytes(0x10, 7))).toEqual({ current_level: "UNSPECIFIED", launch_level: "TRACE" });
  });
});

describe.skipIf(PROTOC === undefined)("admin APIs protoc cross-check (skipped without protoc)", () => {
  test("GetInfoResponse matches protoc encoding", () => {
    const expected = protocEncode(
      "spire/api/agent/debug/v1/debug.proto",
      "spire.agent.debug.v1.GetInfoResponse",
      'svid_chain { id { trust_domain: "a.test" path: "/agent" } expires_at: 1700000000 subject: "O=SPIRE,C=US" } ' +
        "svid_chain { expires_at: 1800000000 subject: \"CN=root\" } " +
        "uptime: 42 svids_count: 3 last_sync_success: 1700000123 cached_x509_svids_count: 3 " +
        "cached_jwt_svids_count: 1 cached_svidstore_x509_svids_count: 2",
    );

    const actual = debugService.GetInfo.responseSerialize({
      svid_chain: [
        { id: { trust_domain: "a.test", path: "/agent" }, expires_at: 1700000000, subject: "O=SPIRE,C=US" },
        { expires_at: 1800000000, subject: "CN=root" },
      ],
      uptime: 42,
      svids_count: 3,
      last_sync_success: 1700000123,
      cached_x509_svids_count: 3,
      cached_jwt_svids_count: 1,
      cached_svidstore_x509_svids_count: 2,
    });
    expect(actual).toEqual(expected);
  });

  test("Logger and SetLogLevelRequest match protoc encoding", () => {
    const logger = protocEncode("spire/api/types/logger.proto", "spire.api.types.Logger", "current_level: WARN launch_level: TRACE");
    const request = protocEncode("spire/api/agent/logger/v1/logger.proto", "spire.api.agent.logger.v1.SetLogLevelRequest", "new_level: PANIC");

    expect(loggerService.SetLogLevel.responseSerialize({ current_level: "WARN", launch_level: "TRACE" })).toEqual(logger);
    expect(loggerService.SetLogLevel.requestSerialize({ new_level: "PANIC" })).toEqual(request);
  });
});
