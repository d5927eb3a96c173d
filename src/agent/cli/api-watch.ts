import { performance } from "node:perf_hooks";
import { credentials, status as Status } from "@grpc/grpc-js";
import type { ServiceError } from "@grpc/grpc-js";
import { createBackoff, sleep } from "../../common/backoff.js";
import { formatDuration } from "../../config/flags.js";
import type { FlagSpec } from "../../config/flags.js";
import { WorkloadApiClient } from "../../proto/index.js";
import type { workload } from "../../proto/index.js";
import {
  checkSocketFile,
  explainCallError,
  processIo,
  resolveSocketPath,
  runClientVerb,
  SOCKET_PATH_FLAG,
  workloadApiMetadata,
} from "./api-client.js";
import type { CliIo } from "./api-client.js";
import { checkX509SvidResponse, formatX509Pretty } from "./api-x509-output.js";

const COMMAND = "tessera-agent api watch";

const FLAGS: FlagSpec[] = [SOCKET_PATH_FLAG];

/** First and maximum wait before reopening the stream after an error, in milliseconds. */
const RETRY_INITIAL_MS = 1000;
const RETRY_MAX_MS = 30_000;

/**
 * Runs `tessera-agent api watch` with the arguments after the verb: streams this
 * process's X.509-SVIDs and prints each update in the layout of `api fetch x509` until
 * `stop` aborts (SIGINT by default), then returns 0. After a failed stream it prints the
 * reason and reconnects with backoff, as go-spiffe's watcher does. InvalidArgument is not
 * retried because the agent would reject every retry the same way, so the exit code is 1.
 */
export function run(args: string[], io: CliIo = processIo(), stop?: AbortSignal): Promise<number> {
  return runClientVerb(
    args,
    io,
    { command: COMMAND, flags: FLAGS },
    (parsed) => resolveSocketPath(parsed.values.socketPath as string | undefined, io.env),
    async (socketPath) => {
      const interrupt = stop === undefined ? interruptSignal() : undefined;
      try {
        await watch(socketPath, io, stop ?? interrupt!.signal);
      } finally {
        interrupt?.dispose();
      }
    },
  );
}

/** Prints updates until `stop` aborts; throws on an error that retrying cannot fix. */
async function watch(socketPath: string, io: CliIo, stop: AbortSignal): Promise<void> {
  const backoff = createBackoff({ initialMs: RETRY_INITIAL_MS, maxMs: RETRY_MAX_MS });
  let lastUpdate = performance.now();

  while (!stop.aborted) {
    const socketProblem = checkSocketFile(socketPath);
    let failure: string | undefined = socketProblem;
    if (socketProblem === undefined) {
      const outcome = await streamUpdates(socketPath, stop, (response) => {
        const now = performance.now();
        printUpdate(response, now - lastUpdate, io);
        lastUpdate = now;
        backoff.reset();
      });
      if (outcome.kind === "fatal") {
        throw new Error(outcome.message);
      }
      failure = outcome.kind === "retry" ? outcome.message : undefined;
    }

    if (stop.aborted) {
      break;
    }
    const delayMs = backoff.next();
    io.stderr.write(`${failure ?? "the agent ended the stream"}; retrying in ${formatDuration(delayMs)}\n`);
    await sleep(delayMs, stop);
  }
}

function printUpdate(response: workload.X509SVIDResponse__Output, elapsedMs: number, io: CliIo): void {
  try {
    io.stdout.write(formatX509Pretty(checkX509SvidResponse(response), elapsedMs));
  } catch (error) {
    io.stderr.write(`received an invalid update: ${(error as Error).message}\n`);
  }
}

type StreamOutcome = { kind: "stopped" } | { kind: "retry"; message: string } | { kind: "fatal"; message: string };

/** Reads one FetchX509SVID stream until it ends, fails or `stop` aborts. */
function streamUpdates(
  socketPath: string,
  stop: AbortSignal,
  onUpdate: (response: workload.X509SVIDResponse__Output) => void,
): Promise<StreamOutcome> {
  const client = new WorkloadApiClient(`unix://${socketPath}`, credentials.createInsecure());
  const call = client.FetchX509SVID({}, workloadApiMetadata());
  const cancel = (): void => call.cancel();
  stop.addEventListener("abort", cancel, { once: true });

  return new Promise<StreamOutcome>((resolve) => {
    call.on("data", onUpdate);
    call.on("error", (error: ServiceError) => {
      if (error.code === Status.CANCELLED && stop.aborted) {
        resolve({ kind: "stopped" });
        return;
      }
      const message = explainCallError(error, socketPath, 0);
      resolve({ kind: error.code === Status.INVALID_ARGUMENT ? "fatal" : "retry", message });
    });
    call.on("end", () => resolve({ kind: "retry", message: `the agent at ${socketPath} ended the stream` }));
  }).finally(() => {
    stop.removeEventListener("abort", cancel);
    client.close();
  });
}

/** Returns a signal that aborts on the first SIGINT, and a function that stops listening. */
function interruptSignal(): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const onInterrupt = (): void => controller.abort();
  process.once("SIGINT", onInterrupt);
  return { signal: controller.signal, dispose: () => process.removeListener("SIGINT", onInterrupt) };
}
