import type { SyncOutcome } from "../manager/sync.js";
import type { MeasuredResult } from "./measured-call.js";

/** Receives the manager's sync and rotation results, e.g. for metrics. Calls must be cheap and must not throw. */
export interface ManagerTelemetry {
  /** Called after every fetch of entries and bundles from the server, successful or not. */
  entriesSynced(result: MeasuredResult<SyncOutcome>): void;
  /** Called after every scheduled attempt to rotate the agent SVID (renewal or new attestation), successful or not. */
  agentSvidRotated(result: MeasuredResult<void>): void;
}
