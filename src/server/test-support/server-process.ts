import { execFile, spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { join } from "node:path";
import { REPOSITORY_ROOT } from "./ensure-build.js";

const BIN = join(REPOSITORY_ROOT, "bin/tessera-server.js");

/** Result of one CLI invocation. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `node bin/tessera-server.js <args>` and collects its output and exit code. */
export function runCli(args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: REPOSITORY_ROOT }, (error, stdout, stderr) => {
      let code = 0;
      if (error !== null) code = typeof error.code === "number" ? error.code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

/** A `tessera-server run` process started by a test. */
export interface ServerProcess {
  child: ChildProcess;
  /** The port from the "Server APIs listening" log line. */
  port: number;
  /** Every log line so far, parsed from JSON. */
  logs: Record<string, unknown>[];
  /** Sends SIGTERM and resolves with the exit code. */
  stop(): Promise<number | null>;
}

/**
 * Starts `tessera-server run` with `args` and waits for the JSON log line
 * `"msg":"Server APIs listening"`. Rejects with the collected output if the process exits
 * first or no such line appears within `timeoutMs`.
 */
export function startServerProcess(args: string[], timeoutMs = 30_000): Promise<ServerProcess> {
  const child = spawn(process.execPath, [BIN, "run", ...args], { cwd: REPOSITORY_ROOT, stdio: ["ignore", "pipe", "pipe"] });
  const logs: Record<string, unknown>[] = [];
  let stderr = "";
  let buffered = "";
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));

  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`server did not log "Server APIs listening" within ${timeoutMs} ms`)), timeoutMs);
    function fail(error: Error): void {
      clearTimeout(timer);
      child.kill("SIGKILL");
      reject(new Error(`${error.message}\nstderr: ${stderr}\nlogs: ${JSON.stringify(logs)}`));
    }

    child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout?.on("data", (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split("\n");
      buffered = lines.pop() ?? "";
      for (const line of lines) {
        if (line.trim() === "") continue;
        const record = JSON.parse(line) as Record<string, unknown>;
        logs.push(record);
        if (record.msg === "Server APIs listening") {
          clearTimeout(timer);
          resolve({
            child,
            port: record.port as number,
            logs,
            stop: () => {
              if (child.exitCode === null) child.kill("SIGTERM");
              return exited;
            },
          });
        }
      }
    });
    child.once("exit", (code) => {
      if (logs.every((record) => record.msg !== "Server APIs listening")) {
        fail(new Error(`server exited with code ${code} before it was ready`));
      }
    });
  });
}
