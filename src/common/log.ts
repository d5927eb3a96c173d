import { pino } from "pino";
import type { Logger, LevelWithSilent } from "pino";

export type { Logger } from "pino";

/** Options for {@link createLogger}. */
export interface LoggerOptions {
  /** Log level name as SPIRE spells it (`DEBUG`, `INFO`, `WARN`, `ERROR`); case is ignored. */
  level?: string;
  /** Name of the program, added to every line as `name`. */
  name: string;
  /** File descriptor or path to write to; standard output when unset. */
  destination?: number | string;
}

const LEVELS: ReadonlyMap<string, LevelWithSilent> = new Map([
  ["trace", "trace"],
  ["debug", "debug"],
  ["info", "info"],
  ["warn", "warn"],
  ["warning", "warn"],
  ["error", "error"],
  ["fatal", "fatal"],
  ["panic", "fatal"],
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
 * Creates the structured JSON logger every component derives child loggers from.
 *
 * Components add `subsystem` with `logger.child({ subsystem: "manager" })`. Field names
 * follow SPIRE's (`pid`, `spiffe_id`, `entry_id`, `selectors`). Private keys and tokens
 * must never be passed in a log object: the redaction list below is a safety net for
 * the obvious field names, not a licence to log secrets.
 */
export function createLogger(options: LoggerOptions): Logger {
  const destination = pino.destination({
    dest: options.destination ?? 1,
    sync: true,
    mkdir: typeof options.destination === "string",
  });

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
