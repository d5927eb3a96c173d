/**
 * Integration test of the agent admin endpoint: a real socket, real agent caches behind
 * Debug/GetInfo, a real pino logger behind the Logger API, grpc-js clients, and the
 * `debug getinfo` and `logger` verbs run as child processes from dist/ (run
 * `npm run build` first).
 */
import { execFile, execFileSync } from "node:child_process";
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

import { Client, credentials, status as Status } from "@grpc/grpc-js";
import type { ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { DebugClient, LoggerClient } from "../../proto/index.js";
import type { debugv1, loggerv1 } from "../../proto/index.js";
import { startAdminEndpoint } from "./admin-endpoint.js";
import type { DebugInfoSource } from "./debug-service.js";
import { startTestAdminAgent, TEST_UPTIME_SECONDS } from "./test-admin-agent.js";
import type { TestAdminAgent } from "./test-admin-agent.js";

const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));
const isRoot = process.getuid?.() === 0;

/** Loads a CLI module from dist/ and exits with the code its exported runner returns. */
const CHILD_RUNNER = "const cli = await import(process.argv[1]); process.exit(await cli[process.argv[2]](process.argv.slice(3)));";

interface ChildResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `runDebugCommand` or `runLoggerCommand` from dist/ in a child process, optionally through a command prefix such as setpriv. */
function runCli(module: "debug-getinfo" | "logger-command", args: string[], prefix: string[] = []): Promise<ChildResult> {
  const modulePath = join(repoRoot, "dist", "src", "agent", "cli", `${module}.js`);
  const runner = module === "debug-getinfo" ? "runDebugCommand" : "runLoggerCommand";
  const command = [...prefix, process.execPath, "--input-type=module", "-e", CHILD_RUNNER, modulePath, runner, ...args];

  return new Promise((resolve) => {
    execFile(command[0] as string, command.slice(1), (error, stdout, stderr) => {
      let code = 0;
      if (error !== null) {
        // A child killed by a signal has no numeric exit code.
        code = typeof error.code === "number" ? error.code : -1;
      }
      resolve({ code, stdout, stderr });
    });
  });
}

function unary<Response>(invoke: (done: (error: ServiceError | null, response?: Response) => void) => void): Promise<Response> {
  return new Promise((resolve, reject) => {
    invoke((error, response) => (error === null ? resolve(response as Response) : reject(error)));
  });
}

function logMessages(logPath: string): string[] {
  return readFileSync(logPath, "utf8")
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => (JSON.parse(line) as { msg: string }).msg);
}

