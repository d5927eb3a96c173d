import { existsSync, mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";

import { createDiskKeyManager } from "../../plugins/keymanager/disk.js";
import type { KeyManager } from "../../plugins/keymanager/key-manager.js";
import { createMemoryKeyManager } from "../../plugins/keymanager/memory.js";
import { createDockerAttestor } from "../../plugins/workloadattestor/docker/docker-attestor.js";
import { createK8sAttestor } from "../../plugins/workloadattestor/k8s/k8s-attestor.js";
import { createSystemdAttestor } from "../../plugins/workloadattestor/systemd/systemd-attestor.js";
import { createUnixAttestor } from "../../plugins/workloadattestor/unix/unix-attestor.js";
import type { WorkloadAttestor } from "../../plugins/workloadattestor/workload-attestor.js";
import { claimSocketPath } from "../common/claim-socket-path.js";
import { createLogLevelController } from "../common/log.js";
import { notifySystemd } from "../common/systemd-notify.js";
import type { Logger, LogLevelController } from "../common/log.js";
import { SERVER_HEALTH_SERVICE } from "../workload-api/health-service.js";
import type { JwtSource } from "../workload-api/jwt-source.js";
import type { WorkloadEndpoint } from "../workload-api/workload-endpoint.js";
import { startWorkloadEndpoint } from "../workload-api/workload-endpoint.js";
import { startAdminEndpoint } from "./admin/admin-endpoint.js";
import type { AdminEndpoint } from "./admin/admin-endpoint.js";
import { createNodeAttestor } from "./attestor/create-node-attestor.js";
import { obtainAgentSvid } from "./attestor/obtain-agent-svid.js";
import { createAgentJwtSource } from "./cache/agent-jwt-source.js";
import { createJwtBundleStore } from "./cache/jwt-bundle-store.js";
import { createJwtSvidCache } from "./cache/jwt-svid-cache.js";
import { createX509Cache } from "./cache/x509-cache.js";
import type { X509Cache } from "./cache/x509-cache.js";
import type { ServerEndpoint } from "./client/dial.js";
import { createServerClient } from "./client/server-client.js";
import type { AgentConfig } from "./config/agent-config.js";
import type { ReconfigurableAgent } from "./config/reload.js";
import { AgentRejectedError, explainRejection } from "./manager/agent-rejected.js";
import { createReattestor } from "./manager/agent-rotation.js";
import type { Manager } from "./manager/manager.js";
import { createManager } from "./manager/manager.js";
import { createServerReachability, serverReachabilityHealthCheck } from "./manager/server-reachability.js";
import type { ServerReachability } from "./manager/server-reachability.js";
import { agentStatePath, prepareDataDir, readAgentState, removeAgentState } from "./storage/agent-state.js";
import { openWithDamageRecovery } from "./storage/damaged-state-recovery.js";
import { openRuntimeCache } from "./storage/runtime-cache.js";
import type { RestoredCounts, RuntimeCache } from "./storage/runtime-cache.js";
import { createAgentMetrics } from "./telemetry/agent-metrics.js";
import type { AgentMetrics } from "./telemetry/agent-metrics.js";
import { checkOperatorAddresses, startOperatorEndpoints } from "./telemetry/operator-endpoints.js";
import type { OperatorEndpoints } from "./telemetry/operator-endpoints.js";
import { tesseraVersion } from "./telemetry/tessera-version.js";

/**
 * Runs the agent until `signal` aborts: obtains the agent SVID (stored or by node
 * attestation), restores the runtime cache, syncs entries and mints SVIDs once, serves the
 * Workload API (X.509 and JWT) on `config.socketPath`, then keeps syncing. When the runtime
 * cache restored SVIDs that have not expired, the Workload API starts before the first
 * sync, which is then retried for as long as those SVIDs and the agent SVID stay valid
 * (otherwise for one minute). The endpoint logs
 * "Workload API socket listening" (field `socket_path`) once the socket accepts
 * connections. On abort it closes the socket (removing the file), writes the runtime cache
 * and resolves.
 *
 * Rejects when start-up fails or the server rejects the agent. A rejection deletes the
 * stored SVID and the runtime cache, so the next start attests again (with new credentials
 * for join_token). A damaged agent-data.json or keys.json is moved aside when the node
 * attestor can attest again, and rejects start-up with what to do otherwise.
 */
export async function runAgent(config: AgentConfig, logger: Logger, signal: AbortSignal, hooks: AgentHooks = {}): Promise<void> {
  // Taken before anything can change the level, so ResetLogLevel returns to log_level.
  const logLevels = hooks.logLevels ?? createLogLevelController(logger);
  const dataDir = resolve(config.dataDir);
  logger.info({ data_dir: dataDir, trust_domain: config.trustDomain, server_address: `${config.serverAddress}:${config.serverPort}` }, "Starting agent");
  prepareDataDir(dataDir);

  // Checked before attestation too, so a second agent on the same socket fails before it
  // spends a single-use join token.
  await claimSocketPath(config.socketPath, "the Workload API");
  await checkOperatorAddresses(config);

  const endpoint: ServerEndpoint = { address: config.serverAddress, port: config.serverPort, trustDomain: config.trustDomain };

  const nodeAttestor = createNodeAttestor(config);
  // Created before attestation, so a plugin that cannot start (a missing kubelet token, say)
  // stops the agent before it spends a single-use join token.
  let workloadAttestors = createWorkloadAttestors(config, logger);
  let logSelectors: readonly string[] = config.logSelectors;
  let workloadEndpoint: WorkloadEndpoint | undefined;
  hooks.onReconfigurable?.({
    replaceWorkloadAttestors(settings) {
      const previous = workloadAttestors;
      workloadAttestors = createWorkloadAttestors({ ...config, workloadAttestors: settings }, logger);
      workloadEndpoint?.setAttestors(workloadAttestors);
      return previous;
    },
    setLogSelectors(prefixes) {
      logSelectors = prefixes;
      workloadEndpoint?.setLogSelectors(prefixes);
    },
  });
  const keyManager = openWithDamageRecovery(() => createKeyManager(config, nodeAttestor.reattestable, logger), nodeAttestor, logger);
  openWithDamageRecovery(() => readAgentState(dataDir), nodeAttestor, logger);
  const agentSvid = await obtainAgentSvid({
    dataDir,
    endpoint,
    bootstrapBundle: config.trustBundle,
    trustBundlePath: config.trustBundlePath,
    insecureBootstrap: config.insecureBootstrap,
    keyManager,
    nodeAttestor,
    logger: logger.child({ subsystem: "attestor" }),
    signal,
  });

  const cache = createX509Cache({
    trustDomain: config.trustDomain,
    bundle: agentSvid.bundle,
    maxSvids: config.x509SvidCacheMaxSize,
    logger: logger.child({ subsystem: "cache_manager" }),
  });
  let manager: Manager | undefined;
  const reachability = createServerReachability(logger.child({ subsystem: "manager" }));
  const client = createServerClient({
    endpoint,
    tlsMaterial: () => {
      const current = manager?.agentSvid() ?? agentSvid;
      return { identity: { svidChain: current.svidChain, privateKeyPkcs8: current.key.privateKeyPkcs8 }, bundle: cache.bundle() };
    },
    jwtCacheHitTimeoutMs: config.jwtSvidCacheHitTimeoutMs,
    logger: logger.child({ subsystem: "client" }),
  });
  const jwtBundles = createJwtBundleStore(logger.child({ subsystem: "cache_manager" }));
  const jwtSvids = createJwtSvidCache({
    mint: (entryId, audience, cacheHit) => client.newJwtSvid(entryId, audience, { cacheHit }),
    maxSize: config.jwtSvidCacheMaxSize,
    serverUnreachable: () => !reachability.state().reachable,
    logger: logger.child({ subsystem: "manager" }),
  });
  const jwtSource = createAgentJwtSource({ trustDomain: config.trustDomain, cache, jwtBundles, jwtSvids });
  const metrics = createAgentMetrics({ telemetry: config.telemetry, trustDomain: config.trustDomain, version: tesseraVersion() });
  manager = createManager({
    trustDomain: config.trustDomain,
    dataDir,
    syncIntervalMs: config.syncIntervalMs,
    serverAddress: `${config.serverAddress}:${config.serverPort}`,
    availabilityTargetMs: config.availabilityTargetMs,
    agentSvid,
    keyManager,
    reattest: createReattestor({ endpoint, keyManager, nodeAttestor, logger: logger.child({ subsystem: "attestor" }) }),
    cache,
    jwtBundles,
    jwtSvids,
    client,
    reachability,
    telemetry: metrics.manager,
    logger: logger.child({ subsystem: "manager" }),
  });

  const runtimeCache = openRuntimeCache({
    runtimeDir: config.runtimeDir,
    dataDir,
    env: process.env,
    trustDomain: config.trustDomain,
    sources: { x509: cache, jwtBundles, jwtSvids, agentSpiffeId: () => manager?.agentSvid().spiffeId ?? agentSvid.spiffeId },
    logger: logger.child({ subsystem: "runtime_cache" }),
  });
  const restored = restoreRuntimeCache(runtimeCache, agentSvid.spiffeId, agentSvid.bundle, logger);
  runtimeCache?.start();

  let adminEndpoint: AdminEndpoint | undefined;
  let operatorEndpoints: OperatorEndpoints | undefined;
  try {
    operatorEndpoints = await startOperatorEndpoints({
      config,
      metrics,
      sources: { x509Cache: cache, jwtSvidCache: jwtSvids, reachability, agentSvid: () => manager?.agentSvid() ?? agentSvid },
      workloadApiStarted: () => workloadEndpoint !== undefined,
      logger,
    });
    if (restored.x509Svids > 0) {
      logger.info({ x509_svids: restored.x509Svids }, "Serving restored SVIDs before the first sync with the server");
      workloadEndpoint = await serveWorkloadApi({ ...config, logSelectors: [...logSelectors] }, { cache, jwtSource, reachability, workloadAttestors, metrics }, logger);
      await manager.initialize(signal, { keepRetrying: () => cache.usableSvidCount() > 0 });
    } else {
      // TODO: open the Workload API before the first minting pass ends. With 10,000
      // prefetched SVIDs that pass took 77 s on a 2-core machine, and no caller is served meanwhile.
      await manager.initialize(signal);
      workloadEndpoint = await serveWorkloadApi({ ...config, logSelectors: [...logSelectors] }, { cache, jwtSource, reachability, workloadAttestors, metrics }, logger);
    }

    if (config.adminSocketPath !== undefined) {
      adminEndpoint = await startAdminEndpoint({
        socketPath: config.adminSocketPath,
        publicSocketPath: config.socketPath,
        debug: {
          agentSvidChain: () => (manager?.agentSvid() ?? agentSvid).svidChain,
          bundle: () => cache.bundle(),
          uptimeSeconds: () => process.uptime(),
          lastSyncSuccess: () => {
            const lastMs = reachability.state().lastSuccessfulSyncMs;
            return lastMs === undefined ? undefined : new Date(lastMs);
          },
          cachedX509SvidCount: () => cache.svidCount(),
          cachedJwtSvidCount: () => jwtSvids.size(),
        },
        logLevels,
        logger,
      });
    }

    await manager.run(signal);
  } catch (error) {
    if (error instanceof AgentRejectedError) {
      const spiffeId = manager.agentSvid().spiffeId;
      const explained = explainRejection(error, { spiffeId, nodeAttestor: nodeAttestor.name });
      const failure = error.reattestationFailure === undefined ? {} : { error: error.reattestationFailure.message };
      logger.error({ reason: error.reason, spiffe_id: spiffeId, ...failure }, explained.logMessage);
      removeAgentState(dataDir);
      throw new AgentRejectedError(error.reason, { message: explained.exitMessage, reattestationFailure: error.reattestationFailure, cause: error });
    }
    throw error;
  } finally {
    notifySystemd("STOPPING=1", logger);
    await operatorEndpoints?.close();
    await adminEndpoint?.close();
    await workloadEndpoint?.close();
    for (const attestor of workloadAttestors) {
      attestor.close?.();
    }
    // A rejection removed agent-data.json; SVIDs of a rejected agent must not come back.
    runtimeCache?.close({ discard: !existsSync(agentStatePath(dataDir)) });
    cache.close();
    client.close();
  }
  logger.info("Agent stopped");
}

/** Optional links between {@link runAgent} and the command that runs it. */
export interface AgentHooks {
  /** Level controller shared with a configuration reload; one is created when unset. */
  logLevels?: LogLevelController;
  /** Receives, once the workload attestors exist, what a configuration reload may change. */
  onReconfigurable?(agent: ReconfigurableAgent): void;
}

/** Restores the runtime cache into the caches and logs what came back. */
function restoreRuntimeCache(runtimeCache: RuntimeCache | undefined, agentSpiffeId: string, ownBundle: Buffer[], logger: Logger): RestoredCounts {
  if (runtimeCache === undefined) {
    return { entries: 0, x509Svids: 0, jwtSvids: 0, bundles: 0 };
  }

  const restored = runtimeCache.restore({ agentSpiffeId, ownBundle });
  logger.info(
    { path: runtimeCache.path, x509_svids: restored.x509Svids, jwt_svids: restored.jwtSvids, entries: restored.entries, bundles: restored.bundles },
    "Restored SVIDs from the runtime cache",
  );
  return restored;
}

/** Starts the Workload API endpoint, with the server reachability as a named health check. */
async function serveWorkloadApi(
  config: AgentConfig,
  sources: { cache: X509Cache; jwtSource: JwtSource; reachability: ServerReachability; workloadAttestors: WorkloadAttestor[]; metrics: AgentMetrics },
  logger: Logger,
): Promise<WorkloadEndpoint> {
  mkdirSync(dirname(resolve(config.socketPath)), { recursive: true, mode: 0o755 });
  const endpoint = await startWorkloadEndpoint({
    socketPath: config.socketPath,
    identitySource: sources.cache,
    jwtSource: sources.jwtSource,
    attestors: sources.workloadAttestors,
    allowUnauthenticatedVerifiers: config.allowUnauthenticatedVerifiers,
    allowedForeignJwtClaims: config.allowedForeignJwtClaims,
    logSelectors: config.logSelectors,
    healthChecks: new Map([[SERVER_HEALTH_SERVICE, serverReachabilityHealthCheck(sources.reachability)]]),
    callObserver: sources.metrics.workloadApiCalls,
    attestationObserver: sources.metrics.workloadAttestation,
    logger,
  });
  // Type=notify units: `systemctl start` returns once workloads can connect.
  notifySystemd(`READY=1\nSTATUS=Serving the Workload API on ${config.socketPath}`, logger);
  return endpoint;
}

function createKeyManager(config: AgentConfig, reattestable: boolean, logger: Logger): KeyManager {
  if (config.keyManager.name === "disk") {
    return createDiskKeyManager(resolve(config.keyManager.directory));
  }

  // join_token attestation cannot be repeated with the same token, so a restart needs a new
  // one. An attestor that can attest again (x509pop) simply does so after a restart.
  if (!reattestable) {
    logger.warn(
      "The memory KeyManager keeps the agent key in RAM only: after a restart the agent must attest again with a new join token",
    );
  }
  return createMemoryKeyManager();
}

function createWorkloadAttestors(config: AgentConfig, logger: Logger): WorkloadAttestor[] {
  const attestors: WorkloadAttestor[] = [];
  const settings = config.workloadAttestors;
  if (settings.docker !== undefined) {
    attestors.push(createDockerAttestor(settings.docker, logger));
  }
  if (settings.k8s !== undefined) {
    attestors.push(createK8sAttestor(settings.k8s, logger));
  }
  if (settings.systemd !== undefined) {
    attestors.push(createSystemdAttestor(settings.systemd, logger.child({ subsystem: "workload_attestor", attestor: "systemd" })));
  }
  if (settings.unix !== undefined) {
    attestors.push(createUnixAttestor(settings.unix));
  }
  return attestors;
}
