import { spawn, execFile } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { createWriteStream, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createServer } from "node:net";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import type { entryv1, types } from "../proto/index.js";
import { connectAdmin } from "../server/cli/admin-client.js";

const execFileAsync = promisify(execFile);

/** Repository root, found from this file's place in `src/devtools/` or `dist/src/devtools/`. */
export const repositoryRoot = findRepositoryRoot(dirname(fileURLToPath(import.meta.url)));

/** Entry points of the two daemons' command-line interfaces. */
export const serverBin = join(repositoryRoot, "bin", "tessera-server.js");
export const agentBin = join(repositoryRoot, "bin", "tessera-agent.js");

function findRepositoryRoot(start: string): string {
  let folder = start;
  for (let depth = 0; depth < 6; depth++) {
    try {
      const manifest = JSON.parse(readFileSync(join(folder, "package.json"), "utf8")) as { name?: string };
      if (manifest.name === "tessera") return folder;
    } catch {
      // No package.json here: keep walking up.
    }
    folder = dirname(folder);
  }
  throw new Error(`cannot find the tessera repository root above ${start}`);
}

/** A daemon started by {@link startServer} or {@link startAgent}. */
export interface RunningDaemon {
  readonly process: ChildProcess;
  /** File that receives the daemon's standard output and error. */
  readonly logPath: string;
  /** Sends SIGTERM and waits for the exit; sends SIGKILL after `graceMs`. Returns the exit code. */
  stop(graceMs?: number): Promise<number | null>;
}

/** Settings for {@link startServer}. */
export interface ServerOptions {
  /** Folder for the server's config, data, sockets and log. */
  folder: string;
  trustDomain: string;
  /** TCP port for the Server APIs; an ephemeral one when unset. Set it to restart a server in place. */
  port?: number;
  /** X.509-SVID lifetime given to workloads by default, in Go duration syntax. */
  defaultX509SvidTtl?: string;
  /** Lifetime of each CA and JWT signing key (`ca_ttl`), in Go duration syntax; 24h when unset. */
  caTtl?: string;
  /** Lifetime of agent SVIDs (`agent_ttl`), in Go duration syntax; the default X.509-SVID lifetime when unset. */
  agentTtl?: string;
  /** Entries per SyncAuthorizedEntries page (`server.experimental.entry_page_size`); 500 when unset. */
  entryPageSize?: number;
  /** Extra environment variables. */
  env?: NodeJS.ProcessEnv;
  /** Extra lines inside `plugins {}`, e.g. a `NodeAttestor "x509pop"` block. */
  extraPlugins?: string[];
}

/** A running tessera-server and what a client needs to reach it. */
export interface RunningServer extends RunningDaemon {
  readonly port: number;
  readonly adminSocketPath: string;
  readonly configPath: string;
  /** Runs a `tessera-server` CLI verb against this server's admin socket and returns its standard output. */
  cli(args: string[]): Promise<string>;
}

/**
 * Starts tessera-server as a child process on an ephemeral loopback port.
 *
 * The server's own log line "Server APIs listening" carries the port it bound; this
 * waits for it. The admin socket lives in `folder/server/private/api.sock`. When the
 * line does not come within 30 s, the server is killed (SIGKILL) before the error is thrown.
 */
export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const folder = resolve(options.folder, "server");
  mkdirSync(join(folder, "private"), { recursive: true, mode: 0o700 });
  const adminSocketPath = join(folder, "private", "api.sock");
  const configPath = join(folder, "server.conf");
  const logPath = join(folder, "server.log");

  writeFileSync(
    configPath,
    [
      "server {",
      `  bind_address = "127.0.0.1"`,
      `  bind_port = "${options.port ?? 0}"`,
      `  socket_path = "${adminSocketPath}"`,
      `  trust_domain = "${options.trustDomain}"`,
      `  data_dir = "${join(folder, "data")}"`,
      `  log_level = "DEBUG"`,
      `  ca_ttl = "${options.caTtl ?? "24h"}"`,
      `  default_x509_svid_ttl = "${options.defaultX509SvidTtl ?? "1h"}"`,
      ...(options.agentTtl === undefined ? [] : [`  agent_ttl = "${options.agentTtl}"`]),
      ...(options.entryPageSize === undefined ? [] : [`  experimental {`, `    entry_page_size = ${options.entryPageSize}`, `  }`]),
      "}",
      "",
      "plugins {",
      `  DataStore "sql" {`,
      "    plugin_data {",
      `      database_type = "sqlite3"`,
      `      connection_string = "${join(folder, "data", "datastore.sqlite3")}"`,
      "    }",
      "  }",
      `  KeyManager "disk" {`,
      "    plugin_data {",
      `      keys_path = "${join(folder, "data", "keys.json")}"`,
      "    }",
      "  }",
      `  NodeAttestor "join_token" {`,
      "    plugin_data {}",
      "  }",
      ...(options.extraPlugins ?? []).map((line) => `  ${line}`),
      "}",
      "",
    ].join("\n"),
  );

  const daemon = spawnDaemon(serverBin, ["run", "-config", configPath], logPath, options.env);
  const child = daemon.child;
  const port = await killOnFailure(
    daemon,
    waitForLogLine(child, logPath, (line) => {
      if (line.msg !== "Server APIs listening") return undefined;
      return typeof line.port === "number" ? line.port : Number(line.port);
    }),
  );

  return {
    process: child,
    logPath,
    port,
    adminSocketPath,
    configPath,
    stop: (graceMs) => stopDaemon(daemon, graceMs),
    cli: async (args) => {
      const verb = args.slice(0, 2);
      const rest = args.slice(2);
      const { stdout } = await execFileAsync(process.execPath, [serverBin, ...verb, "-socketPath", adminSocketPath, ...rest], {
        env: { ...process.env, ...options.env },
      });
      return stdout;
    },
  };
}

