import type { Logger } from "pino";
import type { WorkloadAttestor } from "../../plugins/workloadattestor/workload-attestor.js";
import type { Selector } from "../spiffe/selector.js";
import { dedupeSelectors, sortSelectors } from "../spiffe/selector.js";

/**
 * Default time one attestor may take for one call, in milliseconds. SPIRE's `k8s` plugin
 * polls the kubelet up to 60 times, 500 ms apart, by default, while a new pod becomes
 * visible. The limit is 5 s longer than those 30 s, so the plugin stops polling first and
 * logs its own reason instead of a bare timeout.
 */
export const DEFAULT_ATTESTOR_TIMEOUT_MS = 35_000;

/** Raised when every configured attestor failed for a caller; the Workload API maps it to Unavailable. */
export class WorkloadAttestationError extends Error {
  override readonly name = "WorkloadAttestationError";
}

/** Raised when one attestor exceeds its time limit. */
export class AttestorTimeoutError extends Error {
  override readonly name = "AttestorTimeoutError";
}

/** Outcome of an attestation run. `timed_out` applies to one attestor, and `cancelled` means the caller's signal aborted. */
export type AttestationResult = "ok" | "failed" | "timed_out" | "cancelled";

/** Receives how each attestor run and each whole attestation ended, e.g. to count failures per attestor. */
export interface WorkloadAttestationObserver {
  attestorFinished(outcome: { attestor: string; result: AttestationResult; elapsedMs: number }): void;
  attestationFinished(outcome: { result: AttestationResult; elapsedMs: number; selectorCount: number }): void;
}

/** Settings for {@link attestWorkload}. */
export interface WorkloadAttestationOptions {
  attestors: readonly WorkloadAttestor[];
  logger: Logger;
  /** Time limit per attestor in milliseconds; default {@link DEFAULT_ATTESTOR_TIMEOUT_MS}. */
  timeoutMs?: number;
  /** Aborts every attestor, e.g. when the client cancels its call. */
  signal?: AbortSignal;
  observer?: WorkloadAttestationObserver;
}

/**
 * Runs every attestor for `pid` in parallel and returns the union of their selectors,
 * typed with each attestor's name, without repeats and sorted.
 *
 * An attestor that throws or exceeds its time limit is logged with `pid` and `attestor`,
 * and the others' selectors are still used, as SPIRE does. When all attestors fail it
 * throws {@link WorkloadAttestationError}. When `signal` aborts it rejects with the abort
 * reason. With no attestors configured it returns no selectors.
 */
export async function attestWorkload(pid: number, options: WorkloadAttestationOptions): Promise<Selector[]> {
  const startedMs = performance.now();
  const report = (result: AttestationResult, selectorCount: number): void =>
    options.observer?.attestationFinished({ result, selectorCount, elapsedMs: performance.now() - startedMs });

  try {
    const selectors = await attestWithEveryAttestor(pid, options);
    report("ok", selectors.length);
    return selectors;
  } catch (error) {
    report(options.signal?.aborted === true ? "cancelled" : "failed", 0);
    throw error;
  }
}

async function attestWithEveryAttestor(pid: number, options: WorkloadAttestationOptions): Promise<Selector[]> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_ATTESTOR_TIMEOUT_MS;
  const signal = options.signal ?? new AbortController().signal;
  signal.throwIfAborted();

  const results = await Promise.allSettled(
    options.attestors.map((attestor) => observeAttestor(attestor.name, runAttestor(attestor, pid, timeoutMs, signal), signal, options.observer)),
  );
  signal.throwIfAborted();

  const selectors: Selector[] = [];
  let failures = 0;
  results.forEach((result, index) => {
    const attestor = options.attestors[index] as WorkloadAttestor;
    if (result.status === "rejected") {
      failures += 1;
      options.logger.error({ pid, attestor: attestor.name, err: result.reason }, "Workload attestor failed");
      return;
    }
    for (const value of result.value) {
      selectors.push({ type: attestor.name, value });
    }
  });

  if (failures > 0 && failures === options.attestors.length) {
    throw new WorkloadAttestationError("workload attestation failed");
  }

  return sortSelectors(dedupeSelectors(selectors));
}

/**
 * Runs one attestor with its own abort signal, which fires on the time limit or when the
 * caller's signal aborts. The race also settles for a plugin that ignores its signal.
 */
async function runAttestor(
  attestor: WorkloadAttestor,
  pid: number,
  timeoutMs: number,
  callerSignal: AbortSignal,
): Promise<string[]> {
  const controller = new AbortController();
  const abortFromCaller = (): void => controller.abort(callerSignal.reason);
  callerSignal.addEventListener("abort", abortFromCaller, { once: true });

  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new AttestorTimeoutError(`${attestor.name} attestor timed out after ${timeoutMs} ms`);
      controller.abort(error);
      reject(error);
    }, timeoutMs);
  });
  const aborted = new Promise<never>((_, reject) => {
    controller.signal.addEventListener("abort", () => reject(controller.signal.reason), { once: true });
  });

  try {
    // Promise.resolve().then() turns a synchronous throw from a plugin into a rejection.
    const attested = Promise.resolve().then(() => attestor.attest(pid, controller.signal));
    return await Promise.race([attested, timeout, aborted]);
  } finally {
    clearTimeout(timer);
    callerSignal.removeEventListener("abort", abortFromCaller);
  }
}

/** Reports how one attestor run ended to `observer`, then settles as `run` did. */
async function observeAttestor(
  attestor: string,
  run: Promise<string[]>,
  callerSignal: AbortSignal,
  observer: WorkloadAttestationObserver | undefined,
): Promise<string[]> {
  const startedMs = performance.now();
  const report = (result: AttestationResult): void => observer?.attestorFinished({ attestor, result, elapsedMs: performance.now() - startedMs });

  try {
    const values = await run;
    report("ok");
    return values;
  } catch (error) {
    report(callerSignal.aborted ? "cancelled" : error instanceof AttestorTimeoutError ? "timed_out" : "failed");
    throw error;
  }
}
