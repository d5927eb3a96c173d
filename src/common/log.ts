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
    // SPIRE creates its log file with mode 0640; the umask may remove more.
    mode: LOG_FILE_MODE,
  });
  const destination: DestinationStream = options.format === "text" ? createTextDestination(file) : file;

  const logger = pino(
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
  if (typeof options.destination === "string") {
    logFiles.set(logger, file);
    reportFileErrors(file, options.destination);
  }
  return logger;
}

/**
 * Writes log file errors (a failed reopen, a full disk) to standard error instead of
 * letting them end the process. pino re-raises every destination error except EPIPE, and
 * an 'error' event without a listener throws. Because pino's handler emits each error a
 * second time, a repeat of the same error object is skipped.
 */
function reportFileErrors(file: ReturnType<typeof pino.destination>, path: string): void {
  let lastError: unknown;
  file.on("error", (error: Error) => {
    if (error === lastError) {
      return;
    }
    lastError = error;
    process.stderr.write(`failed to write to the log file ${path}: ${error.message}\n`);
  });
}

/** Permission bits of a log file that {@link createLogger} creates, before the umask. */
const LOG_FILE_MODE = 0o640;

/** The file destination of each root logger that writes to a path, for {@link reopenLogFile}. */
const logFiles = new WeakMap<Logger, ReturnType<typeof pino.destination>>();

/**
 * Closes and opens again the log file of `root`, a logger from {@link createLogger}, so
 * that after logrotate renamed the file, new lines go to a new file at the configured
 * path (SIGUSR2, as in SPIRE). Lines written before the call are in the old file.
 *
 * Returns false, doing nothing, when `root` writes to a file descriptor (standard output)
 * or is not a root logger from {@link createLogger}. Throws when the file cannot be
 * opened again; the logger then keeps writing to the old file.
 */
export function reopenLogFile(root: Logger): boolean {
  const file = logFiles.get(root);
  if (file === undefined) {
    return false;
  }

  const earlierListeners = new Set(file.listeners("ready"));
  try {
    file.reopen();
  } catch (error) {
    // sonic-boom 4 leaves the listener that closes the old descriptor in place after a
    // failed open, so the next successful reopen would close it twice and raise an
    // unhandled 'error' event. Removing it keeps the old descriptor open and in use.
    for (const listener of file.listeners("ready")) {
      if (!earlierListeners.has(listener)) {
        file.removeListener("ready", listener as (...args: unknown[]) => void);
      }
    }
    throw error;
  }
  return true;
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
 * Converts a configured level name (`log_level`, any case, `WARNING` for `WARN`) to its
 * {@link SPIRE_LOG_LEVELS} name. Throws on an unknown name, as {@link toPinoLevel} does.
 */
export function toSpireLogLevel(level: string): SpireLogLevel {
  const name = level.trim().toUpperCase();
  if (name === "WARNING") {
    return "WARN";
  }
  if (!(SPIRE_LOG_LEVELS as readonly string[]).includes(name)) {
    throw new Error(`invalid log level "${level}": expected one of DEBUG, INFO, WARN, ERROR`);
  }
  return name as SpireLogLevel;
}

/**
 * Changes the level of a running process's logs, for the agent Logger API and for a
 * configuration reload. The level the root logger had when the controller was created is
 * the launch level until {@link LogLevelController.reconfigure} replaces it.
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
  /**
   * Sets the level and makes it the launch level, for a reloaded `log_level`. A later
   * {@link resetLevel} then returns to the configured level, not to the one at start-up.
   */
  reconfigure(level: SpireLogLevel): void;
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
  let launch = spireLevelOf(root);

  return {
    currentLevel: () => spireLevelOf(root),
    launchLevel: () => launch,
    setLevel(level) {
      root.level = SPIRE_TO_PINO[level];
    },
    resetLevel() {
      root.level = SPIRE_TO_PINO[launch];
    },
    reconfigure(level) {
      launch = level;
      root.level = SPIRE_TO_PINO[level];
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
