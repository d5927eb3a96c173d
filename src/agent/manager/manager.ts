import type { KeyManager } from "../../../plugins/keymanager/key-manager.js";
import { createBackoff, sleep } from "../../common/backoff.js";
import type { Logger } from "../../common/log.js";
import { formatDuration } from "../../config/flags.js";
import type { AgentSvidState } from "../attestor/agent-svid.js";
import type { JwtBundleStore } from "../cache/jwt-bundle-store.js";
import type { JwtSvidCache } from "../cache/jwt-svid-cache.js";
import type { X509Cache } from "../cache/x509-cache.js";
import { errorLogFields } from "../client/rpc-failure.js";
import type { ServerClient } from "../client/server-client.js";
import { writeAgentState } from "../storage/agent-state.js";
import type { ManagerTelemetry } from "../telemetry/manager-telemetry.js";
import { measureCall } from "../telemetry/measured-call.js";
import { AgentRejectedError, allowsReattestation, asAgentRejection } from "./agent-rejected.js";
import type { Reattest } from "./agent-rotation.js";
import { createAgentSvidRotator } from "./agent-svid-rotator.js";
import type { InitialSyncStopReason } from "./initial-sync-failure.js";
import { initialSyncFailure, initialSyncOutageMessage } from "./initial-sync-failure.js";
import type { ServerReachabilityRecorder } from "./server-reachability.js";
import { createSvidMinter } from "./svid-minter.js";
import { synchronize } from "./sync.js";

/** How long the first sync is retried before the agent gives up, as in SPIRE. */
export const INITIAL_SYNC_RETRY_LIMIT_MS = 60_000;

/** Maximum wait between two failing sync attempts before jitter: min(8 min, 48 × interval), as in SPIRE. */
export function maxSyncBackoffMs(syncIntervalMs: number): number {
  return Math.min(8 * 60_000, 48 * syncIntervalMs);
}

/** Settings for {@link createManager}. */
export interface ManagerOptions {
  trustDomain: string;
  dataDir: string;
  syncIntervalMs: number;
  agentSvid: AgentSvidState;
  keyManager: KeyManager;
  cache: X509Cache;
  /** Receives the JWT authorities of every synced bundle. */
  jwtBundles: JwtBundleStore;
  /** Cached JWT-SVIDs; tokens signed with a tainted key are dropped after each sync. */
  jwtSvids?: JwtSvidCache;
  client: ServerClient;
  /** Records the outcome of every sync, for health checks and the JWT-SVID cache. */
  reachability?: ServerReachabilityRecorder;
  /** Receives every sync and agent SVID rotation result, e.g. for metrics. */
  telemetry?: ManagerTelemetry;
  /** How long initialize() retries the first sync; {@link INITIAL_SYNC_RETRY_LIMIT_MS} when unset. */
  initialSyncRetryLimitMs?: number;
  /** `host:port` of the server, named when the first sync gives up. */
  serverAddress?: string;
  /**
   * Node attestation for a running agent. With it, a reattestable agent rotates its SVID by
   * attesting again and recovers in place when the server rejects it. Without it, any
   * rejection ends run().
   */
  reattest?: Reattest;
  logger: Logger;
  /** `availability_target` in milliseconds, for workload SVIDs and the agent SVID; unset means half-life renewal only. */
  availabilityTargetMs?: number;
}

/** Settings of {@link Manager.initialize}. */
export interface InitializeOptions {
  /**
   * Returns true while the agent can serve workloads without the server (it restored
   * SVIDs that have not expired). While it does, and the agent SVID is valid, the first
   * sync is retried past the one-minute limit.
   */
  keepRetrying?: () => boolean;
}

/**
 * Keeps the cache in step with the server and the SVIDs fresh: entry and bundle sync every
 * sync interval, minting of missing, changed and expiring workload SVIDs, and renewal of
 * the agent's own SVID at its jittered half-life.
 */
