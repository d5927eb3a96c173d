import { mkdirSync, rmSync } from "node:fs";
import { dirname } from "node:path";
import { Server } from "@grpc/grpc-js";
import type { Logger } from "../common/log.js";
import { createDiskKeyManager } from "../../plugins/keymanager/disk.js";
import { createMemoryKeyManager } from "../../plugins/keymanager/memory.js";
import type { KeyManager } from "../../plugins/keymanager/key-manager.js";
import { agentService, bundleService, entryService, svidService } from "../proto/index.js";
import { certificatesToPem } from "../spiffe/bundle.js";
import { createAgentService } from "./api/agent-service.js";
import { createBundleService } from "./api/bundle-service.js";
import { createEntryService } from "./api/entry-service.js";
import type { ServerContext } from "./api/server-context.js";
import { createSvidService } from "./api/svid-service.js";
import { createAgentEndpointAuthorizer, createLocalAuthorizer } from "./authorization/call-authorizer.js";
import { createCaManager } from "./ca/ca-manager.js";
import { createJwtKeyManager } from "./ca/jwt-key-manager.js";
import { issueServerSvid, startServerSvidRotation } from "./ca/server-svid.js";
import type { ServerSvid } from "./ca/server-svid.js";
import type { ServerConfig } from "./config/server-config.js";
import { openDatastore } from "./datastore/datastore.js";
import { listenAdminSocket } from "./endpoints/admin-socket.js";
import { listenTls } from "./endpoints/tls-listener.js";
import type { TlsListener } from "./endpoints/tls-listener.js";

/** A running tessera-server; see {@link startServer}. */
export interface RunningServer {
  /** Address and port the agent API is bound to (the real port when 0 was configured). */
  address: string;
  port: number;
  socketPath: string;
  /** Stops accepting calls, ends open ones after a grace period, and closes the store. */
  stop(): Promise<void>;
}

/** How long in-flight calls may run after stop() before they are cancelled. */
const SHUTDOWN_GRACE_MS = 5000;

/** How often expired join tokens are deleted. */
const JOIN_TOKEN_PRUNE_INTERVAL_MS = 60_000;

/**
 * Starts the server: opens the SQLite store, loads or creates the CA and the JWT signing
 * key, issues the server's own SVID, serves the agent API over TLS on
 * `bind_address:bind_port` and the admin API on the Unix socket, then logs "Server APIs listening" with `address` and `port`.
 */
export async function startServer(config: ServerConfig, logger: Logger): Promise<RunningServer> {
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const datastore = openDatastore(config.databasePath);
  const cleanups: (() => Promise<void> | void)[] = [() => datastore.close()];

  try {
    return await startWithDatastore(config, logger, datastore, cleanups);
  } catch (error) {
    for (const cleanup of cleanups.reverse()) await cleanup();
    throw error;
  }
}

