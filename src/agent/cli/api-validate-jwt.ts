import { credentials, status as Status } from "@grpc/grpc-js";
import type { ServiceError } from "@grpc/grpc-js";
import { FlagError } from "../../config/flags.js";
import type { FlagSpec, ParsedFlags } from "../../config/flags.js";
import { WorkloadApiClient } from "../../proto/index.js";
import type { workload } from "../../proto/index.js";
import { fromProtobufStruct } from "../../workload-api/protobuf-struct.js";
import {
  checkSocketFile,
  explainCallError,
  processIo,
  readTimeoutFlag,
  resolveSocketPath,
  runClientVerb,
  SOCKET_PATH_FLAG,
  TIMEOUT_FLAG,
  workloadApiMetadata,
} from "./api-client.js";
import type { CliIo } from "./api-client.js";

const COMMAND = "tessera-agent api validate jwt";

const FLAGS: FlagSpec[] = [
  { name: "audience", type: "string", usage: "Audience the token must be for (required)" },
  { name: "svid", type: "string", usage: "JWT-SVID to validate, in compact form (required)" },
  SOCKET_PATH_FLAG,
  TIMEOUT_FLAG,
];

/**
 * Runs `tessera-agent api validate jwt` with the arguments after the verb: sends the
 * JWT-SVID and audience to the agent's ValidateJWTSVID and prints the SPIFFE ID and
 * claims in spire-agent's layout. Returns 0 when the token is valid and 1 otherwise, with the
 * agent's reason on standard error.
 */
export function run(args: string[], io: CliIo = processIo()): Promise<number> {
  return runClientVerb(
    args,
    io,
    { command: COMMAND, flags: FLAGS },
    (parsed) => readOptions(parsed, io),
    async (options) => {
      const response = await validate(options);
      io.stdout.write(formatValidation(response));
    },
  );
}

interface ValidateOptions {
  audience: string;
  svid: string;
  socketPath: string;
  timeoutMs: number;
}

function readOptions(parsed: ParsedFlags, io: CliIo): ValidateOptions {
  const audience = (parsed.values.audience as string | undefined) ?? "";
  if (audience === "") {
    throw new FlagError("audience must be specified: pass -audience with the audience this service accepts");
  }
  const svid = (parsed.values.svid as string | undefined) ?? "";
  if (svid === "") {
    throw new FlagError("svid must be specified: pass the token with -svid");
  }

  return {
    audience,
    svid,
    socketPath: resolveSocketPath(parsed.values.socketPath as string | undefined, io.env),
    timeoutMs: readTimeoutFlag(parsed),
  };
}

function validate(options: ValidateOptions): Promise<workload.ValidateJWTSVIDResponse__Output> {
  const socketProblem = checkSocketFile(options.socketPath);
  if (socketProblem !== undefined) {
    return Promise.reject(new Error(socketProblem));
  }

  const client = new WorkloadApiClient(`unix://${options.socketPath}`, credentials.createInsecure());
  return new Promise<workload.ValidateJWTSVIDResponse__Output>((resolve, reject) => {
    client.ValidateJWTSVID(
      { audience: options.audience, svid: options.svid },
      workloadApiMetadata(),
      { deadline: Date.now() + options.timeoutMs },
      (error, response) => {
        if (error !== null || response === undefined) {
          reject(new Error(explainValidationError(error, options)));
          return;
        }
        resolve(response);
      },
    );
  }).finally(() => client.close());
}

function explainValidationError(error: ServiceError | null, options: ValidateOptions): string {
  if (error === null) {
    return `the agent at ${options.socketPath} sent no response`;
  }
  if (error.code !== Status.INVALID_ARGUMENT) {
    return `failed to validate the JWT-SVID: ${explainCallError(error, options.socketPath, options.timeoutMs)}`;
  }

  const reason = error.details ?? error.message;
  if (reason.startsWith("expected audience")) {
    return `SVID is not valid: ${reason}: the token was issued for another audience, so fetch one for ${JSON.stringify(options.audience)}`;
  }
  return `SVID is not valid: ${reason}`;
}

/** Formats a validation result as spire-agent prints it: a verdict, the SPIFFE ID and the claims as one JSON line. */
export function formatValidation(response: workload.ValidateJWTSVIDResponse__Output): string {
  const claims = JSON.stringify(fromProtobufStruct(response.claims));
  return `SVID is valid.\nSPIFFE ID : ${response.spiffe_id}\nClaims    : ${claims}\n`;
}
