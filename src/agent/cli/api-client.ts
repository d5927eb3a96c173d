import { statSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { Metadata, status as Status } from "@grpc/grpc-js";
import type { ServiceError } from "@grpc/grpc-js";
import { FlagError, formatDuration, formatUsage, parseFlags } from "../../config/flags.js";
import type { FlagSpec, ParsedFlags } from "../../config/flags.js";

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

/** The `-timeout` flag of the client verbs that wait for one response: 5 s by default, as spire-agent's. */
export const TIMEOUT_FLAG: FlagSpec = {
  name: "timeout",
  type: "duration",
  usage: "Time to wait for the agent's response (duration, e.g. 5s)",
  default: 5000,
};

/** The `-output` flag of the client verbs that print a response. */
export const OUTPUT_FLAG: FlagSpec = { name: "output", type: "string", usage: "Output format: pretty or json", default: "pretty" };

/** Returns the `-timeout` value in milliseconds; throws a {@link FlagError} unless it is positive. */
export function readTimeoutFlag(parsed: ParsedFlags): number {
  const timeoutMs = parsed.values.timeout as number;
  if (timeoutMs <= 0) {
    throw new FlagError("invalid value for flag -timeout: it must be greater than zero");
  }
  return timeoutMs;
}

/** Returns the `-output` value; throws a {@link FlagError} unless it is pretty or json. */
export function readOutputFlag(parsed: ParsedFlags): "pretty" | "json" {
  const output = parsed.values.output as string;
  if (output !== "pretty" && output !== "json") {
    throw new FlagError(`invalid value ${JSON.stringify(output)} for flag -output: expected pretty or json`);
  }
  return output;
}

/**
 * Runs a client verb and returns its exit code: parses `args` against `flags`, prints the
 * usage for `-help` (exit 0), turns the flags into options with `readOptions`, and runs
 * `execute`. Any error from those steps is printed on standard error, with exit code 1,
 * so each message should state what to do next.
 */
export async function runClientVerb<Options>(
  args: string[],
  io: CliIo,
  verb: { command: string; flags: FlagSpec[] },
  readOptions: (parsed: ParsedFlags) => Options,
  execute: (options: Options) => Promise<void>,
): Promise<number> {
  let options: Options;
  try {
    const parsed = parseFlags(args, verb.flags, { command: verb.command });
    if (parsed.helpRequested) {
      io.stderr.write(formatUsage(verb.command, verb.flags));
      return 0;
    }
    rejectExtraArguments(parsed.rest, verb.command);
    options = readOptions(parsed);
  } catch (error) {
    io.stderr.write(`${(error as Error).message}\n`);
    return 1;
  }

  try {
    await execute(options);
    return 0;
  } catch (error) {
    io.stderr.write(`${(error as Error).message}\n`);
    return 1;
  }
}

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
      if (isSocketConnectFailure(details)) {
        return explainSocketConnectFailure(details, socketPath);
      }
      if (SERVER_UNREACHABLE.test(details)) {
        return `the agent at ${socketPath} cannot reach tessera-server, and has no cached token to return (${details}): start the server or check the agent's server_address and server_port`;
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

/** The text the agent puts in a status when a call failed because tessera-server cannot be reached. */
const SERVER_UNREACHABLE = /\bthe server is unreachable\b/;

/**
 * Tells whether an Unavailable status came from grpc-js failing to connect to the socket
 * itself, before any response. grpc-js (1.14) starts those details with "No connection
 * established" or "Failed to connect", whereas statuses the agent sends start with its own text.
 */
function isSocketConnectFailure(details: string): boolean {
  return /^(No connection established|Failed to connect)\b/.test(details);
}

function explainSocketConnectFailure(details: string, socketPath: string): string {
  if (/\b(EACCES|EPERM)\b/.test(details)) {
    return `permission denied on ${socketPath}: run as a user that may open the agent socket`;
  }
  if (/\b(ECONNREFUSED|ENOENT)\b/.test(details)) {
    return noAgentMessage(socketPath);
  }
  return `failed to connect to the agent at ${socketPath}: ${details}`;
}

function noAgentMessage(socketPath: string): string {
  return `no agent is listening on ${socketPath}: start tessera-agent or pass -socketPath`;
}
