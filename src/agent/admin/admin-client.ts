import { statSync } from "node:fs";
import { resolve } from "node:path";

import { credentials, status as Status } from "@grpc/grpc-js";
import type { Client, ServiceError } from "@grpc/grpc-js";

import { formatDuration } from "../../config/flags.js";
import type { FlagSpec } from "../../config/flags.js";
import { DebugClient, LoggerClient } from "../../proto/index.js";
import type { debugv1, loggerv1 } from "../../proto/index.js";

/** Admin socket the client verbs use without `-socketPath`, the same as spire-agent's. */
export const DEFAULT_ADMIN_SOCKET_PATH = "/tmp/spire-agent/private/admin.sock";

/** The `-socketPath` flag of the admin client verbs (`debug getinfo`, `logger ...`). */
export const ADMIN_SOCKET_PATH_FLAG: FlagSpec = {
  name: "socketPath",
  type: "string",
  usage: "Path to the agent admin API socket (admin_socket_path)",
  default: DEFAULT_ADMIN_SOCKET_PATH,
};

/** Logger API methods, which all return the logger's levels. */
export type LoggerMethod = "GetLogger" | "SetLogLevel" | "ResetLogLevel";

/** Calls Debug/GetInfo on the admin socket `socketPath`. A failure rejects with a message for the user. */
export function fetchDebugInfo(socketPath: string, timeoutMs: number): Promise<debugv1.GetInfoResponse__Output> {
  return callAdmin(socketPath, timeoutMs, "Debug/GetInfo", (target) => new DebugClient(target, credentials.createInsecure()), (client, deadline, done) =>
    client.GetInfo({}, { deadline }, done),
  );
}

/** Calls one Logger API method on the admin socket `socketPath`. A failure rejects with a message for the user. */
export function callLoggerApi(
  socketPath: string,
  timeoutMs: number,
  method: LoggerMethod,
  request: loggerv1.SetLogLevelRequest = {},
): Promise<loggerv1.Logger__Output> {
  return callAdmin(socketPath, timeoutMs, `Logger/${method}`, (target) => new LoggerClient(target, credentials.createInsecure()), (client, deadline, done) => {
    if (method === "SetLogLevel") {
      client.SetLogLevel(request, { deadline }, done);
    } else if (method === "ResetLogLevel") {
      client.ResetLogLevel({}, { deadline }, done);
    } else {
      client.GetLogger({}, { deadline }, done);
    }
  });
}

/** Makes a `-socketPath` value absolute, because gRPC reads a relative path in a unix:// target as a host name. */
export function resolveAdminSocketPath(flagValue: string): string {
  return resolve(flagValue === "" ? DEFAULT_ADMIN_SOCKET_PATH : flagValue);
}

type Callback<Response> = (error: ServiceError | null, response?: Response) => void;

async function callAdmin<ClientType extends Client, Response>(
  socketPath: string,
  timeoutMs: number,
  rpc: string,
  createClient: (target: string) => ClientType,
  invoke: (client: ClientType, deadline: number, done: Callback<Response>) => void,
): Promise<Response> {
  const socketProblem = findSocketProblem(socketPath);
  if (socketProblem !== undefined) {
    throw new Error(socketProblem);
  }

  const client = createClient(`unix://${socketPath}`);
  try {
    return await new Promise<Response>((resolvePromise, reject) => {
      invoke(client, Date.now() + timeoutMs, (error, response) => {
        if (error !== null) {
          reject(new Error(explainAdminCallError(error, socketPath, timeoutMs, rpc)));
          return;
        }
        if (response === undefined) {
          reject(new Error(`${rpc} on ${socketPath} returned no response`));
          return;
        }
        resolvePromise(response);
      });
    });
  } finally {
    client.close();
  }
}

function findSocketProblem(socketPath: string): string | undefined {
  try {
    if (!statSync(socketPath).isSocket()) {
      return `${socketPath} is not a socket: pass the agent's admin_socket_path with -socketPath`;
    }
    return undefined;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") {
      return noAdminApiMessage(socketPath);
    }
    return `failed to inspect ${socketPath}: ${(error as Error).message}`;
  }
}

/** Turns a failed admin API call into a message that states what went wrong and what to do next. */
export function explainAdminCallError(error: ServiceError, socketPath: string, timeoutMs: number, rpc: string): string {
  const details = error.details ?? error.message;

  switch (error.code) {
    case Status.UNAVAILABLE:
      if (/EACCES|EPERM/.test(details)) {
        return `permission denied on ${socketPath}: run as the agent's user or a member of its group (the socket has mode 0770)`;
      }
      if (/ECONNREFUSED|ENOENT|No connection established/i.test(details)) {
        return noAdminApiMessage(socketPath);
      }
      return `the agent admin API at ${socketPath} is unavailable: ${details}`;
    case Status.DEADLINE_EXCEEDED:
      return `timed out after ${formatDuration(timeoutMs)} waiting for the agent admin API at ${socketPath}: retry or raise -timeout`;
    case Status.UNIMPLEMENTED:
      return `the process at ${socketPath} does not serve ${rpc}: check that -socketPath names the agent's admin_socket_path`;
    default:
      return `${rpc} failed (${Status[error.code] ?? error.code}): ${details}`;
  }
}

function noAdminApiMessage(socketPath: string): string {
  return `no agent admin API is listening on ${socketPath}: set admin_socket_path in the agent configuration and restart it, or pass -socketPath`;
}

/** Runs `action` and prefixes the message of any error it throws with "Error: ", as spire-agent's admin verbs print failures. */
export async function withErrorPrefix(action: () => Promise<void>): Promise<void> {
  try {
    await action();
  } catch (error) {
    throw new Error(`Error: ${(error as Error).message}`, { cause: error });
  }
}
