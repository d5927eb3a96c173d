import { statSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { Metadata, status as Status } from "@grpc/grpc-js";
import type { ServiceError } from "@grpc/grpc-js";
import { FlagError, formatDuration } from "../../config/flags.js";
import type { FlagSpec } from "../../config/flags.js";

/** Socket path the client verbs use without `-socketPath` or SPIFFE_ENDPOINT_SOCKET, as spire-agent's. */
export const DEFAULT_SOCKET_PATH = "/tmp/spire-agent/public/api.sock";

/** Environment variable that names the Workload API endpoint, per the SPIFFE Workload Endpoint specification. */
export const ENDPOINT_SOCKET_ENV = "SPIFFE_ENDPOINT_SOCKET";

/** The `-socketPath` flag shared by the client verbs. */
export const SOCKET_PATH_FLAG: FlagSpec = {
  name: "socketPath",
  type: "string",
  usage: `Path to the Workload API socket (default: $${ENDPOINT_SOCKET_ENV}, else ${DEFAULT_SOCKET_PATH})`,
};

/** Throws a {@link FlagError} when positional arguments follow the flags, which no client verb takes. */
export function rejectExtraArguments(rest: readonly string[], command: string): void {
  if (rest.length > 0) {
    throw new FlagError(`unexpected argument ${JSON.stringify(rest[0])}; run "${command} -help" to list the flags`);
  }
}

/** Standard streams and environment of a CLI verb; tests pass their own. */
export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
}

/** Returns the real process streams and environment. */
export function processIo(): CliIo {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env };
}

/**
 * Chooses the Workload API socket: the `-socketPath` value when given (a path, made
 * absolute, or a `unix:` address), else the path in SPIFFE_ENDPOINT_SOCKET, else
 * {@link DEFAULT_SOCKET_PATH}. Throws when an address is not a valid `unix:` address.
 */
export function resolveSocketPath(flagValue: string | undefined, env: NodeJS.ProcessEnv): string {
  if (flagValue !== undefined && flagValue !== "") {
    if (flagValue.startsWith("unix:")) {
      return parseUnixEndpointAddress(flagValue);
    }
    // gRPC reads a relative path in a unix:// target as a host name, so make it absolute.
    return resolve(flagValue);
  }

  const fromEnv = env[ENDPOINT_SOCKET_ENV];
  if (fromEnv !== undefined && fromEnv !== "") {
    try {
      return parseUnixEndpointAddress(fromEnv);
    } catch (error) {
      throw new Error(`invalid ${ENDPOINT_SOCKET_ENV}: ${(error as Error).message}`);
    }
  }

  return DEFAULT_SOCKET_PATH;
}

/**
 * Returns the socket path of a `unix:///abs/path` or `unix:/abs/path` address. The SPIFFE
 * Workload Endpoint specification forbids an authority, query or fragment. `tcp://`
 * addresses are valid there but not served by tessera-agent, so they are rejected too.
 */
export function parseUnixEndpointAddress(address: string): string {
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    throw new Error(`${JSON.stringify(address)} is not a URI: expected unix:///absolute/path/to/api.sock`);
  }

  if (url.protocol === "tcp:") {
    throw new Error(`${JSON.stringify(address)} is a TCP address, which tessera-agent does not serve: use a unix:/// address or -socketPath`);
  }
  if (url.protocol !== "unix:") {
    throw new Error(`${JSON.stringify(address)} has scheme ${JSON.stringify(url.protocol)}: expected unix:///absolute/path/to/api.sock`);
  }
  if (url.host !== "" || url.username !== "" || url.password !== "") {
    throw new Error(`${JSON.stringify(address)} has an authority: use unix:///absolute/path (three slashes)`);
  }
  if (url.search !== "" || url.hash !== "") {
    throw new Error(`${JSON.stringify(address)} has a query or fragment, which a unix: address must not have`);
  }

  const path = decodeURIComponent(url.pathname);
  if (!isAbsolute(path) || path === "/") {
    throw new Error(`${JSON.stringify(address)} does not name an absolute socket path`);
  }
  return path;
}

/** Returns call metadata with the `workload.spiffe.io: true` header that every Workload API call needs. */
export function workloadApiMetadata(): Metadata {
  const metadata = new Metadata();
  metadata.set("workload.spiffe.io", "true");
  return metadata;
}

/**
 * Returns a problem with the socket file that makes connecting pointless (missing, not a
 * socket), phrased for the user, or undefined when the file looks usable.
 */
export function checkSocketFile(socketPath: string): string | undefined {
  try {
    if (!statSync(socketPath).isSocket()) {
      return `${socketPath} is not a socket: pass the agent's socket_path with -socketPath`;
    }
    return undefined;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") {
      return noAgentMessage(socketPath);
    }
    return `failed to inspect ${socketPath}: ${(error as Error).message}`;
  }
}

/**
 * Turns a failed Workload API call into a message that states what went wrong and what to
 * do next. `timeoutMs` is the `-timeout` that applied, for the DeadlineExceeded case.
 */
export function explainCallError(error: ServiceError, socketPath: string, timeoutMs: number): string {
  const details = error.details ?? error.message;

  switch (error.code) {
    case Status.UNAVAILABLE:
      if (/ECONNREFUSED|ENOENT|No connection established/i.test(details)) {
        return noAgentMessage(socketPath);
      }
      if (/EACCES|EPERM/.test(details)) {
        return `permission denied on ${socketPath}: run as a user that may open the agent socket`;
      }
      if (details === "workload attestation failed") {
        return "the agent could not attest this process (workload attestation failed): see the agent log for the attestor errors";
      }
      return `the agent at ${socketPath} is unavailable: ${details}`;
    case Status.PERMISSION_DENIED:
      return "no identity issued for this process: create a registration entry whose selectors match it (see the agent log for its selectors)";
    case Status.DEADLINE_EXCEEDED:
      return `timed out after ${formatDuration(timeoutMs)} waiting for the agent at ${socketPath}: it may still be minting SVIDs; retry or raise -timeout`;
    case Status.UNAUTHENTICATED:
      return `the agent could not verify this process: ${details}`;
    case Status.INVALID_ARGUMENT:
      return `the agent rejected the request: ${details}`;
    case Status.UNIMPLEMENTED:
      return `the agent at ${socketPath} does not support this call: ${details}`;
    default:
      return `Workload API call to ${socketPath} failed (${Status[error.code] ?? error.code}): ${details}`;
  }
}

function noAgentMessage(socketPath: string): string {
  return `no agent is listening on ${socketPath}: start tessera-agent or pass -socketPath`;
}
