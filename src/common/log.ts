import { pino } from "pino";
import type { DestinationStream, Logger, LevelWithSilent } from "pino";

import { createTextDestination } from "./log-text-format.js";

export type { Logger } from "pino";

/** Options for {@link createLogger}. */
export interface LoggerOptions {
  /** Log level name as SPIRE spells it (`DEBUG`, `INFO`, `WARN`, `ERROR`); case is ignored. */
  level?: string;
  /** Name of the program, added to every line as `name`. */
  name: string;
  /** File descriptor or path to write to; standard output when unset. */
  destination?: number | string;
  /** `json` (default): one JSON object per line. `text`: `key=value` lines as SPIRE's `log_format = "text"`. */
  format?: LogFormat;
}

/** Output formats of {@link createLogger}, named as SPIRE's `log_format` values. */
export type LogFormat = "json" | "text";

const LEVELS: ReadonlyMap<string, LevelWithSilent> = new Map([
  ["trace", "trace"],
  ["debug", "debug"],
  ["info", "info"],
  ["warn", "warn"],
  ["warning", "warn"],
  ["error", "error"],
  ["fatal", "fatal"],
  // pino has no panic level. At logrus's PanicLevel only panics are logged, and
  // tessera never logs a panic, so the equivalent is no output at all.
  ["panic", "silent"],
  ["silent", "silent"],
]);

/**
 * Converts a SPIFFE-style level name (`DEBUG`, `INFO`, ...) to pino's name.
 *
 * Throws on an unknown name so that a misspelt `log_level` is reported at start-up
 * instead of silently logging at the default level.
 */
export function toPinoLevel(level: string): LevelWithSilent {
  const pinoLevel = LEVELS.get(level.trim().toLowerCase());
  if (pinoLevel === undefined) {
    throw new Error(`invalid log level "${level}": expected one of DEBUG, INFO, WARN, ERROR`);
  }
  return pinoLevel;
}

/**
 * Creates the structured logger every component derives child loggers from. It writes
 * JSON lines, or `key=value` text lines with `format: "text"`.
 *
 * Components add `subsystem` with `logger.child({ subsystem: "manager" })`. Field names
 * follow SPIRE's (`pid`, `spiffe_id`, `entry_id`, `selectors`). Private keys and tokens
 * must never be passed in a log object: the redaction list below is a safety net for
 * the obvious field names, not a licence to log secrets.
 */
export function createLogger(options: LoggerOptions): Logger {
  const file = pino.destination({
    dest: options.destination ?? 1,
    sync: true,
    mkdir: typeof options.destination === "string",
  });
  const destination: DestinationStream = options.format === "text" ? createTextDestination(file) : file;

  return pino(
    {
      name: options.name,
      level: toPinoLevel(options.level ?? "INFO"),
      // No `pid` in the base fields: `pid` is the Workload API caller's pid in SPIRE's log
      // vocabulary, and pino would otherwise emit the key twice on those lines.
      base: { name: options.name },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: ["private_key", "key", "token", "join_token", "*.private_key", "*.token", "*.join_token"],
        censor: "[redacted]",
      },
      formatters: {
        level: (label) => ({ level: label }),
      },
    },
    destination,
  );
}

/** SPIRE's log level names, least verbose first, as the agent Logger API spells them. */
export const SPIRE_LOG_LEVELS = ["PANIC", "FATAL", "ERROR", "WARN", "INFO", "DEBUG", "TRACE"] as const;

/** One of {@link SPIRE_LOG_LEVELS}. */
export type SpireLogLevel = (typeof SPIRE_LOG_LEVELS)[number];

const SPIRE_TO_PINO: Readonly<Record<SpireLogLevel, LevelWithSilent>> = {
  PANIC: "silent",
  FATAL: "fatal",
  ERROR: "error",
  WARN: "warn",
  INFO: "info",
  DEBUG: "debug",
  TRACE: "trace",
};

/**
 * Changes the level of a running process's logs, for the agent Logger API. The level the
 * root logger had when the controller was created is the launch level.
 */
export interface LogLevelController {
  /** Level the root logger uses now. */
  currentLevel(): SpireLogLevel;
  /** Level the root logger had when the controller was created. */
  launchLevel(): SpireLogLevel;
  /** Sets the level of the root logger and of every child logger that inherits it. */
  setLevel(level: SpireLogLevel): void;
  /** Sets the level back to {@link launchLevel}. */
  resetLevel(): void;
}

/**
 * Creates a {@link LogLevelController} for `root`, the logger from {@link createLogger}.
 *
 * A pino child logger reads its level from its parent through the prototype chain, so a
 * level set on the root reaches every child, including children created earlier. The
 * exception is a child created with its own `level` option or whose `level` was set: it
 * keeps its own level. pino has no PANIC level, so PANIC silences the logger (see
 * `toPinoLevel`).
 */
export function createLogLevelController(root: Logger): LogLevelController {
  const launch = spireLevelOf(root);

  return {
    currentLevel: () => spireLevelOf(root),
    launchLevel: () => launch,
    setLevel(level) {
      root.level = SPIRE_TO_PINO[level];
    },
    resetLevel() {
      root.level = SPIRE_TO_PINO[launch];
    },
  };
}

/** pino's numeric level values (pino.levels.values) and SPIRE's names, least verbose first. */
const PINO_LEVEL_VALUES: ReadonlyArray<readonly [number, SpireLogLevel]> = [
  [60, "FATAL"],
  [50, "ERROR"],
  [40, "WARN"],
  [30, "INFO"],
  [20, "DEBUG"],
];

/** Converts the logger's pino level to SPIRE's name. A custom pino level maps to the next more verbose standard one. */
function spireLevelOf(logger: Logger): SpireLogLevel {
  const value = logger.levelVal;
  if (value === Infinity) {
    return "PANIC";
  }

  for (const [threshold, name] of PINO_LEVEL_VALUES) {
    if (value >= threshold) {
      return name;
    }
  }
  return "TRACE";
}
