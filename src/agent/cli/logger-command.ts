import { FlagError } from "../../config/flags.js";
import type { FlagSpec, ParsedFlags } from "../../config/flags.js";
import type { loggerv1 } from "../../proto/index.js";
import { ADMIN_SOCKET_PATH_FLAG, callLoggerApi, resolveAdminSocketPath, withErrorPrefix } from "../admin/admin-client.js";
import type { LoggerMethod } from "../admin/admin-client.js";
import { OUTPUT_FLAG, processIo, readOutputFlag, readTimeoutFlag, runClientVerb, TIMEOUT_FLAG } from "./api-client.js";
import type { CliIo } from "./api-client.js";

/** Names `-level` accepts, as logrus parses them for spire-agent, and the API level each selects. */
const LEVEL_NAMES: ReadonlyMap<string, loggerv1.LogLevel__Output> = new Map([
  ["panic", "PANIC"],
  ["fatal", "FATAL"],
  ["error", "ERROR"],
  ["warn", "WARN"],
  ["warning", "WARN"],
  ["info", "INFO"],
  ["debug", "DEBUG"],
  ["trace", "TRACE"],
]);

/** Level names in the pretty output, as logrus prints them in spire-agent's (WARN is "warning"). */
const PRINTED_NAMES: Readonly<Record<string, string>> = {
  PANIC: "panic",
  FATAL: "fatal",
  ERROR: "error",
  WARN: "warning",
  INFO: "info",
  DEBUG: "debug",
  TRACE: "trace",
};

const LEVEL_FLAG: FlagSpec = { name: "level", type: "string", usage: "The new log level: panic, fatal, error, warn, info, debug or trace" };

interface LoggerVerb {
  method: LoggerMethod;
  flags: FlagSpec[];
  /** Context for errors, e.g. "failed to set log level". */
  failure: string;
}

const VERBS: Readonly<Record<string, LoggerVerb>> = {
  get: { method: "GetLogger", flags: [ADMIN_SOCKET_PATH_FLAG, OUTPUT_FLAG, TIMEOUT_FLAG], failure: "failed to fetch the logger" },
  set: { method: "SetLogLevel", flags: [LEVEL_FLAG, ADMIN_SOCKET_PATH_FLAG, OUTPUT_FLAG, TIMEOUT_FLAG], failure: "failed to set log level" },
  reset: { method: "ResetLogLevel", flags: [ADMIN_SOCKET_PATH_FLAG, OUTPUT_FLAG, TIMEOUT_FLAG], failure: "failed to reset the logger" },
};

/**
 * Runs `tessera-agent logger get|set|reset` with the arguments after `logger`: calls the
 * agent's Logger API on the admin socket and prints the current and launch levels as
 * `spire-agent logger` does (`-output json` prints the response as protobuf JSON).
 * `logger set` needs `-level`. Returns 0 on success and 1 on any error, printed on
 * standard error.
 */
export function runLoggerCommand(args: string[], io: CliIo = processIo()): Promise<number> {
  const [name, ...rest] = args;
  const verb = name === undefined ? undefined : VERBS[name];
  if (verb === undefined) {
    io.stderr.write(`tessera-agent logger: unknown command ${JSON.stringify(args.join(" "))}; supported: logger get, logger set, logger reset\n`);
    return Promise.resolve(1);
  }

  return runClientVerb(rest, io, { command: `tessera-agent logger ${name}`, flags: verb.flags }, (parsed) => readOptions(parsed, verb), (options) =>
    withErrorPrefix(async () => {
      const request = options.newLevel === undefined ? {} : { new_level: parseLevelFlag(options.newLevel) };
      let logger: loggerv1.Logger__Output;
      try {
        logger = await callLoggerApi(options.socketPath, options.timeoutMs, verb.method, request);
      } catch (error) {
        throw new Error(`${verb.failure}: ${(error as Error).message}`, { cause: error });
      }
      io.stdout.write(options.output === "json" ? formatLoggerJson(logger) : formatLoggerPretty(logger));
    }),
  );
}

interface LoggerOptions {
  socketPath: string;
  timeoutMs: number;
  output: "pretty" | "json";
  /** The `-level` value as given; only `logger set` has the flag. */
  newLevel: string | undefined;
}

function readOptions(parsed: ParsedFlags, verb: LoggerVerb): LoggerOptions {
  return {
    socketPath: resolveAdminSocketPath(parsed.values.socketPath as string),
    timeoutMs: readTimeoutFlag(parsed),
    output: readOutputFlag(parsed),
    newLevel: verb.method === "SetLogLevel" ? ((parsed.values.level as string | undefined) ?? "") : undefined,
  };
}

/** Converts a `-level` value (any case) to the API level. Throws a FlagError for an empty or unknown name. */
export function parseLevelFlag(text: string): loggerv1.LogLevel__Output {
  if (text === "") {
    throw new FlagError("missing -level: set it to panic, fatal, error, warn, info, debug or trace");
  }

  const level = LEVEL_NAMES.get(text.toLowerCase());
  if (level === undefined) {
    throw new FlagError(`invalid -level ${JSON.stringify(text)}: expected panic, fatal, error, warn, info, debug or trace`);
  }
  return level;
}

/** Formats the levels as `spire-agent logger` prints them, with logrus's lower-case names. */
export function formatLoggerPretty(logger: loggerv1.Logger__Output): string {
  return `Logger Level : ${printedName(logger.current_level, "current")}\nLaunch Level : ${printedName(logger.launch_level, "launch")}\n\n`;
}

/** Formats the levels as one line of protobuf JSON, as spire-agent's `-output json` does. */
export function formatLoggerJson(logger: loggerv1.Logger__Output): string {
  return `${JSON.stringify({ current_level: logger.current_level, launch_level: logger.launch_level })}\n`;
}

function printedName(level: string, which: string): string {
  const name = PRINTED_NAMES[level];
  if (name === undefined) {
    throw new Error(`the agent returned the ${which} log level ${JSON.stringify(level)}, which has no name`);
  }
  return name;
}
