import { credentials } from "@grpc/grpc-js";
import type { ServiceError } from "@grpc/grpc-js";
import { formatUsage, parseFlags } from "../../config/flags.js";
import type { FlagSpec } from "../../config/flags.js";
import { HealthClient } from "../../proto/index.js";
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
 * reports SERVING, and 1 otherwise, with the reason on standard error.
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
    await checkHealth(socketPath, timeoutMs);
  } catch (error) {
    io.stderr.write(`Agent is unhealthy: ${(error as Error).message}\n`);
    return 1;
  }

  io.stdout.write("Agent is healthy.\n");
  return 0;
}

async function checkHealth(socketPath: string, timeoutMs: number): Promise<void> {
  const socketProblem = checkSocketFile(socketPath);
  if (socketProblem !== undefined) {
    throw new Error(socketProblem);
  }

  const client = new HealthClient(`unix://${socketPath}`, credentials.createInsecure());
  try {
    const status = await new Promise<string>((resolve, reject) => {
      client.Check({ service: "" }, { deadline: Date.now() + timeoutMs }, (error: ServiceError | null, response) => {
        if (error !== null) {
          reject(new Error(explainCallError(error, socketPath, timeoutMs)));
          return;
        }
        resolve(response?.status ?? "UNKNOWN");
      });
    });

    if (status !== "SERVING") {
      throw new Error(`the agent reports ${status}: it has no trust bundle yet or cannot serve workloads; see the agent log`);
    }
  } finally {
    client.close();
  }
}
