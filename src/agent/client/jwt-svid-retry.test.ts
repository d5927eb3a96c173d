import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";

import { isRetryableJwtSvidFailure, retryWithinDeadline } from "./jwt-svid-retry.js";
import { ServerRpcError } from "./rpc-failure.js";

function rpcError(code: status): ServerRpcError {
  return new ServerRpcError(`failed to mint JWT-SVID: ${status[code]}`, code, "", undefined);
}

/** Creates a fake clock whose sleep moves time forward and records each wait. */
function fakeTime() {
  let nowMs = 0;
  const waits: number[] = [];
  return {
    now: () => nowMs,
    sleep: async (ms: number) => {
      waits.push(ms);
      nowMs += ms;
    },
    waits,
  };
}

describe("isRetryableJwtSvidFailure", () => {
  it("retries transient statuses only", () => {
    expect(isRetryableJwtSvidFailure(rpcError(status.UNAVAILABLE))).toBe(true);
    expect(isRetryableJwtSvidFailure(rpcError(status.RESOURCE_EXHAUSTED))).toBe(true);
    expect(isRetryableJwtSvidFailure(rpcError(status.PERMISSION_DENIED))).toBe(true);
    expect(isRetryableJwtSvidFailure(rpcError(status.UNKNOWN))).toBe(false);
    expect(isRetryableJwtSvidFailure(rpcError(status.CANCELLED))).toBe(false);
    expect(isRetryableJwtSvidFailure(rpcError(status.DEADLINE_EXCEEDED))).toBe(false);
    expect(isRetryableJwtSvidFailure(rpcError(status.INVALID_ARGUMENT))).toBe(false);
    expect(isRetryableJwtSvidFailure(rpcError(status.UNIMPLEMENTED))).toBe(false);
    expect(isRetryableJwtSvidFailure(new Error("plain"))).toBe(false);
  });
});

describe("retryWithinDeadline", () => {
  it("retries until the call succeeds", async () => {
    const time = fakeTime();
    const deadlines: number[] = [];
    let calls = 0;

    const result = await retryWithinDeadline(
      async (deadlineMs) => {
        deadlines.push(deadlineMs);
        calls++;
        if (calls < 3) {
          throw rpcError(status.UNAVAILABLE);
        }
        return "token";
      },
      { timeoutMs: 30_000, now: time.now, sleep: time.sleep },
    );

    expect(result).toBe("token");
    expect(time.waits).toEqual([1_000, 1_500]);
    expect(deadlines).toEqual([30_000, 30_000, 30_000]);
  });

  it("stops at a final status", async () => {
    const time = fakeTime();
    let calls = 0;
    const attempt = async (): Promise<string> => {
      calls++;
      throw rpcError(status.INVALID_ARGUMENT);
    };

    await expect(retryWithinDeadline(attempt, { timeoutMs: 30_000, now: time.now, sleep: time.sleep })).rejects.toThrow("INVALID_ARGUMENT");
    expect(calls).toBe(1);
  });

  it("stops before passing the deadline", async () => {
    const time = fakeTime();
    let calls = 0;
    const attempt = async (): Promise<string> => {
      calls++;
      throw rpcError(status.UNAVAILABLE);
    };

    await expect(retryWithinDeadline(attempt, { timeoutMs: 5_000, now: time.now, sleep: time.sleep })).rejects.toThrow("UNAVAILABLE");
    // Waits of 1 s, 1.5 s and 2.25 s fit in 5 s; the next 3.375 s would not.
    expect(time.waits).toEqual([1_000, 1_500, 2_250]);
    expect(calls).toBe(4);
  });
});
