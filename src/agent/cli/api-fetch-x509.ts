import { performance } from "node:perf_hooks";
import { credentials, status as Status } from "@grpc/grpc-js";
import type { ServiceError } from "@grpc/grpc-js";
import type { FlagSpec, ParsedFlags } from "../../config/flags.js";
import { WorkloadApiClient } from "../../proto/index.js";
import type { workload } from "../../proto/index.js";
import {
  checkSocketFile,
  explainCallError,
  OUTPUT_FLAG,
  processIo,
  readOutputFlag,
  readTimeoutFlag,
  resolveSocketPath,
  runClientVerb,
  SOCKET_PATH_FLAG,
  TIMEOUT_FLAG,
  workloadApiMetadata,
} from "./api-client.js";
import type { CliIo } from "./api-client.js";
import { checkX509SvidResponse, formatX509Json, formatX509Pretty, writeX509Files } from "./api-x509-output.js";

const COMMAND = "tessera-agent api fetch x509";

const FLAGS: FlagSpec[] = [
  SOCKET_PATH_FLAG,
  { ...TIMEOUT_FLAG, usage: "Time to wait for the first response (duration, e.g. 5s)" },
  { name: "silent", type: "bool", usage: "Print nothing on standard output" },
  {
    name: "write",
    type: "string",
    usage: "Folder to write svid.<i>.pem, svid.<i>.key, bundle.<i>.pem and federated_bundle.<i>.<j>.pem to",
  },
  OUTPUT_FLAG,
];

/**
 * Runs `tessera-agent api fetch x509` with the arguments after the verb: fetches this
 * process's X.509-SVIDs from the Workload API once, prints them, and with `-write` saves
 * them as PEM files. Returns the exit code: 0 on success, 1 on any error (printed on
 * standard error with what to do next).
 */
export function run(args: string[], io: CliIo = processIo()): Promise<number> {
  return runClientVerb(
    args,
    io,
    { command: COMMAND, flags: FLAGS },
    (parsed) => readOptions(parsed, io),
    (options) => fetchAndPrint(options, io),
  );
}

interface FetchOptionValues {
  socketPath: string;
  timeoutMs: number;
  silent: boolean;
  writeFolder: string;
  output: "pretty" | "json";
}

function readOptions(parsed: ParsedFlags, io: CliIo): FetchOptionValues {
  return {
    socketPath: resolveSocketPath(parsed.values.socketPath as string | undefined, io.env),
    timeoutMs: readTimeoutFlag(parsed),
    silent: parsed.values.silent === true,
    writeFolder: (parsed.values.write as string | undefined) ?? "",
    output: readOutputFlag(parsed),
  };
}

async function fetchAndPrint(options: FetchOptionValues, io: CliIo): Promise<void> {
  const socketProblem = checkSocketFile(options.socketPath);
  if (socketProblem !== undefined) {
    throw new Error(socketProblem);
  }

  const started = performance.now();
  const response = await fetchFirstX509Response(options.socketPath, options.timeoutMs);
  const elapsedMs = performance.now() - started;
  const fetched = checkX509SvidResponse(response);

  if (!options.silent) {
    io.stdout.write(options.output === "json" ? formatX509Json(response) : formatX509Pretty(fetched, elapsedMs));
  }

  if (options.writeFolder !== "") {
    const progress = writeX509Files(fetched, options.writeFolder);
    if (!options.silent && options.output === "pretty") {
      io.stdout.write(`${progress.join("\n")}\n`);
    }
  }
}

/**
 * Opens FetchX509SVID, returns its first message and cancels the stream. Rejects with a
 * message from {@link explainCallError} when the call fails or the timeout passes first.
 */
export function fetchFirstX509Response(socketPath: string, timeoutMs: number): Promise<workload.X509SVIDResponse__Output> {
  const client = new WorkloadApiClient(`unix://${socketPath}`, credentials.createInsecure());
  const call = client.FetchX509SVID({}, workloadApiMetadata(), { deadline: Date.now() + timeoutMs });

  return new Promise<workload.X509SVIDResponse__Output>((resolve, reject) => {
    call.once("data", (response: workload.X509SVIDResponse__Output) => {
      resolve(response);
      call.cancel();
    });
    call.on("error", (error: ServiceError) => {
      if (error.code !== Status.CANCELLED) {
        reject(new Error(explainCallError(error, socketPath, timeoutMs)));
      }
    });
    call.on("end", () => reject(new Error(`the agent at ${socketPath} ended the stream without sending SVIDs`)));
  }).finally(() => client.close());
}
