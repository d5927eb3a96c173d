import type { KeyManager } from "../../../plugins/keymanager/key-manager.js";
import { createBackoff, sleep } from "../../common/backoff.js";
import type { Logger } from "../../common/log.js";
import { formatDuration } from "../../config/flags.js";
import type { AgentSvidState } from "../attestor/agent-svid.js";
import { errorLogFields } from "../client/rpc-failure.js";
import type { ServerClient } from "../client/server-client.js";
import { measureCall } from "../telemetry/measured-call.js";
import type { MeasuredResult } from "../telemetry/measured-call.js";
import { asAgentRejection } from "./agent-rejected.js";
import { renewAgentSvid } from "./agent-rotation.js";
import type { Reattest } from "./agent-rotation.js";
import { shouldRotateX509WithTarget } from "./rotation.js";

/** How often the agent SVID is checked for renewal, as in SPIRE. */
const AGENT_SVID_CHECK_INTERVAL_MS = 5_000;

/** Settings for {@link createAgentSvidRotator}. */
export interface AgentSvidRotatorOptions {
  initial: AgentSvidState;
  trustDomain: string;
  keyManager: KeyManager;
  client: ServerClient;
  /** Own trust domain roots the new SVID must verify against. */
  bundle: () => Buffer[];
  /** Called with every new agent SVID, before the next check; stores it and drops the client's channel. */
  onRotated: (state: AgentSvidState) => void;
  /**
   * Node attestation for a running agent. When set, an agent whose state is reattestable
   * rotates its SVID by attesting again instead of calling RenewAgent, as SPIRE's does.
   */
  reattest?: Reattest;
  logger: Logger;
  /** `availability_target` in milliseconds; see {@link shouldRotateX509WithTarget}. */
  availabilityTargetMs?: number;
  /** Receives the duration and outcome of every scheduled rotation, e.g. for metrics. */
  onRotationAttempt?: (result: MeasuredResult<void>) => void;
  /** Time between checks in milliseconds; default 5 s, as in SPIRE. */
  checkIntervalMs?: number;
}

/** Keeps the agent's own SVID fresh: renews it, or attests again, at its jittered half-life. */
export interface AgentSvidRotator {
  /** The agent's current identity. */
  current(): AgentSvidState;
  /**
   * Checks the SVID at once and then every 5 s, and rotates it when due, until `signal`
   * aborts. The first check is immediate because an agent restarted past its SVID's
   * half-life, or one that restarts more often than the check interval, would otherwise
   * let the SVID expire. Rejects with
   * an AgentRejectedError when the server rejects the agent, or with an Error when the
   * SVID expires because it could not be rotated.
   */
  run(signal: AbortSignal): Promise<void>;
  /**
   * Attests the node again now and adopts the new SVID. `trigger` goes to the log (the
   * server's reason, or "rotation"). Throws when the state is not reattestable, no node
   * attestation was given, or attestation fails. Call it only while run() is not running.
   */
  reattest(trigger: string): Promise<void>;
}

/** Creates a rotator for `options.initial`; nothing runs until run(). */
export function createAgentSvidRotator(options: AgentSvidRotatorOptions): AgentSvidRotator {
  const { logger } = options;
  let state = options.initial;

  const rotatesByAttestation = (): boolean => state.reattestable && options.reattest !== undefined;

  async function renew(): Promise<void> {
    state = await renewAgentSvid(state, options.client, options.keyManager, options.trustDomain, options.bundle(), logger);
    options.onRotated(state);
    logger.info({ spiffe_id: state.spiffeId, expires_at: new Date(state.notAfterMs).toISOString() }, "Agent SVID renewed");
  }

  async function reattest(trigger: string): Promise<void> {
    if (options.reattest === undefined || !state.reattestable) {
      throw new Error(`the agent cannot attest again: its node attestation (${state.spiffeId}) is not reattestable`);
    }

    const previous = state.spiffeId;
    logger.info({ spiffe_id: previous, trigger }, "Attesting the agent again");
    state = await options.reattest(state, options.bundle());
    options.onRotated(state);
    logger.info(
      { spiffe_id: state.spiffeId, previous_spiffe_id: previous, trigger, key_id: state.key.id, expires_at: new Date(state.notAfterMs).toISOString() },
      "Agent reattested",
    );
  }

  return {
    current: () => state,
    reattest,

    async run(signal) {
      const checkIntervalMs = options.checkIntervalMs ?? AGENT_SVID_CHECK_INTERVAL_MS;
      const backoff = createBackoff({ initialMs: checkIntervalMs, maxMs: 120_000, multiplier: 1.5 });
      let delayMs = 0;

      while (!signal.aborted) {
        await sleep(delayMs, signal);
        delayMs = checkIntervalMs;
        if (signal.aborted || !shouldRotateX509WithTarget(state, Date.now(), options.availabilityTargetMs)) {
          continue;
        }

        try {
          await measureCall(() => (rotatesByAttestation() ? reattest("rotation") : renew()), options.onRotationAttempt);
          backoff.reset();
        } catch (error) {
          const rejection = asAgentRejection(error);
          if (rejection !== undefined) {
            throw rejection;
          }
          if (Date.now() >= state.notAfterMs) {
            throw new Error(`the agent SVID has expired and could not be rotated: ${(error as Error).message}`, { cause: error });
          }
          delayMs = backoff.next();
          const what = rotatesByAttestation() ? "Failed to attest the agent again to rotate its SVID; retrying" : "Failed to renew the agent SVID; retrying";
          logger.error({ ...errorLogFields(error), retry_interval: formatDuration(delayMs) }, what);
        }
      }
    },
  };
}