export interface Manager {
  /**
   * Stores the agent state, then runs the first sync and mint, retrying with capped
   * exponential backoff and jitter for up to a minute, or longer while
   * `options.keepRetrying` returns true and the agent SVID is valid. A reattestable agent
   * that the server rejects for any reason but a ban attests again once and syncs again.
   * Throws when the server rejects the agent (an AgentRejectedError), when `signal` aborts
   * (the last sync error), or when the server stays unreachable (an error that names which
   * bound ended the retries and what to do).
   */
  initialize(signal: AbortSignal, options?: InitializeOptions): Promise<void>;
  /**
   * Runs the sync, mint and rotation loops until `signal` aborts (then resolves). When the
   * server rejects a reattestable agent for any reason but a ban, the loops stop, the agent
   * attests again in place (workloads keep the cached SVIDs meanwhile) and the loops start
   * over. Rejects with an AgentRejectedError when the server rejects the agent and it
   * cannot attest again, or with an Error when the agent SVID expires because it could not
   * be rotated.
   */
  run(signal: AbortSignal): Promise<void>;
  /** The agent's current identity. */
  agentSvid(): AgentSvidState;
  /** The client the manager uses; its TLS material follows the agent SVID. */
  readonly client: ServerClient;
}

/** Creates the manager; nothing runs until initialize() and run(). */
export function createManager(options: ManagerOptions): Manager {
  const { cache, client, logger } = options;
  let lastStoredBundle = options.agentSvid.bundle;
  let fatal: ((error: Error) => void) | undefined;

  const rotator = createAgentSvidRotator({
    initial: options.agentSvid,
    trustDomain: options.trustDomain,
    keyManager: options.keyManager,
    client,
    bundle: () => cache.bundle(),
    onRotated: () => {
      storeState();
      client.release();
    },
    reattest: options.reattest,
    availabilityTargetMs: options.availabilityTargetMs,
    onRotationAttempt: options.telemetry?.agentSvidRotated,
    logger,
  });
  const minter = createSvidMinter({
    client,
    cache,
    logger,
    availabilityTargetMs: options.availabilityTargetMs,
    onRejected: (rejection) => fatal?.(rejection),
  });

  function storeState(): void {
    const agentSvid = rotator.current();
    try {
      writeAgentState(options.dataDir, { svidChain: agentSvid.svidChain, bundle: cache.bundle(), reattestable: agentSvid.reattestable });
      lastStoredBundle = cache.bundle();
    } catch (error) {
      logger.error({ error: (error as Error).message, data_dir: options.dataDir }, "Failed to store the agent state");
    }
  }

  async function syncOnce(): Promise<void> {
    const outcome = await measureCall(() => synchronize(client, cache, options.jwtBundles, options.trustDomain, logger), options.telemetry?.entriesSynced);
    const dropped = options.jwtSvids?.removeSignedBy(outcome.taintedJwtKeyIds) ?? 0;
    if (dropped > 0) {
      logger.info({ count: dropped, key_ids: outcome.taintedJwtKeyIds }, "Removed JWT-SVIDs signed with tainted keys from the cache");
    }
    if (outcome.cache.bundleChanged && cache.bundle() !== lastStoredBundle) {
      logger.info({ trust_domain: options.trustDomain }, "Trust bundle changed");
      storeState();
      // The next call dials again, so the server is checked against the new roots.
      client.release();
    }
    await minter.request();
  }

  async function syncLoop(signal: AbortSignal): Promise<void> {
    const interval = options.syncIntervalMs;
    const backoff = createBackoff({ initialMs: interval, maxMs: maxSyncBackoffMs(interval), multiplier: 1.5 });
    let delayMs = jitter(Math.min(interval, 5_000));

    while (!signal.aborted) {
      await sleep(delayMs, signal);
      if (signal.aborted) {
        return;
      }

      try {
        await syncOnce();
        options.reachability?.recordSuccess();
        backoff.reset();
        delayMs = jitter(interval);
      } catch (error) {
        const rejection = asAgentRejection(error);
        if (rejection !== undefined) {
          throw rejection;
        }
        options.reachability?.recordFailure(error);
        delayMs = backoff.next();
        logger.error({ ...errorLogFields(error), retry_interval: formatDuration(delayMs) }, "Failed to sync with the server; retrying");
      }
    }
  }

  /**
   * Runs the sync and rotation loops until `signal` aborts or one of them, or a minting
   * pass, fails. Waits for both loops to end before it returns or throws the first failure,
   * so nothing uses the old SVID once it settles.
   */
  async function runLoops(signal: AbortSignal): Promise<void> {
    const stop = new AbortController();
    const onAbort = (): void => stop.abort();
    signal.addEventListener("abort", onAbort, { once: true });

    let failure: Error | undefined;
    const fail = (error: Error): void => {
      failure ??= error;
      stop.abort();
    };
    fatal = fail;

    try {
      await Promise.all([syncLoop(stop.signal).catch(fail), rotator.run(stop.signal).catch(fail)]);
    } finally {
      fatal = undefined;
      signal.removeEventListener("abort", onAbort);
    }
    if (failure !== undefined) {
      throw failure;
    }
  }

  /**
   * Attests the agent again after the server rejected it, for every reason but a ban, as
   * SPIRE's agent does while running (SPIRE exits instead during its first sync). Throws an AgentRejectedError when the agent is banned, cannot attest
   * again (join_token), or the attempt fails.
   */
  async function attestAgainAfter(rejection: AgentRejectedError): Promise<void> {
    const current = rotator.current();
    if (!allowsReattestation(rejection.reason) || !current.reattestable || options.reattest === undefined) {
      throw rejection;
    }

    logger.warn({ ...errorLogFields(rejection.cause ?? rejection), reason: rejection.reason, spiffe_id: current.spiffeId }, "Agent needs to attest again; attesting again");
    try {
      await rotator.reattest(rejection.reason);
    } catch (error) {
      throw new AgentRejectedError(rejection.reason, {
        message: `the server rejected the agent (${rejection.reason}) and attesting again failed: ${(error as Error).message}`,
        reattestationFailure: error as Error,
        cause: error,
      });
    }
  }

  cache.onMintNeeded(() => {
    void minter.request();
  });

  return {
    client,

    agentSvid: () => rotator.current(),

    async initialize(signal, initializeOptions = {}) {
      storeState();
      const backoff = createBackoff({ initialMs: 1_000, maxMs: 15_000, multiplier: 1.5 });
      const retryLimitMs = options.initialSyncRetryLimitMs ?? INITIAL_SYNC_RETRY_LIMIT_MS;
      const startMs = Date.now();
      const deadline = startMs + retryLimitMs;
      const { keepRetrying } = initializeOptions;

      // Past the one-minute limit only while cached SVIDs keep workloads served, and never
      // past the agent SVID's expiry, after which no sync can succeed.
      const stopReason = (retryAtMs: number): InitialSyncStopReason | undefined => {
        if (retryAtMs <= deadline) {
          return undefined;
        }
        if (keepRetrying === undefined) {
          return "retry_limit";
        }
        if (!keepRetrying()) {
          return "restored_svids_expired";
        }
        return retryAtMs < rotator.current().notAfterMs ? undefined : "agent_svid_expired";
      };
      const giveUp = (error: unknown, reason: InitialSyncStopReason): Error => {
        const current = rotator.current();
        return initialSyncFailure(error, {
          reason,
          retryLimitMs,
          elapsedMs: Date.now() - startMs,
          serverAddress: options.serverAddress,
          agentSpiffeId: current.spiffeId,
          agentSvidNotAfterMs: current.notAfterMs,
          reattestable: current.reattestable,
        });
      };

      options.reachability?.setOutageMessage(initialSyncOutageMessage(retryLimitMs, keepRetrying !== undefined));
      try {
        let attestedAgain = false;
        for (;;) {
          try {
            await syncOnce();
            options.reachability?.recordSuccess();
            return;
          } catch (error) {
            const rejection = asAgentRejection(error);
            if (rejection !== undefined) {
              // One attempt per start: a server that also rejects the new SVID ends start-up.
              if (attestedAgain) {
                throw rejection;
              }
              await attestAgainAfter(rejection);
              attestedAgain = true;
              continue;
            }
            options.reachability?.recordFailure(error);
            const delayMs = backoff.next();
            if (signal.aborted) {
              throw error;
            }
            const reason = stopReason(Date.now() + delayMs);
            if (reason !== undefined) {
              throw giveUp(error, reason);
            }
            logger.warn({ ...errorLogFields(error), retry_interval: formatDuration(delayMs) }, "Initial sync with the server failed; retrying");
            await sleep(delayMs, signal);
            if (signal.aborted) {
              throw error;
            }
          }
        }
      } finally {
        options.reachability?.setOutageMessage(undefined);
      }
    },

    async run(signal) {
      try {
        for (;;) {
          try {
            await runLoops(signal);
            return;
          } catch (error) {
            const rejection = asAgentRejection(error);
            if (rejection === undefined || signal.aborted) {
              throw error;
            }
            await attestAgainAfter(rejection);
          }
        }
      } finally {
        await minter.stop();
      }
    },
  };
}

/** Spreads a delay by up to 10 % either way, so agents started together do not sync in step. */
function jitter(delayMs: number): number {
  return Math.round(delayMs * (0.9 + 0.2 * Math.random()));
}
