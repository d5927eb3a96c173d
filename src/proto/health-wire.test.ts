import { describe, expect, test } from "vitest";

import { healthService } from "./services.js";
import { methodShapes, serverStream, unary, wireBytes } from "./test-support.js";

describe("grpc.health.v1.Health wire format", () => {
  test("method paths and streaming", () => {
    expect(methodShapes(healthService)).toEqual({
      Check: unary("/grpc.health.v1.Health/Check"),
      Watch: serverStream("/grpc.health.v1.Health/Watch"),
    });
  });

  test("HealthCheckRequest service name", () => {
    expect(healthService.Check.requestSerialize({ service: "x" })).toEqual(wireBytes(0x0a, 1, "x"));
    expect(healthService.Check.requestDeserialize(wireBytes()).service).toBe("");
  });

  test("HealthCheckResponse status values", () => {
    expect(healthService.Check.responseSerialize({ status: "SERVING" })).toEqual(wireBytes(0x08, 1));
    expect(healthService.Check.responseSerialize({ status: "NOT_SERVING" })).toEqual(wireBytes(0x08, 2));
    expect(healthService.Watch.responseDeserialize(wireBytes(0x08, 3)).status).toBe("SERVICE_UNKNOWN");
    expect(healthService.Watch.responseDeserialize(wireBytes()).status).toBe("UNKNOWN");
  });
});
