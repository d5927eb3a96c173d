import { existsSync } from "node:fs";
import { credentials, status } from "@grpc/grpc-js";
import type { ServiceError } from "@grpc/grpc-js";
import { AgentClient, BundleClient, EntryClient } from "../../proto/index.js";
import { CliError } from "./command.js";

/** Clients of the admin API on the server's Unix socket. */
export interface AdminClients {
  agent: AgentClient;
  entry: EntryClient;
  bundle: BundleClient;
  /** Sends a unary call and returns its response; errors become {@link CliError}s. */
  call<T>(start: (options: { deadline: Date }, done: (error: ServiceError | null, value?: T) => void) => void): Promise<T>;
  close(): void;
}

/** How long one admin call may take before the command gives up. */
const CALL_TIMEOUT_MS = 30_000;

/**
 * Connects to the admin socket. Fails at once with a message naming the path and the
 * `-socketPath` flag when no socket file exists, instead of waiting for a connect timeout.
 */
export function connectAdmin(socketPath: string): AdminClients {
  if (!existsSync(socketPath)) {
    throw new CliError(
      `no tessera-server admin socket at ${socketPath}: is the server running? Use -socketPath to name its socket`,
    );
  }

  const target = `unix:${socketPath}`;
  const insecure = credentials.createInsecure();
  const clients = {
    agent: new AgentClient(target, insecure),
    entry: new EntryClient(target, insecure),
    bundle: new BundleClient(target, insecure),
  };

  return {
    ...clients,
    call<T>(start: (options: { deadline: Date }, done: (error: ServiceError | null, value?: T) => void) => void): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        start({ deadline: new Date(Date.now() + CALL_TIMEOUT_MS) }, (error, value) => {
          if (error) reject(describeRpcError(error, socketPath));
          else resolve(value as T);
        });
      });
    },
    close() {
      clients.agent.close();
      clients.entry.close();
      clients.bundle.close();
    },
  };
}

/**
 * Formats an RPC failure as spire-server's CLI does (`rpc error: code = NotFound desc =
 * ...`). When the server cannot be reached, the message names the socket path instead.
 */
function describeRpcError(error: ServiceError, socketPath: string): CliError {
  if (error.code === status.UNAVAILABLE) {
    return new CliError(
      `failed to reach tessera-server at ${socketPath} (${error.details}): is the server running? ` +
        "Use -socketPath to name its socket",
    );
  }
  return new CliError(`rpc error: code = ${goCodeName(error.code)} desc = ${error.details}`);
}

/** Converts a gRPC status code to Go's name for it (`NOT_FOUND` becomes `NotFound`). */
export function goCodeName(code: status): string {
  const name = status[code] ?? String(code);
  if (name === "OK") return "OK";
  return name
    .toLowerCase()
    .split("_")
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
    .join("");
}