describe("admin endpoint", () => {
  let folder: string;
  let agent: TestAdminAgent;
  let socketPath: string;

  beforeAll(async () => {
    for (const module of ["debug-getinfo", "logger-command"]) {
      const built = join(repoRoot, "dist", "src", "agent", "cli", `${module}.js`);
      const source = join(repoRoot, "src", "agent", "cli", `${module}.ts`);
      expect(existsSync(built), `${built} is missing: run npm run build`).toBe(true);
      expect(statSync(built).mtimeMs, `${built} is older than its source: run npm run build`).toBeGreaterThanOrEqual(statSync(source).mtimeMs);
    }

    folder = mkdtempSync(join(tmpdir(), "tessera-admin-"));
    // Other users must reach the socket's folder, so the permission test checks the socket's own mode.
    chmodSync(folder, 0o755);
    agent = await startTestAdminAgent(folder);
    socketPath = agent.endpoint.socketPath;
  });

  afterAll(async () => {
    await agent?.stop();
    if (folder !== undefined) {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  it("creates the socket with mode 0770", () => {
    const stats = lstatSync(socketPath);

    expect(stats.isSocket()).toBe(true);
    expect((stats.mode & 0o777).toString(8)).toBe("770");
  });

  it("serves GetInfo to a gRPC client", async () => {
    const client = new DebugClient(`unix://${socketPath}`, credentials.createInsecure());
    try {
      const info = await unary<debugv1.GetInfoResponse__Output>((done) => client.GetInfo({}, done));

      expect(info.uptime).toBe(TEST_UPTIME_SECONDS);
      expect(info.svids_count).toBe(2);
      expect(info.cached_x509_svids_count).toBe(2);
      expect(info.cached_jwt_svids_count).toBe(1);
      expect(info.cached_svidstore_x509_svids_count).toBe(0);
      expect(info.last_sync_success).toBe(agent.lastSync.getTime() / 1000);
      expect(info.svid_chain.map((certificate) => certificate.id)).toEqual([
        { trust_domain: "example.org", path: "/spire/agent/join_token/test" },
        { trust_domain: "example.org", path: "" },
        { trust_domain: "example.org", path: "" },
      ]);
      expect(info.svid_chain.map((certificate) => certificate.subject)).toEqual([
        "O=SPIRE,C=US",
        "CN=example.org intermediate,O=Tessera test",
        "CN=example.org root,O=Tessera test",
      ]);
      expect(info.svid_chain[0]?.expires_at).toBe(Math.floor(agent.agentSvid.notAfter.getTime() / 1000));
    } finally {
      client.close();
    }
  });

  it("changes what the logger emits over gRPC", async () => {
    const client = new LoggerClient(`unix://${socketPath}`, credentials.createInsecure());
    const manager = agent.logger.child({ subsystem: "manager" });
    try {
      const before = await unary<loggerv1.Logger__Output>((done) => client.GetLogger({}, done));
      manager.debug("debug line 1");
      const set = await unary<loggerv1.Logger__Output>((done) => client.SetLogLevel({ new_level: "DEBUG" }, done));
      manager.debug("debug line 2");
      const reset = await unary<loggerv1.Logger__Output>((done) => client.ResetLogLevel({}, done));
      manager.debug("debug line 3");

      expect(before).toEqual({ current_level: "INFO", launch_level: "INFO" });
      expect(set).toEqual({ current_level: "DEBUG", launch_level: "INFO" });
      expect(reset).toEqual({ current_level: "INFO", launch_level: "INFO" });
      const debugLines = logMessages(agent.logPath).filter((message) => message.startsWith("debug line"));
      expect(debugLines).toEqual(["debug line 2"]);
    } finally {
      client.close();
    }
  });

  it("rejects an unknown level number", async () => {
    const client = new Client(`unix://${socketPath}`, credentials.createInsecure());
    try {
      const call = unary<Buffer>((done) =>
        client.makeUnaryRequest(
          "/spire.api.agent.logger.v1.Logger/SetLogLevel",
          (request: Buffer) => request,
          (response: Buffer) => response,
          // new_level (field 1, varint) = 9, which the LogLevel enum does not define.
          Buffer.from([0x08, 9]),
          done,
        ),
      );

      await expect(call).rejects.toMatchObject({ code: Status.INVALID_ARGUMENT, details: expect.stringContaining("invalid new_level 9") });
      expect(agent.levels.currentLevel()).toBe("INFO");
    } finally {
      client.close();
    }
  });

  it("rejects a socket in the public socket's folder", async () => {
    const attempt = startAdminEndpoint({
      socketPath: join(folder, "public", "nested", "admin.sock"),
      publicSocketPath: agent.publicSocketPath,
      debug: {} as DebugInfoSource,
      logLevels: agent.levels,
      logger: agent.logger,
    });

    await expect(attempt).rejects.toThrow(`is inside ${join(folder, "public")}, the folder of the Workload API socket`);
    expect(existsSync(join(folder, "public"))).toBe(false);
  });

  it("rejects a socket another endpoint serves", async () => {
    const attempt = startAdminEndpoint({
      socketPath,
      publicSocketPath: agent.publicSocketPath,
      debug: {} as DebugInfoSource,
      logLevels: agent.levels,
      logger: agent.logger,
    });

    await expect(attempt).rejects.toThrow(`another process is already serving the agent admin API on ${socketPath}`);
    expect(lstatSync(socketPath).isSocket()).toBe(true);
  });

  it("replaces a stale socket and removes it on close", async () => {
    const otherFolder = join(folder, "other");
    mkdirSync(otherFolder);
    const stale = join(otherFolder, "admin.sock");
    // A socket bound by a process that has exited stays on disk and refuses connections.
    execFileSync("python3", ["-c", "import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])", stale]);

    const endpoint = await startAdminEndpoint({
      socketPath: stale,
      publicSocketPath: agent.publicSocketPath,
      debug: {} as DebugInfoSource,
      logLevels: agent.levels,
      logger: agent.logger,
    });
    const result = await runCli("logger-command", ["get", "-socketPath", stale]);
    await endpoint.close();

    expect(result).toEqual({ code: 0, stdout: "Logger Level : info\nLaunch Level : info\n\n", stderr: "" });
    expect(existsSync(stale)).toBe(false);
  });

  describe("CLI verbs in child processes", () => {
    it("debug getinfo prints the agent state", async () => {
      const result = await runCli("debug-getinfo", ["getinfo", "-socketPath", socketPath]);

      expect(result.stderr).toBe("");
      expect(result.code).toBe(0);
      const lines = result.stdout.split("\n");
      expect(lines.slice(0, 6)).toEqual([
        "Agent Debug Info:",
        "  Uptime:                          1m30s",
        `  Last Sync Success:               ${agent.lastSync.toISOString().replace(".000Z", "Z")}`,
        "  Cached X.509 SVIDs:              2",
        "  Cached JWT SVIDs:                1",
        "  Cached SVID Store X.509 SVIDs:   0",
      ]);
      expect(lines[6]).toBe("  SVID Chain:");
      expect(lines[7]).toBe("    [0] SPIFFE ID:  spiffe://example.org/spire/agent/join_token/test");
      expect(lines[8]).toBe("        Subject:    O=SPIRE,C=US");
      expect(lines[13]).toBe("    [2] SPIFFE ID:  spiffe://example.org");
    });

    it("debug getinfo prints JSON", async () => {
      const result = await runCli("debug-getinfo", ["getinfo", "-socketPath", socketPath, "-output", "json"]);

      expect(result.code).toBe(0);
      const json = JSON.parse(result.stdout) as { uptime: number; last_sync_success: string; svid_chain: Array<{ id: unknown; expires_at: string }> };
      expect(json.uptime).toBe(TEST_UPTIME_SECONDS);
      expect(json.last_sync_success).toBe(String(agent.lastSync.getTime() / 1000));
      expect(json.svid_chain[0]?.id).toEqual({ trust_domain: "example.org", path: "/spire/agent/join_token/test" });
      expect(json.svid_chain[0]?.expires_at).toBe(String(Math.floor(agent.agentSvid.notAfter.getTime() / 1000)));
    });

    it("logger set and reset change what the agent logs", async () => {
      const manager = agent.logger.child({ subsystem: "manager" });

      const set = await runCli("logger-command", ["set", "-socketPath", socketPath, "-level", "trace"]);
      manager.trace("trace line 1");
      const get = await runCli("logger-command", ["get", "-socketPath", socketPath, "-output", "json"]);
      const reset = await runCli("logger-command", ["reset", "-socketPath", socketPath]);
      manager.trace("trace line 2");

      expect(set).toEqual({ code: 0, stdout: "Logger Level : trace\nLaunch Level : info\n\n", stderr: "" });
      expect(get).toEqual({ code: 0, stdout: '{"current_level":"TRACE","launch_level":"INFO"}\n', stderr: "" });
      expect(reset).toEqual({ code: 0, stdout: "Logger Level : info\nLaunch Level : info\n\n", stderr: "" });
      expect(logMessages(agent.logPath).filter((message) => message.startsWith("trace line"))).toEqual(["trace line 1"]);
    });

    it("logger set fails for an unknown level", async () => {
      const result = await runCli("logger-command", ["set", "-socketPath", socketPath, "-level", "verbose"]);

      expect(result.code).toBe(1);
      expect(result.stdout).toBe("");
      expect(result.stderr).toBe('Error: invalid -level "verbose": expected panic, fatal, error, warn, info, debug or trace\n');
    });

    it("debug getinfo fails without an agent", async () => {
      const missing = join(folder, "missing", "admin.sock");

      const result = await runCli("debug-getinfo", ["getinfo", "-socketPath", missing]);

      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`Error: no agent admin API is listening on ${missing}`);
    });

    it.skipIf(!isRoot)("only the owner and group may connect (needs root for setpriv)", async () => {
      const asOther = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"];
      const asGroupMember = ["setpriv", "--reuid=65534", "--regid=0", "--clear-groups"];

      const other = await runCli("debug-getinfo", ["getinfo", "-socketPath", socketPath], asOther);
      const member = await runCli("debug-getinfo", ["getinfo", "-socketPath", socketPath], asGroupMember);

      expect(lstatSync(socketPath).gid).toBe(0);
      expect(other.code).toBe(1);
      expect(other.stderr).toContain(`Error: permission denied on ${socketPath}`);
      expect(member.stderr).toBe("");
      expect(member.code).toBe(0);
    });
  });
});

describe("admin endpoint with text logs", () => {
  let folder: string;
  let agent: TestAdminAgent;

  beforeAll(async () => {
    folder = mkdtempSync(join(tmpdir(), "tessera-admin-text-"));
    agent = await startTestAdminAgent(folder, "text");
  });

  afterAll(async () => {
    await agent?.stop();
    if (folder !== undefined) {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  it("logger set changes the text log", async () => {
    const manager = agent.logger.child({ subsystem: "manager" });

    manager.debug({ entry_id: "web" }, "hidden debug line");
    const set = await runCli("logger-command", ["set", "-socketPath", agent.endpoint.socketPath, "-level", "debug"]);
    manager.debug({ entry_id: "web" }, "shown debug line");

    expect(set.code).toBe(0);
    const log = readFileSync(agent.logPath, "utf8");
    expect(log).not.toContain("hidden debug line");
    expect(log).toMatch(/^time="[^"]+" level=debug msg="shown debug line" entry_id=web name=tessera-agent subsystem=manager$/m);
    expect(log).toMatch(/^time="[^"]+" level=info msg="Changing the log level" method=SetLogLevel name=tessera-agent new_log_level=DEBUG subsystem=logger_api$/m);
  });
});
