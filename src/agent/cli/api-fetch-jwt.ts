import { credentials, status as Status } from "@grpc/grpc-js";
import type { ServiceError } from "@grpc/grpc-js";
import { FlagError } from "../../config/flags.js";
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

const COMMAND = "tessera-agent api fetch jwt";

const FLAGS: FlagSpec[] = [
  { name: "audience", type: "string", usage: "Comma-separated audiences the JWT-SVID is for (required)" },
  { name: "spiffeID", type: "string", usage: "SPIFFE ID of the identity to fetch (default: every identity of this process)" },
  SOCKET_PATH_FLAG,
  { ...TIMEOUT_FLAG, usage: "Time to wait for each of the two responses (duration, e.g. 5s)" },
  OUTPUT_FLAG,
];

/**
 * Runs `tessera-agent api fetch jwt` with the arguments after the verb: fetches the JWT
 * bundles and then JWT-SVIDs for the audiences from the Workload API, as spire-agent does,
 * and prints the tokens followed by the bundles. Returns 0 on success, 1 on any error
 * (printed on standard error with what to do next).
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

interface FetchJwtOptions {
  audience: string[];
  spiffeId: string;
  socketPath: string;
  timeoutMs: number;
  output: "pretty" | "json";
}

function readOptions(parsed: ParsedFlags, io: CliIo): FetchJwtOptions {
  const audience = ((parsed.values.audience as string | undefined) ?? "")
    .split(",")
    .map((value) => value.trim())
    .filter((value) => value !== "");
  if (audience.length === 0) {
    throw new FlagError("audience must be specified: pass -audience with the service the token is for, e.g. -audience api");
  }

  return {
    audience,
    spiffeId: (parsed.values.spiffeID as string | undefined) ?? "",
    socketPath: resolveSocketPath(parsed.values.socketPath as string | undefined, io.env),
    timeoutMs: readTimeoutFlag(parsed),
    output: readOutputFlag(parsed),
  };
}

async function fetchAndPrint(options: FetchJwtOptions, io: CliIo): Promise<void> {
  const socketProblem = checkSocketFile(options.socketPath);
  if (socketProblem !== undefined) {
    throw new Error(socketProblem);
  }

  const client = new WorkloadApiClient(`unix://${options.socketPath}`, credentials.createInsecure());
  try {
    const bundles = await fetchFirstJwtBundles(client, options);
    const svids = await fetchJwtSvids(client, options);
    io.stdout.write(options.output === "json" ? formatJwtJson(svids, bundles) : formatJwtPretty(svids, bundles));
  } finally {
    client.close();
  }
}

/** Opens FetchJWTBundles, returns its first message and cancels the stream. */
function fetchFirstJwtBundles(client: WorkloadApiClient, options: FetchJwtOptions): Promise<workload.JWTBundlesResponse__Output> {
  const call = client.FetchJWTBundles({}, workloadApiMetadata(), { deadline: Date.now() + options.timeoutMs });

  return new Promise((resolve, reject) => {
    call.once("data", (response: workload.JWTBundlesResponse__Output) => {
      resolve(response);
      call.cancel();
    });
    call.on("error", (error: ServiceError) => {
      if (error.code !== Status.CANCELLED) {
        reject(new Error(`failed to fetch JWT bundles: ${explainCallError(error, options.socketPath, options.timeoutMs)}`));
      }
    });
    call.on("end", () => reject(new Error(`the agent at ${options.socketPath} ended the JWT bundle stream without a message`)));
  });
}

function fetchJwtSvids(client: WorkloadApiClient, options: FetchJwtOptions): Promise<workload.JWTSVIDResponse__Output> {
  return new Promise((resolve, reject) => {
    client.FetchJWTSVID(
      { audience: options.audience, spiffe_id: options.spiffeId },
      workloadApiMetadata(),
      { deadline: Date.now() + options.timeoutMs },
      (error, response) => {
        if (error !== null || response === undefined) {
          reject(new Error(`failed to fetch JWT-SVIDs: ${explainJwtSvidError(error, options)}`));
          return;
        }
        resolve(response);
      },
    );
  });
}

function explainJwtSvidError(error: ServiceError | null, options: FetchJwtOptions): string {
  if (error === null) {
    return "the agent sent no response";
  }
  if (error.code === Status.PERMISSION_DENIED && options.spiffeId !== "") {
    return `this process has no identity ${options.spiffeId}: drop -spiffeID or register an entry with that SPIFFE ID whose selectors match it`;
  }
  return explainCallError(error, options.socketPath, options.timeoutMs);
}

/**
 * Formats tokens and bundles in spire-agent's layout: `token(<SPIFFE ID>):` and then
 * `bundle(<trust domain ID>):`, each followed by a tab-indented value. Bundles are
 * sorted by trust domain ID.
 */
export function formatJwtPretty(svids: workload.JWTSVIDResponse__Output, bundles: workload.JWTBundlesResponse__Output): string {
  const lines: string[] = [];
  for (const svid of svids.svids) {
    lines.push(`token(${svid.spiffe_id}):`, `\t${svid.svid}`);
  }
  for (const trustDomainId of Object.keys(bundles.bundles).sort()) {
    lines.push(`bundle(${trustDomainId}):`, `\t${(bundles.bundles[trustDomainId] as Buffer).toString("utf8")}`);
  }
  return `${lines.join("\n")}\n`;
}

/**
 * Formats both responses as one JSON array line: the `JWTSVIDResponse` and then the
 * `JWTBundlesResponse`, with field names as in the .proto and bundles in base64, as
 * protobuf JSON writes bytes.
 */
export function formatJwtJson(svids: workload.JWTSVIDResponse__Output, bundles: workload.JWTBundlesResponse__Output): string {
  const encodedBundles: Record<string, string> = {};
  for (const trustDomainId of Object.keys(bundles.bundles).sort()) {
    encodedBundles[trustDomainId] = (bundles.bundles[trustDomainId] as Buffer).toString("base64");
  }
  const json = [
    { svids: svids.svids.map((svid) => ({ spiffe_id: svid.spiffe_id, svid: svid.svid, hint: svid.hint })) },
    { bundles: encodedBundles },
  ];
  return `${JSON.stringify(json)}\n`;
}
