import type { DestinationStream } from "pino";

/** Level names as logrus spells them in SPIRE's text logs, where pino's "warn" is "warning". */
const TEXT_LEVEL_NAMES: Readonly<Record<string, string>> = {
  trace: "trace",
  debug: "debug",
  info: "info",
  warn: "warning",
  error: "error",
  fatal: "fatal",
};

/** Characters that a value may contain and still be written without quotes, as in logrus's text formatter. */
const BARE_VALUE = /^[A-Za-z0-9\-._/@^+]+$/;

/**
 * Rewrites one JSON log line from pino as a `key=value` text line in the layout of
 * SPIRE's `log_format = "text"` (logrus's text formatter): `time`, `level` and `msg`
 * first, then the other fields sorted by key.
 *
 * Values with spaces, quotes or other special characters are quoted with JSON string
 * escapes, so a line never spans two lines. Arrays of plain values print as
 * `[a b]`, as Go prints slices, and objects as JSON. A line that is not a JSON object is
 * returned unchanged.
 */
export function formatTextLine(jsonLine: string): string {
  let record: unknown;
  try {
    record = JSON.parse(jsonLine);
  } catch {
    return jsonLine;
  }
  if (record === null || typeof record !== "object" || Array.isArray(record)) {
    return jsonLine;
  }

  const fields = { ...(record as Record<string, unknown>) };
  const parts: string[] = [];

  for (const key of ["time", "level", "msg"]) {
    if (key in fields) {
      const value = key === "level" ? textLevelName(fields[key]) : fields[key];
      parts.push(`${key}=${formatValue(value)}`);
      delete fields[key];
    }
  }

  for (const key of Object.keys(fields).sort()) {
    parts.push(`${formatKey(key)}=${formatValue(fields[key])}`);
  }

  return `${parts.join(" ")}\n`;
}

/**
 * Wraps `target` so that pino's JSON lines arrive there as text lines (see
 * {@link formatTextLine}). Each line is parsed once more, which costs some CPU per line
 * compared with JSON output.
 */
export function createTextDestination(target: DestinationStream): DestinationStream {
  return {
    write(line: string) {
      target.write(formatTextLine(line));
    },
  };
}

function textLevelName(level: unknown): unknown {
  if (typeof level === "string") {
    return TEXT_LEVEL_NAMES[level] ?? level;
  }
  return level;
}

function formatKey(key: string): string {
  return BARE_VALUE.test(key) ? key : JSON.stringify(key);
}

function formatValue(value: unknown): string {
  if (typeof value === "string") {
    return quoteIfNeeded(value);
  }
  if (typeof value === "number" || typeof value === "boolean" || value === null) {
    return String(value);
  }
  if (Array.isArray(value) && value.every(isPlainValue)) {
    return quoteIfNeeded(`[${value.map(String).join(" ")}]`);
  }
  return quoteIfNeeded(JSON.stringify(value) ?? String(value));
}

function isPlainValue(value: unknown): boolean {
  return typeof value === "string" || typeof value === "number" || typeof value === "boolean";
}

function quoteIfNeeded(text: string): string {
  return BARE_VALUE.test(text) ? text : JSON.stringify(text);
}
