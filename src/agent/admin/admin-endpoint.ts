import { Server } from "@grpc/grpc-js";
import type { ServiceDefinition, UntypedServiceImplementation } from "@grpc/grpc-js";

import type { Logger, LogLevelController } from "../../common/log.js";
import { debugService, loggerService } from "../../proto/index.js";
import { checkAdminSocketPath } from "./admin-socket-path.js";
import { listenAdminSocket } from "./admin-socket.js";
import { createDebugHandlers } from "./debug-service.js";
import type { DebugInfoSource } from "./debug-service.js";
import { createLoggerHandlers } from "./logger-service.js";

/** A further gRPC service to serve on the admin socket, e.g. the Delegated Identity API. */
export interface AdminService {
  definition: ServiceDefinition;
  handlers: UntypedServiceImplementation;
}

/** Settings for {@link startAdminEndpoint}. */
export interface AdminEndpointOptions {
  /** `admin_socket_path`. A relative path resolves against the working directory. */
  socketPath: string;
  /** The public Workload API `socket_path`. The admin socket must lie outside its folder. */
  publicSocketPath: string;
  /** Agent state for Debug/GetInfo. */
  debug: DebugInfoSource;
  /** Controller of the root logger for the Logger API. */
  logLevels: LogLevelController;
  logger: Logger;
  /** Services served besides Debug and Logger. */
  services?: readonly AdminService[];
  /** Clock in milliseconds for Debug/GetInfo, for tests. */
  now?: () => number;
}

/** A running admin endpoint. */
export interface AdminEndpoint {
  /** Absolute path of the socket. */
  readonly socketPath: string;
  /** Ends every open call, stops accepting connections and removes the socket file. */
  close(): Promise<void>;
}

/**
 * Serves the agent admin APIs (`spire.agent.debug.v1.Debug`,
 * `spire.api.agent.logger.v1.Logger` and `options.services`) on the Unix socket
 * `admin_socket_path`, with mode 0770.
 *
 * Rejects before creating anything when the socket path lies in the public socket's folder
 * or below it, and when another process serves the path. Resolves once the socket accepts
 * connections and logs "Admin API socket listening" with `socket_path`.
 */
export async function startAdminEndpoint(options: AdminEndpointOptions): Promise<AdminEndpoint> {
  const socketPath = checkAdminSocketPath(options.socketPath, options.publicSocketPath);
  const debugLogger = options.logger.child({ subsystem: "debug_api" });
  const loggerApiLogger = options.logger.child({ subsystem: "logger_api" });

  const server = new Server();
  server.addService(debugService, createDebugHandlers({ source: options.debug, logger: debugLogger, now: options.now }));
  server.addService(loggerService, createLoggerHandlers(options.logLevels, loggerApiLogger));
  for (const service of options.services ?? []) {
    server.addService(service.definition, service.handlers);
  }

  const socket = await listenAdminSocket(server, socketPath, options.logger.child({ subsystem: "endpoints" }));
  options.logger.info({ socket_path: socketPath, subsystem: "endpoints" }, "Admin API socket listening");

  return {
    socketPath,
    async close() {
      server.forceShutdown();
      await socket.close();
      options.logger.info({ socket_path: socketPath, subsystem: "endpoints" }, "Admin API endpoint stopped");
    },
  };
}
