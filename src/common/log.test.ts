import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { createLogger, createLogLevelController, SPIRE_LOG_LEVELS, toPinoLevel } from "./log.js";
import type { LoggerOptions } from "./log.js";

let folder: string;
let logPath: string;

beforeEach(() => {
  folder = mkdtempSync(join(tmpdir(), "tessera-log-"));
  logPath = join(folder, "agent.log");
});

afterEach(() => {
  rmSync(folder, { recursive: true, force: true });
});

function openLogger(options: Partial<LoggerOptions> = {}) {
  return createLogger({ name: "tessera-test", destination: logPath, ...options });
}

function logLines(): string[] {
  return readFileSync(logPath, "utf8").split("\n").filter((line) => line !== "");
}

function loggedMessages(): string[] {
  return logLines().map((line) => (JSON.parse(line) as { msg: string }).msg);
}

describe("toPinoLevel", () => {
  it("maps PANIC to silent", () => {
    expect(toPinoLevel("PANIC")).toBe("silent");
  });

  it("rejects an unknown level", () => {
    expect(() => toPinoLevel("LOUD")).toThrow('invalid log level "LOUD"');
  });
});

describe("createLogLevelController", () => {
  it("reports the launch level", () => {
    const controller = createLogLevelController(openLogger({ level: "WARN" }));

    expect(controller.currentLevel()).toBe("WARN");
    expect(controller.launchLevel()).toBe("WARN");
  });

  it("reports PANIC for log_level PANIC", () => {
    const controller = createLogLevelController(openLogger({ level: "PANIC" }));

    expect(controller.launchLevel()).toBe("PANIC");
  });

  it("round-trips every SPIRE level", () => {
    const controller = createLogLevelController(openLogger());

    for (const level of SPIRE_LOG_LEVELS) {
      controller.setLevel(level);
      expect(controller.currentLevel()).toBe(level);
      expect(controller.launchLevel()).toBe("INFO");
    }
  });

  it("changes children created before and after", () => {
    const root = openLogger();
    const early = root.child({ subsystem: "manager" });
    const grandchild = early.child({ entry_id: "e1" }, { redact: ["secret"] });
    const controller = createLogLevelController(root);

    early.debug("hidden at INFO");
    controller.setLevel("DEBUG");
    early.debug("early child at DEBUG");
    grandchild.debug("grandchild at DEBUG");
    root.child({ subsystem: "late" }).debug("late child at DEBUG");

    expect(loggedMessages()).toEqual(["early child at DEBUG", "grandchild at DEBUG", "late child at DEBUG"]);
  });

  it("resets to the launch level", () => {
    const root = openLogger();
    const child = root.child({ subsystem: "manager" });
    const controller = createLogLevelController(root);

    controller.setLevel("ERROR");
    child.warn("hidden at ERROR");
    controller.resetLevel();
    child.warn("shown after reset");

    expect(controller.currentLevel()).toBe("INFO");
    expect(loggedMessages()).toEqual(["shown after reset"]);
  });

  it("silences fatal lines at PANIC", () => {
    const root = openLogger();
    const controller = createLogLevelController(root);

    controller.setLevel("PANIC");
    root.fatal("hidden at PANIC");
    controller.setLevel("FATAL");
    root.fatal("shown at FATAL");

    expect(loggedMessages()).toEqual(["shown at FATAL"]);
  });

  it("leaves a child with its own level alone", () => {
    const root = openLogger();
    const pinned = root.child({ subsystem: "pinned" }, { level: "error" });
    const controller = createLogLevelController(root);

    controller.setLevel("DEBUG");
    pinned.info("hidden: the child keeps error");

    expect(logLines()).toEqual([]);
  });
});

describe("createLogger text format", () => {
  it("writes key=value lines", () => {
    const logger = openLogger({ format: "text" });

    logger.child({ subsystem: "manager" }).warn({ spiffe_id: "spiffe://example.org/w", count: 2 }, "SVID rotation failed");

    const lines = logLines();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^time="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z" level=warning msg="SVID rotation failed" count=2 name=tessera-test spiffe_id="spiffe:\/\/example.org\/w" subsystem=manager$/,
    );
  });

  it("follows the level controller", () => {
    const logger = openLogger({ format: "text" });
    const controller = createLogLevelController(logger);

    logger.debug("hidden");
    controller.setLevel("DEBUG");
    logger.debug("shown");

    expect(logLines()).toHaveLength(1);
    expect(logLines()[0]).toContain('level=debug msg=shown');
  });

  it("redacts keys as JSON output does", () => {
    const logger = openLogger({ format: "text" });

    logger.info({ join_token: "abc123" }, "Attesting");

    expect(logLines()[0]).toContain('join_token="[redacted]"');
    expect(readFileSync(logPath, "utf8")).not.toContain("abc123");
  });
});
