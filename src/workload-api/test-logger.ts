import { Writable } from "node:stream";
import { pino } from "pino";
import type { Logger } from "pino";

/** A pino logger for tests that keeps every line, parsed, in `lines`. */
export interface CapturedLogger {
  logger: Logger;
  lines: Array<Record<string, unknown>>;
}

/** Creates a debug-level logger whose JSON lines are parsed into memory instead of printed. */
export function captureLogger(): CapturedLogger {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString("utf8").split("\n")) {
        if (line !== "") lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      callback();
    },
  });
  return { logger: pino({ level: "debug" }, sink), lines };
}
