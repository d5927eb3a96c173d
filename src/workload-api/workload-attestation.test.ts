import { describe, expect, it } from "vitest";
import type { WorkloadAttestor } from "../../plugins/workloadattestor/workload-attestor.js";
import { createUnixAttestor } from "../../plugins/workloadattestor/unix/unix-attestor.js";
import { captureLogger } from "./test-logger.js";
import { attestWorkload, WorkloadAttestationError } from "./workload-attestation.js";
import type { AttestationResult, WorkloadAttestationObserver } from "./workload-attestation.js";

function fixedAttestor(name: string, values: string[]): WorkloadAttestor {
  return { name, attest: async () => values };
}

function failingAttestor(name: string, message: string): WorkloadAttestor {
  return {
    name,
    attest: async () => {
      throw new Error(message);
    },
  };
}

/** Returns an attestor that never settles and ignores its abort signal, like a hung plugin. */
function hungAttestor(name: string): WorkloadAttestor {
  return { name, attest: () => new Promise<string[]>(() => undefined) };
}

describe("attestWorkload", () => {
  it("types values with the attestor name", async () => {
    const { logger } = captureLogger();

    const selectors = await attestWorkload(process.pid, {
      attestors: [fixedAttestor("docker", ["label:app:web", "label:app:web"]), fixedAttestor("k8s", ["ns:default"])],
      logger,
    });

    expect(selectors).toEqual([
      { type: "docker", value: "label:app:web" },
      { type: "k8s", value: "ns:default" },
    ]);
  });

  it("runs the real unix attestor", async () => {
    const { logger } = captureLogger();
    const unix = createUnixAttestor({ discoverWorkloadPath: false, workloadSizeLimit: 0 });

    const selectors = await attestWorkload(process.pid, { attestors: [unix], logger });

    expect(selectors).toContainEqual({ type: "unix", value: `uid:${process.getuid?.()}` });
  });

  it("keeps other selectors when one attestor fails", async () => {
    const { logger, lines } = captureLogger();

    const selectors = await attestWorkload(4242, {
      attestors: [failingAttestor("docker", "engine not reachable"), fixedAttestor("unix", ["uid:0"])],
      logger,
    });

    expect(selectors).toEqual([{ type: "unix", value: "uid:0" }]);
    expect(lines).toHaveLength(1);
    expect(lines[0]?.pid).toBe(4242);
    expect(lines[0]?.attestor).toBe("docker");
    expect((lines[0]?.err as { message: string }).message).toBe("engine not reachable");
  });

  it("throws when every attestor fails", async () => {
    const { logger, lines } = captureLogger();

    const attempt = attestWorkload(1, {
      attestors: [failingAttestor("docker", "a"), failingAttestor("unix", "b")],
      logger,
    });

    await expect(attempt).rejects.toThrow(WorkloadAttestationError);
    await expect(attempt).rejects.toThrow("workload attestation failed");
    expect(lines).toHaveLength(2);
  });

  it("times out a hung attestor", async () => {
    const { logger, lines } = captureLogger();

    const selectors = await attestWorkload(7, {
      attestors: [hungAttestor("k8s"), fixedAttestor("unix", ["uid:0"])],
      logger,
      timeoutMs: 50,
    });

    expect(selectors).toEqual([{ type: "unix", value: "uid:0" }]);
    expect((lines[0]?.err as { message: string }).message).toBe("k8s attestor timed out after 50 ms");
  });

  it("passes an aborted signal to the attestor on timeout", async () => {
    const { logger } = captureLogger();
    let seenSignal: AbortSignal | undefined;
    const attestor: WorkloadAttestor = {
      name: "slow",
      attest: (_pid, signal) => {
        seenSignal = signal;
        return new Promise<string[]>(() => undefined);
      },
    };

    await expect(attestWorkload(7, { attestors: [attestor], logger, timeoutMs: 20 })).rejects.toThrow(
      WorkloadAttestationError,
    );

    expect(seenSignal?.aborted).toBe(true);
  });

  it("rejects with the reason when the caller aborts", async () => {
    const { logger } = captureLogger();
    const controller = new AbortController();
    const attempt = attestWorkload(7, { attestors: [hungAttestor("k8s")], logger, signal: controller.signal });

    controller.abort(new Error("client went away"));

    await expect(attempt).rejects.toThrow("client went away");
  });

  it("returns nothing without attestors", async () => {
    const { logger } = captureLogger();

    expect(await attestWorkload(7, { attestors: [], logger })).toEqual([]);
  });
});

/** Records what an observer receives, without durations. */
function recordingObserver() {
  const attestors: Array<{ attestor: string; result: AttestationResult }> = [];
  const attestations: Array<{ result: AttestationResult; selectorCount: number }> = [];
  const observer: WorkloadAttestationObserver = {
    attestorFinished: ({ attestor, result, elapsedMs }) => {
      expect(elapsedMs).toBeGreaterThanOrEqual(0);
      attestors.push({ attestor, result });
    },
    attestationFinished: ({ result, selectorCount }) => attestations.push({ result, selectorCount }),
  };
  return { observer, attestors, attestations };
}

describe("attestWorkload observer", () => {
  it("reports each attestor and the whole attestation", async () => {
    const { logger } = captureLogger();
    const recording = recordingObserver();

    await attestWorkload(7, {
      attestors: [fixedAttestor("docker", ["label:app:web"]), failingAttestor("k8s", "kubelet unreachable")],
      logger,
      observer: recording.observer,
    });

    expect(recording.attestors).toEqual([
      { attestor: "docker", result: "ok" },
      { attestor: "k8s", result: "failed" },
    ]);
    expect(recording.attestations).toEqual([{ result: "ok", selectorCount: 1 }]);
  });

  it("reports a timeout apart from other failures", async () => {
    const { logger } = captureLogger();
    const recording = recordingObserver();

    await expect(attestWorkload(7, { attestors: [hungAttestor("k8s")], logger, timeoutMs: 20, observer: recording.observer })).rejects.toThrow(
      WorkloadAttestationError,
    );

    expect(recording.attestors).toEqual([{ attestor: "k8s", result: "timed_out" }]);
    expect(recording.attestations).toEqual([{ result: "failed", selectorCount: 0 }]);
  });

  it("reports a cancelled attestation", async () => {
    const { logger } = captureLogger();
    const recording = recordingObserver();
    const controller = new AbortController();
    const attempt = attestWorkload(7, { attestors: [hungAttestor("k8s")], logger, signal: controller.signal, observer: recording.observer });

    controller.abort(new Error("client went away"));

    await expect(attempt).rejects.toThrow("client went away");
    expect(recording.attestors).toEqual([{ attestor: "k8s", result: "cancelled" }]);
    expect(recording.attestations).toEqual([{ result: "cancelled", selectorCount: 0 }]);
  });
});
