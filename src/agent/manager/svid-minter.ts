import { createBackoff } from "../../common/backoff.js";
import type { Logger } from "../../common/log.js";
import { formatDuration } from "../../config/flags.js";
import type { X509Cache } from "../cache/x509-cache.js";
import { errorLogFields } from "../client/rpc-failure.js";
import type { ServerClient } from "../client/server-client.js";
import type { AgentRejectedError } from "./agent-rejected.js";
import { asAgentRejection } from "./agent-rejected.js";
import type { ScheduledRenewal } from "./mint.js";
import { MAX_CSR_BATCH_SIZE, mintPendingSvids } from "./mint.js";
import type { Validity } from "./rotation.js";
import { planX509Renewal } from "./rotation.js";

/**
 * Minimum time between the starts of two scheduled passes, as SPIRE's agent rechecks its
 * SVIDs every 500 ms. Renewals planned closer together than this share one pass.
 */
const MIN_SCHEDULED_PASS_INTERVAL_MS = 500;

/**
 * Maximum sleep before a scheduled pass. Timers run on the monotonic clock while renewal
 * times are wall-clock times, so waking at least hourly bounds the delay a clock step causes.
 */
const MAX_SCHEDULED_SLEEP_MS = 3_600_000;

/** Settings for {@link createSvidMinter}. */
export interface SvidMinterOptions {
  client: ServerClient;
  cache: X509Cache;
  logger: Logger;
  /** Called when the server rejects the agent during a minting pass; the pass then stops. */
  onRejected: (rejection: AgentRejectedError) => void;
  /**
   * `availability_target` in milliseconds: renew SVIDs whose lifetime exceeds it by more
   * than 12 h when this much lifetime (plus up to 10 min) is left. Unset for the half-life rule.
   */
  availabilityTargetMs?: number;
}

/**
 * Runs minting passes for the workload X.509-SVIDs that are missing, changed or due for
 * renewal. Each SVID's renewal time is drawn once, when it is stored (see planX509Renewal),
 * and the minter schedules its own next pass for the earliest of those times, at least
 * 500 ms after the previous pass. Passes never overlap, so a request during a pass runs
 * one more pass right after it. A failed pass halves the CSR batch size, because a smaller
 * batch may get through an overloaded server, and is retried with backoff. Each successful
 * pass doubles the batch size back up to 500. Entries the server rejected one by one are
 * retried with the same backoff.
 */
export interface SvidMinter {
  /** Runs a minting pass now, or right after the running one, and resolves when it is done. */
  request(): Promise<void>;
  /** Cancels the scheduled pass and waits for the running one. */
  stop(): Promise<void>;
}

/** Creates an idle minter; nothing runs until request(). */
export function createSvidMinter(options: SvidMinterOptions): SvidMinter {
  const { client, cache, logger } = options;
  const backoff = createBackoff({ initialMs: 500, maxMs: 12_000, multiplier: 1.5 });
  const renewals = new Map<string, ScheduledRenewal>();
  const warnedLifetimes = new Set<number>();
  let batchSize = MAX_CSR_BATCH_SIZE;
  let running: Promise<void> | undefined;
  let again = false;
  let wake: NodeJS.Timeout | undefined;
  let lastPassStartMs = 0;
  let stopped = false;

  function planRenewal(validity: Validity): number {
    const plan = planX509Renewal(validity, options.availabilityTargetMs);
    const lifetimeSeconds = Math.round((validity.notAfterMs - validity.notBeforeMs) / 1000);
    if (plan.targetUnmet && !warnedLifetimes.has(lifetimeSeconds)) {
      // Once per distinct lifetime: every SVID of an entry has about the same one.
      warnedLifetimes.add(lifetimeSeconds);
      logger.warn(
        {
          availability_target: formatDuration(options.availabilityTargetMs ?? 0),
          svid_lifetime: formatDuration(lifetimeSeconds * 1000),
        },
        "X509-SVID lifetime does not exceed availability_target by more than 12h; renewing at half of the lifetime instead",
      );
    }
    return plan.renewAtMs;
  }

  /** Schedules the next pass for `atMs`, replacing any scheduled one. */
  function schedule(atMs: number | undefined): void {
    clearTimeout(wake);
    wake = undefined;
    if (atMs === undefined || stopped) {
      return;
    }

    const nowMs = Date.now();
    const startMs = Math.max(atMs, lastPassStartMs + MIN_SCHEDULED_PASS_INTERVAL_MS);
    const delayMs = Math.min(Math.max(0, startMs - nowMs), MAX_SCHEDULED_SLEEP_MS);
    wake = setTimeout(() => void request(), delayMs);
    wake.unref();
  }

  async function mintOnce(): Promise<void> {
    lastPassStartMs = Date.now();
    try {
      const outcome = await mintPendingSvids(client, cache, logger, { batchSize, renewals, planRenewal });
      batchSize = Math.min(MAX_CSR_BATCH_SIZE, batchSize * 2);
      if (outcome.minted + outcome.failed > 0) {
        logger.debug({ minted: outcome.minted, failed: outcome.failed }, "Finished minting X509-SVIDs");
      }

      if (outcome.failed === 0) {
        backoff.reset();
        schedule(outcome.nextRenewalAtMs);
        return;
      }
      const retryAtMs = Date.now() + backoff.next();
      schedule(Math.min(retryAtMs, outcome.nextRenewalAtMs ?? Infinity));
    } catch (error) {
      const rejection = asAgentRejection(error);
      if (rejection !== undefined) {
        schedule(undefined);
        options.onRejected(rejection);
        return;
      }

      batchSize = Math.max(1, Math.floor(batchSize / 2));
      const delayMs = backoff.next();
      logger.error({ ...errorLogFields(error), retry_interval: formatDuration(delayMs) }, "Failed to mint X509-SVIDs; retrying");
      schedule(Date.now() + delayMs);
    }
  }

  function request(): Promise<void> {
    if (running !== undefined) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        await mintOnce();
      } while (again && !stopped);
    })().finally(() => {
      running = undefined;
    });
    return running;
  }

  return {
    request,

    async stop() {
      stopped = true;
      schedule(undefined);
      await running;
    },
  };
}
