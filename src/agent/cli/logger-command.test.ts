import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";

import { startTestAdminAgent } from "../admin/test-admin-agent.js";
import type { TestAdminAgent } from "../admin/test-admin-agent.js";
import { captureIo } from "./cli-test-support.js";
import { formatLoggerJson, formatLoggerPretty, parseLevelFlag, runLoggerCommand } from "./logger-command.js";

describe("parseLevelFlag", () => {
  it.each([
    ["panic", "PANIC"],
    ["FATAL", "FATAL"],
    ["error", "ERROR"],
    ["warn", "WARN"],
    ["Warning", "WARN"],
    ["info", "INFO"],
    ["debug", "DEBUG"],
    ["trace", "TRACE"],
  ])("maps %s to %s", (text, level) => {
    expect(parseLevelFlag(text)).toBe(level);
  });

  it("rejects an empty value", () => {
    expect(() => parseLevelFlag("")).toThrow("missing -level: set it to panic, fatal, error, warn, info, debug or trace");
  });

  it("rejects an unknown name", () => {
    expect(() => parseLevelFlag("loud")).toThrow('invalid -level "loud": expected panic, fatal, error, warn, info, debug or trace');
  });
});

describe("logger output formats", () => {
  it("prints logrus names", () => {
    expect(formatLoggerPretty({ current_level: "WARN", launch_level: "INFO" })).toBe("Logger Level : warning\nLaunch Level : info\n\n");
  });

  it("rejects an unnamed level", () => {
    expect(() => formatLoggerPretty({ current_level: "UNSPECIFIED", launch_level: "INFO" })).toThrow(
      'the agent returned the current log level "UNSPECIFIED", which has no name',
    );
  });

  it("prints protobuf JSON", () => {
    expect(formatLoggerJson({ current_level: "DEBUG", launch_level: "INFO" })).toBe('{"current_level":"DEBUG","launch_level":"INFO"}\n');
  });
});

describe("logger verbs against an admin endpoint", () => {
  let folder: string;
  let agent: TestAdminAgent;

  beforeAll(async () => {
    folder = mkdtempSync(join(tmpdir(), "tessera-logger-cli-"));
    agent = await startTestAdminAgent(folder);
  });

  afterAll(async () => {
    await agent?.stop();
    rmSync(folder, { recursive: true, force: true });
  });

  beforeEach(() => {
    agent.levels.resetLevel();
  });

  async function run(...args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
    const captured = captureIo();
    const [verb = "", ...flags] = args;
    const exitCode = await runLoggerCommand([verb, "-socketPath", agent.endpoint.socketPath, ...flags], captured.io);
    return { exitCode, stdout: captured.stdout(), stderr: captured.stderr() };
  }

  it("get prints both levels", async () => {
    expect(await run("get")).toEqual({ exitCode: 0, stdout: "Logger Level : info\nLaunch Level : info\n\n", stderr: "" });
  });

  it("set changes the agent's level", async () => {
    const result = await run("set", "-level", "debug");
    agent.logger.child({ subsystem: "manager" }).debug("debug line after set");

    expect(result).toEqual({ exitCode: 0, stdout: "Logger Level : debug\nLaunch Level : info\n\n", stderr: "" });
    expect(agent.levels.currentLevel()).toBe("DEBUG");
    expect(readFileSync(agent.logPath, "utf8")).toContain('"msg":"debug line after set"');
  });

  it("reset returns to the launch level", async () => {
    await run("set", "-level", "error");

    expect(await run("reset", "-output", "json")).toEqual({ exitCode: 0, stdout: '{"current_level":"INFO","launch_level":"INFO"}\n', stderr: "" });
  });

  it("set requires -level", async () => {
    const result = await run("set");

    expect(result.exitCode).toBe(1);
    expect(result.stderr).toBe("Error: missing -level: set it to panic, fatal, error, warn, info, debug or trace\n");
    expect(agent.levels.currentLevel()).toBe("INFO");
  });

  it("set rejects an unknown level", async () => {
    const result = await run("set", "-level", "loud");

    expect(result.exitCode).toBe(1);
    expect(result.stderr).toBe('Error: invalid -level "loud": expected panic, fatal, error, warn, info, debug or trace\n');
  });

  it("get rejects the -level flag", async () => {
    const result = await run("get", "-level", "debug");

    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain("-level");
  });

  it("fails without an agent", async () => {
    const captured = captureIo();
    const missing = join(folder, "missing.sock");

    const exitCode = await runLoggerCommand(["reset", "-socketPath", missing], captured.io);

    expect(exitCode).toBe(1);
    expect(captured.stderr()).toBe(
      `Error: failed to reset the logger: no agent admin API is listening on ${missing}: set admin_socket_path in the agent configuration and restart it, or pass -socketPath\n`,
    );
  });

  it("rejects an unknown verb", async () => {
    const captured = captureIo();

    expect(await runLoggerCommand(["mute"], captured.io)).toBe(1);
    expect(captured.stderr()).toBe('tessera-agent logger: unknown command "mute"; supported: logger get, logger set, logger reset\n');
  });
});
