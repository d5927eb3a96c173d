import { credentials, status as Status } from "@grpc/grpc-js";
import type { Metadata, ServiceError } from "@grpc/grpc-js";
import { formatUsage, parseFlags } from "../../config/flags.js";
import type { FlagSpec } from "../../config/flags.js";
import { HealthClient } from "../../proto/index.js";
import { FAILED_SYNCS_METADATA_KEY, SERVER_HEALTH_SERVICE, UNREACHABLE_SINCE_METADATA_KEY } from "../../workload-api/health-service.js";
import {
  checkSocketFile,
  explainCallError,
  processIo,
  rejectExtraArguments,
  resolveSocketPath,
  SOCKET_PATH_FLAG,
} from "./api-client.js";
import type { CliIo } from "./api-client.js";

const COMMAND = "tessera-agent healthcheck";

const FLAGS: FlagSpec[] = [
  SOCKET_PATH_FLAG,
  { name: "shallow", type: "bool", usage: "Accepted for compatibility with spire-agent; the check is the same" },
  { name: "verbose", type: "bool", usage: "Also print which socket is checked" },
  { name: "timeout", type: "duration", usage: "Time to wait for the agent's response (duration, e.g. 5s)", default: 5000 },
];

/**
 * Runs `tessera-agent healthcheck` with the arguments after the verb: calls the agent's
 * `grpc.health.v1.Health/Check` on the Workload API socket. Returns 0 only when the agent
 * reports SERVING, and 1 otherwise, with the reason on standard error. When the agent
 * serves but cannot reach its server, it prints that the agent is degraded and since
 * when, and still returns 0, because workloads still get their cached SVIDs.
 */
export async function run(args: string[], io: CliIo = processIo()): Promise<number> {
  let parsed;
  try {
    parsed = parseFlags(args, FLAGS, { command: COMMAND });
    rejectExtraArguments(parsed.rest, COMMAND);
  } catch (error) {
    io.stderr.write(`${(error as Error).message}\n`);
    return 1;
  }
  if (parsed.helpRequested) {
    io.stderr.write(formatUsage(COMMAND, FLAGS));
    return 0;
  }

  const verbose = parsed.values.verbose === true;
  const timeoutMs = parsed.values.timeout as number;
  try {
    const socketPath = resolveSocketPath(parsed.values.socketPath as string | undefined, io.env);
    if (verbose) {
      io.stdout.write(`Checking agent health on ${socketPath}...\n`);
    }
    const degraded = await checkHealth(socketPath, timeoutMs);
    if (degraded !== undefined) {
      io.stdout.write(`Agent is degraded: ${degraded}.\n`);
      return 0;
    }
  } catch (error) {
    io.stderr.write(`Agent is unhealthy: ${(error as Error).message}\n`);
    return 1;
  }

  io.stdout.write("Agent is healthy.\n");
  return 0;
}

/** Checks the agent; returns why it is degraded, or undefined when it is healthy. Throws when it is unhealthy. */
async function checkHealth(socketPath: string, timeoutMs: number): Promise<string | undefined> {
  const socketProblem = checkSocketFile(socketPath);
  if (socketProblem !== undefined) {
    throw new Error(socketProblem);
  }

  const client = new HealthClient(`unix://${socketPath}`, credentials.createInsecure());
  const deadline = Date.now() + timeoutMs;
  try {
    const agent = await callCheck(client, "", deadline);
    if (agent.error !== undefined) {
      throw new Error(explainCallError(agent.error, socketPath, timeoutMs));
    }
    if (agent.status !== "SERVING") {
      throw new Error(`the agent reports ${agent.status}: it has no trust bundle yet or cannot serve workloads; see the agent log`);
    }

    const server = await callCheck(client, SERVER_HEALTH_SERVICE, deadline);
    if (server.error !== undefined) {
      // Agents without the server check return NotFound, and no other failure makes a serving agent unhealthy.
      if (server.error.code !== Status.NOT_FOUND && server.error.code !== Status.INVALID_ARGUMENT) {
        return `the server reachability check failed: ${explainCallError(server.error, socketPath, timeoutMs)}`;
      }
      return undefined;
    }
    if (server.status === "SERVING") {
      return undefined;
    }
    return describeOutage(server.trailer);
  } finally {
    client.close();
  }
}

interface CheckResult {
  status?: string;
  error?: ServiceError;
  trailer?: Metadata;
}

/** Calls Check and resolves once the status and its trailing metadata have arrived. */
function callCheck(client: HealthClient, service: string, deadline: number): Promise<CheckResult> {
  return new Promise((resolve) => {
    const result: CheckResult = {};
    const call = client.Check({ service }, { deadline }, (error: ServiceError | null, response) => {
      if (error !== null) {
        result.error = error;
      } else {
        result.status = response?.status ?? "UNKNOWN";
      }
    });
    // grpc-js calls the callback before it emits "status", which carries the trailers.
    call.on("status", (callStatus) => {
      result.trailer = callStatus.metadata;
      resolve(result);
    });
  });
}

function describeOutage(trailer: Metadata | undefined): string {
  const since = trailer?.get(UNREACHABLE_SINCE_METADATA_KEY)[0];
  const failures = trailer?.get(FAILED_SYNCS_METADATA_KEY)[0];
  const sinceText = since === undefined ? "" : ` since ${String(since)}`;
  const count = failures === undefined ? undefined : String(failures);
  const failuresText = count === undefined ? "" : ` (${count} failed ${count === "1" ? "sync" : "syncs"})`;
  return `server unreachable${sinceText}${failuresText}; cached SVIDs are still served until they expire`;
}
