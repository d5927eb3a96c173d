import { lstatSync, readFileSync, rmSync } from "node:fs";

import { removeStaleTemporaryFiles, writeFileAtomic } from "../../common/atomic-write.js";
import type { Logger } from "../../common/log.js";
import type { JwtBundleStore } from "../cache/jwt-bundle-store.js";
import type { JwtSvidCache } from "../cache/jwt-svid-cache.js";
import type { X509Cache } from "../cache/x509-cache.js";
import { checkRuntimeCache } from "./runtime-cache-check.js";
import { decodeRuntimeCache, encodeRuntimeCache } from "./runtime-cache-file.js";
import type { RuntimeCacheContent } from "./runtime-cache-file.js";
import { prepareRuntimeDir, runtimeCacheFilePath } from "./runtime-dir.js";

/** Shortest time between two writes of the runtime cache file; changes in between are written together. */
export const RUNTIME_CACHE_WRITE_INTERVAL_MS = 1_000;

/** The caches whose contents the runtime cache file keeps. */
export interface RuntimeCacheSources {
  x509: X509Cache;
  jwtBundles: JwtBundleStore;
  jwtSvids: JwtSvidCache;
  /** Returns the SPIFFE ID of the current agent SVID, recorded in the file. */
  agentSpiffeId(): string;
}

/** Counts of the items {@link RuntimeCache.restore} put back into the caches. */
export interface RestoredCounts {
  entries: number;
  x509Svids: number;
  jwtSvids: number;
  /** Trust domains with X.509 roots, the own one included. */
  bundles: number;
}

/** Settings for {@link createRuntimeCache}. */
export interface RuntimeCacheOptions {
  /** The file, from {@link runtimeCacheFilePath}. */
  path: string;
  /** Bare name of the configured trust domain. */
  trustDomain: string;
  sources: RuntimeCacheSources;
  logger: Logger;
  /** Default {@link RUNTIME_CACHE_WRITE_INTERVAL_MS}. */
  writeIntervalMs?: number;
  now?: () => number;
}

/**
 * The runtime cache, a Tessera addition: one file on tmpfs with the workload SVIDs and
 * their keys, the entries, the X.509 and JWT bundles and the cached JWT-SVIDs. An agent
 * restarted while the server is down serves every SVID in it that is still valid at once.
 * Failures to read or write it are logged and never stop the agent.
 */
export interface RuntimeCache {
  readonly path: string;
  /**
   * Reads the file, checks it against the running agent (see checkRuntimeCache) and
   * restores what passes into the caches. A missing file restores nothing; a damaged one
   * is ignored with a warning and replaced by the next write.
   */
  restore(expected: { agentSpiffeId: string; ownBundle: Buffer[] }): RestoredCounts;
  /** Starts writing the file after every change of the caches, at most once per write interval. */
  start(): void;
  /** Writes the file now when a change is pending. */
  flush(): void;
  /**
   * Stops watching the caches. Writes the file one last time, or deletes it with
   * `discard` (after the server rejected the agent, whose SVIDs must not come back).
   */
  close(options?: { discard?: boolean }): void;
}

/**
 * Opens the runtime cache for the agent whose data_dir is `dataDir`: prepares the folder
 * chosen by the `runtime_dir` setting (see prepareRuntimeDir) and returns undefined when
 * the runtime cache is off.
 */
export function openRuntimeCache(options: {
  runtimeDir: string | undefined;
  dataDir: string;
  env: Readonly<Record<string, string | undefined>>;
  trustDomain: string;
  sources: RuntimeCacheSources;
  logger: Logger;
}): RuntimeCache | undefined {
  const folder = prepareRuntimeDir(options.runtimeDir, options.env, options.logger);
  if (folder === undefined) {
    return undefined;
  }
  return createRuntimeCache({ ...options, path: runtimeCacheFilePath(folder, options.dataDir) });
}