/** Settings for {@link startAgent}. */
export interface AgentOptions {
  /** Folder for the agent's config, data, socket and log. */
  folder: string;
  trustDomain: string;
  serverPort: number;
  /** PEM file with the server's CA roots, from `tessera-server bundle show`. */
  trustBundlePath: string;
  /** Join token for node attestation; leave it out when `x509pop` is set. */
  joinToken?: string;
  /** Attest with `NodeAttestor "x509pop"` and these PEM files instead of a join token. */
  x509pop?: { certificatePath: string; privateKeyPath: string; intermediatesPath?: string };
  /** Path of the Workload API socket; defaults to `folder/agent/public/api.sock`. */
  socketPath?: string;
  /** Extra `agent {}` lines, e.g. `sync_interval`. */
  extraAgentConfig?: string[];
  /** `log_level` of the agent; DEBUG when unset. */
  logLevel?: string;
  /**
   * Extra lines inside `plugins {}`, e.g. a `WorkloadAttestor "docker"` block. The
   * `unix` WorkloadAttestor is always configured, so do not repeat it here.
   */
  extraPlugins?: string[];
  /** Extra top-level lines after `plugins {}`, e.g. a `telemetry {}` or `health_checks {}` block. */
  extraConfig?: string[];
  env?: NodeJS.ProcessEnv;
  /**
   * How long startAgent waits for the Workload API, 30 s when unset. The agent opens it
   * only after its first sync has minted every SVID it prefetches, which takes longer
   * with thousands of entries.
   */
  startTimeoutMs?: number;
  /**
   * Folder for `KeyManager "disk"`, which keeps the agent key across restarts; the agent
   * uses `KeyManager "memory"` when unset.
   */
  diskKeyManagerDirectory?: string;
}

/** A running tessera-agent and the socket it serves. */
export interface RunningAgent extends RunningDaemon {
  readonly socketPath: string;
  readonly configPath: string;
}

/** Files that {@link writeAgentFiles} prepares for one agent. */
export interface AgentFiles {
  configPath: string;
  /** File containing the join token (mode 0600); pass it with `-joinTokenFile`. Not written without a token. */
  joinTokenPath: string;
  socketPath: string;
  logPath: string;
}

/**
 * Writes an agent's configuration and join token file under `options.folder/agent/`,
 * for tests that start the agent themselves, and returns their paths.
 */
export function writeAgentFiles(options: AgentOptions): AgentFiles {
  const folder = resolve(options.folder, "agent");
  mkdirSync(join(folder, "public"), { recursive: true });
  const socketPath = options.socketPath ?? join(folder, "public", "api.sock");
  const configPath = join(folder, "agent.conf");

  writeFileSync(
    configPath,
    [
      "agent {",
      `  data_dir = "${join(folder, "data")}"`,
      `  log_level = "${options.logLevel ?? "DEBUG"}"`,
      `  server_address = "127.0.0.1"`,
      `  server_port = "${options.serverPort}"`,
      `  socket_path = "${socketPath}"`,
      `  trust_bundle_path = "${options.trustBundlePath}"`,
      `  trust_domain = "${options.trustDomain}"`,
      ...(options.extraAgentConfig ?? []).map((line) => `  ${line}`),
      "}",
      "",
      "plugins {",
      ...keyManagerLines(options.diskKeyManagerDirectory),
      ...nodeAttestorLines(options),
      `  WorkloadAttestor "unix" {`,
      "    plugin_data {}",
      "  }",
      ...(options.extraPlugins ?? []).map((line) => `  ${line}`),
      "}",
      ...(options.extraConfig ?? []),
      "",
    ].join("\n"),
  );

  // A file, not -joinToken, so the token does not show in the process list.
  const joinTokenPath = join(folder, "join_token");
  if (options.joinToken !== undefined) {
    writeFileSync(joinTokenPath, options.joinToken, { mode: 0o600 });
  }

  return { configPath, joinTokenPath, socketPath, logPath: join(folder, "agent.log") };
}

