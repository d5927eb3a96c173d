import { createBackoff } from "../../common/backoff.js";
import type { Logger } from "../../common/log.js";
import { formatDuration } from "../../config/flags.js";
import type { X509Cache } from "../cache/x509-cache.js";
import { errorLogFields } from "../client/rpc-failure.js";
import type { ServerClient } from "../client/server-client.js";
import type { AgentRejectedError } from "./agent-rejected.js";
import { asAgentRejection } from "./agent-rejected.js";
import { MAX_CSR_BATCH_SIZE, mintPendingSvids } from "./mint.js";

/** Settings for {@link createSvidMinter}. */
export interface SvidMinterOptions {
  client: ServerClient;
  cache: X509Cache;
  logger: Logger;
  /** Called when the server rejects the agent during a minting pass; the pass then stops. */
  onRejected: (rejection: AgentRejectedError) => void;
}

/**
 * Runs minting passes for the workload X.509-SVIDs the cache reports as pending. Passes
 * never overlap: a request during a pass runs one more pass right after it. A failed pass
 * halves the CSR batch size (a smaller batch may get through an overloaded server) and is
 * retried with backoff; each successful pass doubles it back up to 500.
 */
export interface SvidMinter {
  /** Runs a minting pass now, or right after the running one, and resolves when it is done. */
  request(): Promise<void>;
  /** Cancels the pending retry and waits for the running pass. */
  stop(): Promise<void>;
}

/** Creates an idle minter; nothing runs until request(). */
export function createSvidMinter(options: SvidMinterOptions): SvidMinter {
  const { client, cache, logger } = options;
  const backoff = createBackoff({ initialMs: 500, maxMs: 12_000, multiplier: 1.5 });
  let batchSize = MAX_CSR_BATCH_SIZE;
  let running: Promise<void> | undefined;
  let again = false;
  let retry: NodeJS.Timeout | undefined;
  let stopped = false;

  async function mintOnce(): Promise<void> {
    try {
      const outcome = await mintPendingSvids(client, cache, logger, batchSize);
      batchSize = Math.min(MAX_CSR_BATCH_SIZE, batchSize * 2);
      backoff.reset();
      if (outcome.minted + outcome.failed > 0) {
        logger.debug({ minted: outcome.minted, failed: outcome.failed }, "Finished minting X509-SVIDs");
      }
    } catch (error) {
      const rejection = asAgentRejection(error);
      if (rejection !== undefined) {
        options.onRejected(rejection);
        return;
      }

      batchSize = Math.max(1, Math.floor(batchSize / 2));
      const delayMs = backoff.next();
      logger.error({ ...errorLogFields(error), retry_interval: formatDuration(delayMs) }, "Failed to mint X509-SVIDs; retrying");
      clearTimeout(retry);
      if (!stopped) {
        retry = setTimeout(() => void request(), delayMs);
        retry.unref();
      }
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
      clearTimeout(retry);
      await running;
    },
  };
}