/** Creates the runtime cache on `options.path`; nothing is read or written until restore() or start(). */
export function createRuntimeCache(options: RuntimeCacheOptions): RuntimeCache {
  const { path, sources, logger } = options;
  const now = options.now ?? Date.now;
  const writeIntervalMs = options.writeIntervalMs ?? RUNTIME_CACHE_WRITE_INTERVAL_MS;
  const unsubscribe: Array<() => void> = [];
  let timer: NodeJS.Timeout | undefined;
  let dirty = false;
  let lastWriteMs = Number.NEGATIVE_INFINITY;
  let writeFailing = false;

  function write(): void {
    clearTimeout(timer);
    timer = undefined;
    dirty = false;
    lastWriteMs = now();

    const content: RuntimeCacheContent = {
      trustDomain: options.trustDomain,
      agentSpiffeId: sources.agentSpiffeId(),
      x509: sources.x509.snapshot(),
      jwtBundles: new Map(sources.jwtBundles.bundles()),
      jwtSvids: sources.jwtSvids.snapshot(),
    };
    try {
      writeFileAtomic(path, encodeRuntimeCache(content, new Date(lastWriteMs)), 0o600);
      if (writeFailing) {
        logger.info({ path }, "Runtime cache written again");
      }
      writeFailing = false;
    } catch (error) {
      // One line per run of failures: the next change retries, and a full tmpfs stays full.
      if (!writeFailing) {
        logger.warn({ path, error: (error as Error).message }, "Failed to write the runtime cache; retrying on the next change");
      }
      writeFailing = true;
    }
  }

  function markChanged(): void {
    dirty = true;
    if (timer !== undefined) {
      return;
    }
    // A short wait even after a quiet period, so one sync's many changes make one write.
    const delayMs = Math.max(50, lastWriteMs + writeIntervalMs - now());
    timer = setTimeout(write, delayMs);
    timer.unref();
  }

  return {
    path,

    restore(expected) {
      const none: RestoredCounts = { entries: 0, x509Svids: 0, jwtSvids: 0, bundles: 0 };
      removeStaleTemporaryFiles(path);

      const text = readOwnFile(path, logger);
      if (text === undefined) {
        return none;
      }

      let decoded: RuntimeCacheContent;
      try {
        decoded = decodeRuntimeCache(text);
      } catch (error) {
        logger.warn({ path, problem: (error as Error).message }, "Ignored a damaged runtime cache file; it is replaced on the next write");
        return none;
      }

      const checked = checkRuntimeCache(decoded, { trustDomain: options.trustDomain, ...expected, nowMs: now() }, logger);
      if (checked === undefined) {
        return none;
      }

      const x509 = sources.x509.restore(checked.x509);
      sources.jwtBundles.update(checked.jwtBundles);
      const jwtSvids = sources.jwtSvids.restore(checked.jwtSvids);
      return { entries: x509.entries, x509Svids: x509.svids, jwtSvids, bundles: checked.x509.bundles.size };
    },

    start() {
      unsubscribe.push(sources.x509.onChange(markChanged), sources.jwtBundles.onUpdate(markChanged), sources.jwtSvids.onChange(markChanged));
    },

    flush() {
      if (dirty) {
        write();
      }
    },

    close(closeOptions = {}) {
      for (const remove of unsubscribe.splice(0)) {
        remove();
      }
      clearTimeout(timer);
      timer = undefined;

      if (closeOptions.discard === true) {
        rmSync(path, { force: true });
        return;
      }
      write();
    },
  };
}

/**
 * Returns the file's text, or undefined when it is missing or must not be trusted: not a
 * regular file (a symbolic link included) or owned by another user. Logs why it skips one.
 */
function readOwnFile(path: string, logger: Logger): string | undefined {
  try {
    const stats = lstatSync(path);
    const uid = process.getuid?.();
    if (!stats.isFile()) {
      logger.warn({ path }, "Ignored the runtime cache: it is not a regular file");
      return undefined;
    }
    if (uid !== undefined && stats.uid !== uid) {
      logger.warn({ path, file_uid: stats.uid }, "Ignored the runtime cache: the file belongs to another user");
      return undefined;
    }
    return readFileSync(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") {
      logger.warn({ path, error: (error as Error).message }, "Ignored the runtime cache: the file cannot be read");
    }
    return undefined;
  }
}
