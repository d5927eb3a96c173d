import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { createLogger, createLogLevelController, reopenLogFile, SPIRE_LOG_LEVELS, toPinoLevel, toSpireLogLevel } from "./log.js";
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

describe("toSpireLogLevel", () => {
  it("accepts any case and WARNING", () => {
    expect(toSpireLogLevel("debug")).toBe("DEBUG");
    expect(toSpireLogLevel(" Warning ")).toBe("WARN");
    expect(toSpireLogLevel("PANIC")).toBe("PANIC");
  });

  it("rejects an unknown level", () => {
    expect(() => toSpireLogLevel("LOUD")).toThrow('invalid log level "LOUD"');
  });
});

describe("reopenLogFile", () => {
  it("writes to a new file after a rename", () => {
    const logger = openLogger();
    logger.info("before rotation");
    renameSync(logPath, `${logPath}.1`);

    expect(reopenLogFile(logger)).toBe(true);
    logger.info("after rotation");

    expect(loggedMessages()).toEqual(["after rotation"]);
    expect(readFileSync(`${logPath}.1`, "utf8")).toContain("before rotation");
    expect(readFileSync(`${logPath}.1`, "utf8")).not.toContain("after rotation");
  });

  it("keeps text lines as text", () => {
    const logger = openLogger({ format: "text" });
    renameSync(logPath, `${logPath}.1`);

    reopenLogFile(logger);
    logger.info("after rotation");

    expect(logLines()[0]).toContain("msg=\"after rotation\"");
  });

  it("keeps the old file when the path cannot be opened, then recovers", async () => {
    const logger = openLogger();
    logger.info("before rotation");
    renameSync(logPath, `${logPath}.1`);
    mkdirSync(logPath);

    const errors: string[] = [];
    const stderr = vi.spyOn(process.stderr, "write").mockImplementation((text) => errors.push(String(text)) > 0);
    try {
      expect(() => reopenLogFile(logger)).toThrow(/EISDIR/);
      logger.info("still in the old file");
      rmdirSync(logPath);
      reopenLogFile(logger);
      logger.info("in the new file");
      // A second close of the old descriptor would be reported after its callback runs.
      await new Promise((resolve) => setTimeout(resolve, 100));
    } finally {
      stderr.mockRestore();
    }

    expect(readFileSync(`${logPath}.1`, "utf8")).toContain("still in the old file");
    expect(loggedMessages()).toEqual(["in the new file"]);
    expect(errors.join("")).toContain("EISDIR");
    expect(errors.join("")).not.toContain("EBADF");
  });

  it("does nothing for standard output or a child", () => {
    const logger = openLogger();

    expect(reopenLogFile(createLogger({ name: "tessera-test" }))).toBe(false);
    expect(reopenLogFile(logger.child({ subsystem: "manager" }))).toBe(false);
  });

  it("creates the file without group write or other access", () => {
    openLogger().info("line");

    expect(existsSync(logPath)).toBe(true);
    expect(statSync(logPath).mode & 0o037).toBe(0);
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

  it("resets to a reconfigured level", () => {
    const root = openLogger();
    const controller = createLogLevelController(root);

    controller.reconfigure("DEBUG");
    controller.setLevel("ERROR");
    controller.resetLevel();
    root.debug("shown at the reconfigured level");

    expect(controller.launchLevel()).toBe("DEBUG");
    expect(controller.currentLevel()).toBe("DEBUG");
    expect(loggedMessages()).toEqual(["shown at the reconfigured level"]);
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