function keyManagerLines(diskDirectory: string | undefined): string[] {
  if (diskDirectory === undefined) {
    return [`  KeyManager "memory" {`, "    plugin_data {}", "  }"];
  }
  return [`  KeyManager "disk" {`, "    plugin_data {", `      directory = "${diskDirectory}"`, "    }", "  }"];
}

function nodeAttestorLines(options: AgentOptions): string[] {
  const x509pop = options.x509pop;
  if (x509pop === undefined) {
    return [`  NodeAttestor "join_token" {`, "    plugin_data {}", "  }"];
  }
  return [
    `  NodeAttestor "x509pop" {`,
    "    plugin_data {",
    `      certificate_path = "${x509pop.certificatePath}"`,
    `      private_key_path = "${x509pop.privateKeyPath}"`,
    ...(x509pop.intermediatesPath === undefined ? [] : [`      intermediates_path = "${x509pop.intermediatesPath}"`]),
    "    }",
    "  }",
  ];
}

/**
 * Starts tessera-agent as a child process and waits until `tessera-agent healthcheck`
 * passes against its Workload API socket. When it does not pass within
 * `startTimeoutMs`, the agent is killed (SIGKILL) before the error is thrown.
 */
export async function startAgent(options: AgentOptions): Promise<RunningAgent> {
  const files = writeAgentFiles(options);

  const tokenArgs = options.joinToken === undefined ? [] : ["-joinTokenFile", files.joinTokenPath];
  const daemon = spawnDaemon(agentBin, ["run", "-config", files.configPath, ...tokenArgs], files.logPath, options.env);
  await killOnFailure(daemon, waitUntilHealthy(daemon.child, files.socketPath, files.logPath, options.startTimeoutMs));

  return {
    process: daemon.child,
    logPath: files.logPath,
    socketPath: files.socketPath,
    configPath: files.configPath,
    stop: (graceMs) => stopDaemon(daemon, graceMs),
  };
}

/**
 * Creates a join token whose agent gets the node SPIFFE ID `nodeSpiffeId`, and writes the
 * server's bundle to `bundlePath`, which is what an agent needs to attest.
 */
export async function prepareAgentAttestation(
  server: RunningServer,
  nodeSpiffeId: string,
  bundlePath: string,
): Promise<{ joinToken: string }> {
  const bundle = await server.cli(["bundle", "show"]);
  writeFileSync(bundlePath, bundle);

  const tokenOutput = await server.cli(["token", "generate", "-spiffeID", nodeSpiffeId]);
  const match = /Token:\s*(\S+)/.exec(tokenOutput);
  if (match?.[1] === undefined) {
    throw new Error(`unexpected output from "tessera-server token generate": ${tokenOutput}`);
  }
  return { joinToken: match[1] };
}

/** Returns the JSON lines of a daemon's log file; other lines are skipped. */
export function readLogLines(logPath: string): Record<string, unknown>[] {
  let text: string;
  try {
    text = readFileSync(logPath, "utf8");
  } catch {
    return [];
  }

  const lines: Record<string, unknown>[] = [];
  for (const line of text.split("\n")) {
    try {
      const parsed: unknown = JSON.parse(line);
      if (typeof parsed === "object" && parsed !== null) lines.push(parsed as Record<string, unknown>);
    } catch {
      // Not a JSON log line (a stack trace or a partial last line).
    }
  }
  return lines;
}

/**
 * Polls a daemon's log file until a JSON line matches and returns it. Rejects after
 * `timeoutMs` with the path, so a failing test points to the log.
 */
