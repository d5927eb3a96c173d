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
import { asAgentRejection } from "./agent-rejected.js";
import { createAgentSvidRotator } from "./agent-svid-rotator.js";
import { createSvidMinter } from "./svid-minter.js";
import { synchronize } from "./sync.js";

/** How long the first sync is retried before the agent gives up, as in SPIRE. */
const INITIAL_SYNC_RETRY_LIMIT_MS = 60_000;

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
  logger: Logger;
}

/**
 * Keeps the cache in step with the server and the SVIDs fresh: entry and bundle sync every
 * sync interval, minting of missing, changed and expiring workload SVIDs, and renewal of
 * the agent's own SVID at its jittered half-life.
 */
export interface Manager {
  /** Runs the first sync and mint, retrying for up to a minute. Throws when the server stays unreachable or rejects the agent. */
  initialize(signal: AbortSignal): Promise<void>;
  /**
   * Runs the sync, mint and renewal loops until `signal` aborts (then resolves). Rejects
   * with an AgentRejectedError when the server rejects the agent, or when the agent SVID
   * expires because it could not be renewed.
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
    logger,
  });
  const minter = createSvidMinter({ client, cache, logger, onRejected: (rejection) => fatal?.(rejection) });

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
    const outcome = await synchronize(client, cache, options.jwtBundles, options.trustDomain, logger);
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
    const backoff = createBackoff({ initialMs: interval, maxMs: Math.min(8 * 60_000, 48 * interval), multiplier: 1.5 });
    let delayMs = jitter(Math.min(interval, 5_000));

    while (!signal.aborted) {
      await sleep(delayMs, signal);
      if (signal.aborted) {
        return;
      }

      try {
        await syncOnce();
        backoff.reset();
        delayMs = jitter(interval);
      } catch (error) {
        const rejection = asAgentRejection(error);
        if (rejection !== undefined) {
          throw rejection;
        }
        delayMs = backoff.next();
        logger.error({ ...errorLogFields(error), retry_interval: formatDuration(delayMs) }, "Failed to sync with the server; retrying");
      }
    }
  }

  cache.onMintNeeded(() => {
    void minter.request();
  });

  return {
    client,

    agentSvid: () => rotator.current(),

    async initialize(signal) {
      storeState();
      const backoff = createBackoff({ initialMs: 1_000, maxMs: 15_000, multiplier: 1.5 });
      const deadline = Date.now() + INITIAL_SYNC_RETRY_LIMIT_MS;

      for (;;) {
        try {
          await syncOnce();
          return;
        } catch (error) {
          const rejection = asAgentRejection(error);
          if (rejection !== undefined) {
            throw rejection;
          }
          const delayMs = backoff.next();
          if (signal.aborted || Date.now() + delayMs > deadline) {
            throw error;
          }
          logger.warn({ ...errorLogFields(error), retry_interval: formatDuration(delayMs) }, "Initial sync with the server failed; retrying");
          await sleep(delayMs, signal);
        }
      }
    },

    async run(signal) {
      const stop = new AbortController();
      const onAbort = (): void => stop.abort();
      signal.addEventListener("abort", onAbort, { once: true });

      try {
        await new Promise<void>((resolve, reject) => {
          fatal = (error) => {
            stop.abort();
            reject(error);
          };
          Promise.all([syncLoop(stop.signal), rotator.run(stop.signal)]).then(
            () => resolve(),
            (error: Error) => fatal?.(error),
          );
        });
      } finally {
        fatal = undefined;
        stop.abort();
        signal.removeEventListener("abort", onAbort);
        await minter.stop();
      }
    },
  };
}

/** Spreads a delay by up to 10 % either way, so agents started together do not sync in step. */
function jitter(delayMs: number): number {
  return Math.round(delayMs * (0.9 + 0.2 * Math.random()));
}
