/**
 * Helpers for the end-to-end tests that restart and kill tessera-agent and tessera-server:
 * an agent process started without waiting for it to become healthy (so a test can time
 * its start), Workload API fetches through the tessera-agent CLI, and kill -9.
 */
import { execFile, spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { createWriteStream, existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

import { agentBin } from "../../src/devtools/local-deployment.js";
import type { AgentFiles, RunningDaemon } from "../../src/devtools/local-deployment.js";

const execFileAsync = promisify(execFile);

/** A tessera-agent child process whose output goes to its log file. */
export interface AgentProcess {
  readonly child: ChildProcess;
  readonly logPath: string;
  readonly socketPath: string;
  /** `performance.now()` just before the spawn. */
  readonly startedAt: number;
  /** Resolves with the exit code (null after a signal) once the process is gone and its log is written. */
  readonly exited: Promise<number | null>;
  /** Sends SIGTERM and waits for the exit; SIGKILL after 10 s. */
  stop(): Promise<number | null>;
  /** Sends SIGKILL and waits until the process is gone. */
  kill9(): Promise<void>;
}

/** Starts tessera-agent with the files from writeAgentFiles, without waiting for it. */
export function launchAgent(files: AgentFiles, env?: NodeJS.ProcessEnv): AgentProcess {
  const log = createWriteStream(files.logPath, { flags: "a" });
  const tokenArgs = files.joinTokenPath === undefined ? [] : ["-joinTokenFile", files.joinTokenPath];
  const startedAt = performance.now();
  const child = spawn(process.execPath, [agentBin, "run", "-config", files.configPath, ...tokenArgs], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  const exited = new Promise<number | null>((resolveExit) => {
    child.once("close", (code) => log.end(() => resolveExit(code)));
  });

  const hasExited = (): boolean => child.exitCode !== null || child.signalCode !== null;
  return {
    child,
    logPath: files.logPath,
    socketPath: files.socketPath,
    startedAt,
    exited,
    async stop() {
      if (!hasExited()) {
        const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
        child.kill("SIGTERM");
        await exited;
        clearTimeout(timer);
      }
      return exited;
    },
    async kill9() {
      if (!hasExited()) {
        child.kill("SIGKILL");
      }
      await exited;
    },
  };
}

/** Sends SIGKILL to a daemon from local-deployment and waits for its exit. */
export async function killDaemon(daemon: RunningDaemon): Promise<void> {
  const { process: child } = daemon;
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolveExit) => child.once("exit", resolveExit));
    child.kill("SIGKILL");
    await exited;
  }
  await daemon.stop();
}

/** Outcome of one CLI call. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a tessera-agent CLI verb and returns its exit code and output, without throwing on failure. */
export async function runAgentCli(args: string[]): Promise<CliResult> {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, [agentBin, ...args]);
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failure = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof failure.code === "number" ? failure.code : 1, stdout: failure.stdout ?? "", stderr: failure.stderr ?? "" };
  }
}

/** One X.509-SVID as `tessera-agent api fetch x509 -output json` prints it. */
export interface FetchedSvid {
  spiffe_id: string;
  /** Base64 of the DER chain, leaf first. */
  x509_svid: string;
}

/** Fetches this process's X.509-SVIDs once; returns undefined when the call fails. */
export async function fetchX509Svids(socketPath: string, timeout = "3s"): Promise<FetchedSvid[] | undefined> {
  const result = await runAgentCli(["api", "fetch", "x509", "-socketPath", socketPath, "-timeout", timeout, "-output", "json"]);
  if (result.code !== 0) {
    return undefined;
  }
  return (JSON.parse(result.stdout) as { svids: FetchedSvid[] }).svids;
}

/** Fetches a JWT-SVID for `audience`; returns the token, or undefined when the call fails. */
export async function fetchJwtSvid(socketPath: string, audience: string, timeout = "10s"): Promise<string | undefined> {
  const result = await runAgentCli(["api", "fetch", "jwt", "-socketPath", socketPath, "-audience", audience, "-timeout", timeout, "-output", "json"]);
  if (result.code !== 0) {
    return undefined;
  }
  const [first] = JSON.parse(result.stdout) as [{ svids: Array<{ svid: string }> }];
  return first.svids[0]?.svid;
}

/** Polls `probe` every 200 ms until it returns a value; throws with `what` after `timeoutMs`. */
export async function pollFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((wake) => setTimeout(wake, 200));
  }
}

/**
 * Creates a private folder for the runtime cache: under /dev/shm (tmpfs) when it exists,
 * as in production, otherwise under the temporary folder.
 */
export function makeRuntimeDir(): string {
  const base = existsSync("/dev/shm") ? "/dev/shm" : tmpdir();
  return join(mkdtempSync(join(base, "tessera-runtime-")), "runtime");
}