export async function waitForLogFileLine(
  logPath: string,
  match: (line: Record<string, unknown>) => boolean,
  timeoutMs = 30_000,
): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = readLogLines(logPath).find(match);
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for a log line in ${logPath}`);
    await new Promise((wake) => setTimeout(wake, 200));
  }
}

/**
 * Creates `entries` through the server's admin API with BatchCreateEntry calls of
 * `batchSize` entries (500 by default), for tests and benchmarks that need many. Throws
 * on the first entry the server did not create, naming it and the status message.
 */
export async function createEntries(server: RunningServer, entries: readonly types.Entry[], batchSize = 500): Promise<void> {
  const admin = connectAdmin(server.adminSocketPath);
  try {
    for (let start = 0; start < entries.length; start += batchSize) {
      const batch = entries.slice(start, start + batchSize);
      const response = await admin.call<entryv1.BatchCreateEntryResponse__Output>((options, done) =>
        admin.entry.BatchCreateEntry({ entries: batch }, options, done),
      );
      response.results.forEach((result, index) => {
        if (result.status !== null && result.status.code !== 0) {
          throw new Error(`failed to create entry ${JSON.stringify(batch[index]?.id ?? "")}: ${result.status.message}`);
        }
      });
    }
  } finally {
    admin.close();
  }
}

/**
 * Returns a loopback TCP port that was free a moment ago. Another process may take it
 * before the caller binds it, so use it only where a fixed port is needed, such as
 * restarting a server in place.
 */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      probe.close(() => resolvePort(typeof address === "object" && address !== null ? address.port : 0));
    });
  });
}

/** A daemon's process and a promise that resolves once all of its output is in its log file. */
interface SpawnedDaemon {
  child: ChildProcess;
  logWritten: Promise<void>;
}

/**
 * Starts a daemon with its output copied to `logPath`.
 *
 * The daemon gets its own process group, so a Ctrl-C in the terminal reaches only the
 * program that started it, which then stops the daemon in order with SIGTERM.
 */
function spawnDaemon(bin: string, args: string[], logPath: string, env?: NodeJS.ProcessEnv): SpawnedDaemon {
  const log = createWriteStream(logPath, { flags: "a" });
  const child = spawn(process.execPath, [bin, ...args], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });

  // "close" comes after "exit", once both pipes are drained, so no last line is lost.
  const logWritten = new Promise<void>((resolveWritten) => {
    child.once("close", () => log.end(resolveWritten));
  });
  return { child, logWritten };
}

/** Reads JSON log lines from the child's standard output until `pick` returns a value. */
function waitForLogLine<T>(
  child: ChildProcess,
  logPath: string,
  pick: (line: Record<string, unknown>) => T | undefined,
  timeoutMs = 30_000,
): Promise<T> {
  return new Promise((resolvePromise, reject) => {
    const lines = createInterface({ input: child.stdout! });
    const timer = setTimeout(() => finish(new Error(`timed out after ${timeoutMs} ms waiting for a log line; see ${logPath}`)), timeoutMs);

    const onExit = (code: number | null): void => finish(new Error(`daemon exited with code ${code} during start-up; see ${logPath}`));
    child.once("exit", onExit);

    lines.on("line", (text) => {
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(text) as Record<string, unknown>;
      } catch {
        return;
      }
      const value = pick(parsed);
      if (value !== undefined) finish(undefined, value);
    });

    function finish(error: Error | undefined, value?: T): void {
      clearTimeout(timer);
      child.off("exit", onExit);
      lines.close();
      // Closing readline pauses standard output, which would also stop the copy into the
      // log file (and, once the pipe fills, block the daemon's synchronous log writes).
      child.stdout?.resume();
      if (error) reject(error);
      else resolvePromise(value as T);
    }
  });
}

async function waitUntilHealthy(child: ChildProcess, socketPath: string, logPath: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new Error(`tessera-agent exited with code ${child.exitCode} during start-up; see ${logPath}`);
    }
    try {
      await execFileAsync(process.execPath, [agentBin, "healthcheck", "-socketPath", socketPath]);
      return;
    } catch {
      await new Promise((wake) => setTimeout(wake, 200));
    }
  }
  throw new Error(`tessera-agent did not become healthy within ${timeoutMs} ms; see ${logPath}`);
}

/**
 * Awaits `starting` and returns its value. When it rejects, kills the daemon with SIGKILL
 * and waits for its exit and its log before re-throwing, so a failed start leaves no process.
 */
async function killOnFailure<T>(daemon: SpawnedDaemon, starting: Promise<T>): Promise<T> {
  try {
    return await starting;
  } catch (error) {
    const { child } = daemon;
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolveExit) => child.once("exit", resolveExit));
      child.kill("SIGKILL");
      await exited;
    }
    await daemon.logWritten;
    throw error;
  }
}

async function stopDaemon({ child, logWritten }: SpawnedDaemon, graceMs = 10_000): Promise<number | null> {
  if (child.exitCode === null && child.signalCode === null) {
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    child.kill("SIGTERM");
    await new Promise((exited) => child.once("exit", exited));
    clearTimeout(timer);
  }

  await logWritten;
  return child.exitCode;
}
