import { accessSync, constants, statSync } from "node:fs";
import type { Stats } from "node:fs";
import { dirname, resolve } from "node:path";

import { loadKubeletCredentials } from "../../../plugins/workloadattestor/k8s/kubelet-credentials.js";
import { FlagError, formatUsage, parseFlags } from "../../config/flags.js";
import type { ParsedFlags } from "../../config/flags.js";
import type { AgentConfig } from "../config/agent-config.js";
import { loadAgentConfig } from "../config/load-agent-config.js";
import { RUN_FLAGS, settingsFromFlags } from "../config/run-flags.js";
import { processIo } from "./api-client.js";
import type { CliIo } from "./api-client.js";

const COMMAND = "tessera-agent validate";

/**
 * Runs `tessera-agent validate`: loads the configuration as `run` does (same flags,
 * `-expandEnv`, flag overrides, plugin blocks, trust bundle, join token file and x509pop
 * credentials), then checks the paths the agent would write to or read at start-up
 * without creating anything. Starts nothing and connects nowhere.
 *
 * Returns 0 after printing that the file is valid, or 1 after printing each problem on
 * standard error, naming the option at fault.
 */
export async function run(args: string[], io: CliIo = processIo()): Promise<number> {
  let parsed: ParsedFlags;
  try {
    parsed = parseFlags(args, RUN_FLAGS, { command: COMMAND });
    if (parsed.rest.length > 0) {
      throw new FlagError(`unexpected argument ${JSON.stringify(parsed.rest[0])}; run "${COMMAND} -help" to list the flags`);
    }
  } catch (error) {
    io.stderr.write(`${COMMAND}: ${(error as Error).message}\n`);
    return 1;
  }
  if (parsed.helpRequested) {
    io.stdout.write(formatUsage(COMMAND, RUN_FLAGS));
    return 0;
  }

  const configPath = parsed.values.config as string;
  let config: AgentConfig;
  try {
    config = loadAgentConfig({
      configPath,
      overrides: settingsFromFlags(parsed),
      expandEnv: parsed.values.expandEnv === true,
      env: io.env,
    });
  } catch (error) {
    io.stderr.write(`Agent configuration file ${configPath} is invalid: ${(error as Error).message}\n`);
    return 1;
  }

  const problems = findPathProblems(config);
  if (problems.length > 0) {
    for (const problem of problems) {
      io.stderr.write(`Agent configuration file ${configPath} is invalid: ${problem}\n`);
    }
    return 1;
  }

  io.stdout.write(`Agent configuration file ${configPath} is valid.\n`);
  return 0;
}

/**
 * Returns one message per path the agent could not use. Folders the agent creates must
 * exist or be creatable, and `log_file` must be a writable file or creatable. The k8s
 * attestor's kubelet credential files must be readable, because the agent reads them at start-up.
 */
export function findPathProblems(config: AgentConfig): string[] {
  const checks: Array<() => string | undefined> = [
    () => checkFolder(config.dataDir, "agent.data_dir"),
    () => checkFolder(dirname(resolve(config.socketPath)), "the folder of agent.socket_path"),
    () => (config.adminSocketPath === undefined ? undefined : checkFolder(dirname(config.adminSocketPath), "the folder of agent.admin_socket_path")),
    () => (config.logFile === undefined ? undefined : checkLogFile(config.logFile)),
    () => (config.keyManager.name === "disk" ? checkFolder(config.keyManager.directory, "plugins.KeyManager.disk.plugin_data.directory") : undefined),
    () => (config.runtimeDir === undefined || config.runtimeDir === "" ? undefined : checkFolder(config.runtimeDir, "agent.runtime_dir")),
    () => checkKubeletCredentials(config),
  ];

  const problems: string[] = [];
  for (const check of checks) {
    try {
      const problem = check();
      if (problem !== undefined) problems.push(problem);
    } catch (error) {
      problems.push((error as Error).message);
    }
  }
  return problems;
}

/** Checks that `path` is a folder, or that its closest existing ancestor is a folder the agent may create it in. */
function checkFolder(path: string, option: string): string | undefined {
  const found = closestExisting(resolve(path));
  if (found.path === resolve(path)) {
    return found.stats.isDirectory() ? undefined : `${option} ${path} exists and is not a folder`;
  }
  if (!found.stats.isDirectory()) {
    return `${option} ${path} cannot be created: ${found.path} is not a folder`;
  }
  return checkAccess(found.path, constants.W_OK | constants.X_OK, `${option} ${path} cannot be created in ${found.path}`);
}

function checkLogFile(path: string): string | undefined {
  const found = closestExisting(resolve(path));
  if (found.path !== resolve(path)) {
    return checkFolder(dirname(path), "the folder of agent.log_file");
  }
  if (!found.stats.isFile()) {
    return `agent.log_file ${path} exists and is not a regular file`;
  }
  return checkAccess(path, constants.W_OK, `agent.log_file ${path} is not writable`);
}

function checkKubeletCredentials(config: AgentConfig): string | undefined {
  const kubelet = config.workloadAttestors.k8s?.kubelet;
  if (kubelet === undefined || kubelet.kind !== "secure") {
    return undefined;
  }
  try {
    loadKubeletCredentials(kubelet);
  } catch (error) {
    return `plugins.WorkloadAttestor.k8s.plugin_data: ${(error as Error).message}`;
  }
  return undefined;
}

/** Returns `path` or its closest ancestor that exists. Throws when a path cannot be inspected (EACCES). */
function closestExisting(path: string): { path: string; stats: Stats } {
  let current = path;
  for (;;) {
    try {
      return { path: current, stats: statSync(current) };
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const parent = dirname(current);
      if ((code !== "ENOENT" && code !== "ENOTDIR") || parent === current) {
        throw new Error(`failed to inspect ${current}: ${(error as Error).message}`, { cause: error });
      }
      current = parent;
    }
  }
}

function checkAccess(path: string, mode: number, message: string): string | undefined {
  try {
    accessSync(path, mode);
    return undefined;
  } catch (error) {
    return `${message}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`;
  }
}