async function startWithDatastore(
  config: ServerConfig,
  logger: Logger,
  datastore: ReturnType<typeof openDatastore>,
  cleanups: (() => Promise<void> | void)[],
): Promise<RunningServer> {
  const keyManager = createKeyManager(config);
  const ca = await createCaManager({
    trustDomain: config.trustDomain,
    caTtlSeconds: config.caTtlSeconds,
    caSubject: config.caSubject,
    datastore,
    keyManager,
    logger,
  });
  ca.start();
  cleanups.push(() => ca.stop());

  const jwtKeys = await createJwtKeyManager({
    trustDomain: config.trustDomain,
    keyTtlSeconds: config.caTtlSeconds,
    datastore,
    keyManager,
    logger,
  });
  jwtKeys.start();
  cleanups.push(() => jwtKeys.stop());

  const context: ServerContext = {
    trustDomain: config.trustDomain,
    datastore,
    ca,
    jwtKeys,
    logger,
    agentTtlSeconds: config.agentTtlSeconds,
    defaultX509SvidTtlSeconds: config.defaultX509SvidTtlSeconds,
    defaultJwtSvidTtlSeconds: config.defaultJwtSvidTtlSeconds,
    syncPageSize: config.entryPageSize,
    nodeAttestors: config.nodeAttestors,
    now: () => new Date(),
  };

  // Agent API over TLS. The authorizer reads peer certificates from the listener, which
  // exists only after the services are registered, hence the late binding.
  let listener: TlsListener | undefined;
  const agentAuthorizer = createAgentEndpointAuthorizer({
    trustDomain: config.trustDomain,
    datastore,
    peerCertificates: (peer) => listener?.peerCertificates(peer),
  });
  const tcpServer = new Server();
  tcpServer.addService(agentService, createAgentService(context, agentAuthorizer));
  tcpServer.addService(svidService, createSvidService(context, agentAuthorizer));
  tcpServer.addService(entryService, createEntryService(context, agentAuthorizer));
  tcpServer.addService(bundleService, createBundleService(context, agentAuthorizer));

  const bundlePem = (): string => certificatesToPem(datastore.bundles.get(config.trustDomain)?.x509Authorities ?? []);
  const identity = (svid: ServerSvid) => ({ certChainPem: svid.certChainPem, privateKeyPem: svid.privateKeyPem, bundlePem: bundlePem() });

  const serverSvid = await issueServerSvid(ca, config.trustDomain, config.defaultX509SvidTtlSeconds);
  listener = await listenTls({
    server: tcpServer,
    bindAddress: config.bindAddress,
    bindPort: config.bindPort,
    identity: identity(serverSvid),
    logger,
  });
  const tls = listener;
  // Cleanups run last to first: stop accepting, let calls finish, then drop what is left.
  cleanups.push(() => tls.close());
  cleanups.push(() => shutdown(tcpServer));
  cleanups.push(() => tls.stopAccepting());

  const stopRotation = startServerSvidRotation({
    ca,
    trustDomain: config.trustDomain,
    ttlSeconds: config.defaultX509SvidTtlSeconds,
    initial: serverSvid,
    onRotate: (svid) => tls.setIdentity(identity(svid)),
    logger,
  });
  cleanups.push(stopRotation);

  // Admin API on the Unix socket, for local administrators (the CLI).
  const adminServer = new Server();
  const localAuthorizer = createLocalAuthorizer();
  adminServer.addService(agentService, createAgentService(context, localAuthorizer));
  adminServer.addService(entryService, createEntryService(context, localAuthorizer));
  adminServer.addService(bundleService, createBundleService(context, localAuthorizer));
  await listenAdminSocket(adminServer, config.socketPath);
  cleanups.push(() => rmSync(config.socketPath, { force: true }));
  cleanups.push(() => shutdown(adminServer));

  const pruneTimer = setInterval(() => {
    const pruned = datastore.joinTokens.pruneExpired(new Date());
    if (pruned > 0) logger.debug({ count: pruned }, "Pruned expired join tokens");
  }, JOIN_TOKEN_PRUNE_INTERVAL_MS);
  pruneTimer.unref();
  cleanups.push(() => clearInterval(pruneTimer));

  logger.info(
    { address: tls.address, port: tls.port, socket_path: config.socketPath, trust_domain: config.trustDomain },
    "Server APIs listening",
  );

  let stopping: Promise<void> | undefined;
  return {
    address: tls.address,
    port: tls.port,
    socketPath: config.socketPath,
    stop() {
      stopping ??= (async () => {
        for (const cleanup of cleanups.splice(0).reverse()) {
          try {
            await cleanup();
          } catch (error) {
            logger.error({ err: error }, "Failed to release a resource during shutdown");
          }
        }
        logger.info("Server stopped");
      })();
      return stopping;
    },
  };
}

function createKeyManager(config: ServerConfig): KeyManager {
  return config.keyManager.kind === "disk" ? createDiskKeyManager(dirname(config.keyManager.keysPath)) : createMemoryKeyManager();
}

/** Lets running calls finish for a grace period, then cancels the rest. */
function shutdown(server: Server): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, SHUTDOWN_GRACE_MS);
    timer.unref();
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
