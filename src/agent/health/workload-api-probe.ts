import { resolve } from "node:path";

import { credentials, status as Status } from "@grpc/grpc-js";
import type { ServiceError } from "@grpc/grpc-js";

import { HealthClient } from "../../proto/index.js";

/** Result of a health probe on the agent's own Workload API socket. */
export interface WorkloadApiProbeResult {
  /** `serving` and `not_serving` are the gRPC health status; `unavailable` means the socket did not respond. */
  state: "serving" | "not_serving" | "unavailable";
  /** Reason the probe failed, when `state` is `unavailable`. */
  error?: string;
}

/** Settings for {@link createWorkloadApiProbe}. */
export interface WorkloadApiProbeOptions {
  socketPath: string;
  /** Deadline of one probe call in milliseconds; default 2 s. */
  timeoutMs?: number;
  /** How long a result is reused, in milliseconds; default 1 s, so frequent health requests cost at most one call per second. */
  reuseMs?: number;
}

/**
 * Creates a probe that calls `grpc.health.v1.Health/Check` on the agent's own Workload
 * API socket over a new connection, so it shows that the socket accepts connections and
 * the gRPC server responds. As in SPIRE's agent, only a call that cannot reach the server
 * (Unavailable, or no response before the deadline) counts as a failure. A response with
 * an error status still shows that the server responds. Concurrent callers share one call.
 */
export function createWorkloadApiProbe(options: WorkloadApiProbeOptions): () => Promise<WorkloadApiProbeResult> {
  const target = `unix://${resolve(options.socketPath)}`;
  const timeoutMs = options.timeoutMs ?? 2_000;
  const reuseMs = options.reuseMs ?? 1_000;
  let last: { atMs: number; result: Promise<WorkloadApiProbeResult> } | undefined;

  return () => {
    const nowMs = performance.now();
    if (last === undefined || nowMs - last.atMs >= reuseMs) {
      last = { atMs: nowMs, result: probeOnce(target, timeoutMs) };
    }
    return last.result;
  };
}

function probeOnce(target: string, timeoutMs: number): Promise<WorkloadApiProbeResult> {
  const client = new HealthClient(target, credentials.createInsecure());
  return new Promise<WorkloadApiProbeResult>((resolveResult) => {
    client.Check({ service: "" }, { deadline: Date.now() + timeoutMs }, (error: ServiceError | null, response) => {
      client.close();
      if (error === null) {
        resolveResult({ state: response?.status === "SERVING" ? "serving" : "not_serving" });
        return;
      }

      if (error.code === Status.UNAVAILABLE || error.code === Status.DEADLINE_EXCEEDED) {
        resolveResult({ state: "unavailable", error: `the Workload API socket did not respond: ${error.details || error.message}` });
        return;
      }
      resolveResult({ state: "serving" });
    });
  });
}
