import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { status as Status } from "@grpc/grpc-js";
import type { ServiceError } from "@grpc/grpc-js";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { createLogger, createLogLevelController } from "../../common/log.js";
import type { Logger, LogLevelController } from "../../common/log.js";
import type { loggerv1 } from "../../proto/index.js";
import { createLoggerHandlers } from "./logger-service.js";

let folder: string;
let logPath: string;
let root: Logger;
let levels: LogLevelController;
let handlers: ReturnType<typeof createLoggerHandlers>;

beforeEach(() => {
  folder = mkdtempSync(join(tmpdir(), "tessera-logger-api-"));
  logPath = join(folder, "agent.log");
  root = createLogger({ name: "tessera-agent", level: "INFO", destination: logPath });
  levels = createLogLevelController(root);
  handlers = createLoggerHandlers(levels, root.child({ subsystem: "logger_api" }));
});

afterEach(() => {
  rmSync(folder, { recursive: true, force: true });
});

type Outcome = { error: ServiceError | null; response: loggerv1.Logger | undefined };

function invoke(method: keyof typeof handlers, request: object = {}): Promise<Outcome> {
  return new Promise((resolve) => {
    const handler = handlers[method] as (call: unknown, callback: unknown) => void;
    handler({ request }, (error: ServiceError | null, response?: loggerv1.Logger) => resolve({ error, response }));
  });
}

function logRecords(): Array<Record<string, unknown>> {
  return readFileSync(logPath, "utf8")
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe("Logger API handlers", () => {
  it("GetLogger returns both levels", async () => {
    const { error, response } = await invoke("GetLogger");

    expect(error).toBeNull();
    expect(response).toEqual({ current_level: "INFO", launch_level: "INFO" });
  });

  it("SetLogLevel changes what is logged", async () => {
    const manager = root.child({ subsystem: "manager" });
    manager.debug("before");

    const { response } = await invoke("SetLogLevel", { new_level: "DEBUG" });
    manager.debug("after");

    expect(response).toEqual({ current_level: "DEBUG", launch_level: "INFO" });
    const messages = logRecords().map((record) => record.msg);
    expect(messages).toEqual(["Changing the log level", "after"]);
    expect(logRecords()[0]).toMatchObject({ subsystem: "logger_api", method: "SetLogLevel", new_log_level: "DEBUG" });
  });

  it("ResetLogLevel returns to the launch level", async () => {
    await invoke("SetLogLevel", { new_level: "ERROR" });

    const { response } = await invoke("ResetLogLevel");
    root.info("visible again");

    expect(response).toEqual({ current_level: "INFO", launch_level: "INFO" });
    expect(levels.currentLevel()).toBe("INFO");
    expect(logRecords().map((record) => record.msg)).toEqual(["Changing the log level", "visible again"]);
  });

  it.each([["UNSPECIFIED"], [42]])("SetLogLevel rejects %s", async (newLevel) => {
    const { error, response } = await invoke("SetLogLevel", { new_level: newLevel });

    expect(response).toBeUndefined();
    expect(error?.code).toBe(Status.INVALID_ARGUMENT);
    expect(error?.details).toBe(`invalid new_level ${JSON.stringify(newLevel)}: expected one of PANIC, FATAL, ERROR, WARN, INFO, DEBUG, TRACE`);
    expect(levels.currentLevel()).toBe("INFO");
    expect(logRecords()[0]).toMatchObject({ level: "error", method: "SetLogLevel" });
  });

  it("SetLogLevel accepts every level", async () => {
    for (const level of ["PANIC", "FATAL", "ERROR", "WARN", "INFO", "DEBUG", "TRACE"]) {
      const { response } = await invoke("SetLogLevel", { new_level: level });
      expect(response?.current_level).toBe(level);
    }
  });
});
