import { createLogger } from "../../common/log.js";
import type { Logger } from "../../common/log.js";
import { notifySystemd } from "../../common/systemd-notify.js";
import type { FlagSpec, ParsedFlags } from "../../config/flags.js";
import { loadServerConfig } from "../config/load-server-config.js";
import type { ServerOverrides } from "../config/load-server-config.js";
import type { ServerConfig } from "../config/server-config.js";
import { startServer } from "../server.js";
import { parseCommandFlags } from "./command.js";
import type { CommandIo } from "./command.js";

const COMMAND = "tessera-server run";

/** Flags of `run`; each overrides the configuration file setting of the same meaning. */
export const RUN_FLAGS: readonly FlagSpec[] = [
  { name: "config", type: "string", usage: "Path to a tessera-server (spire-server) configuration file", default: "conf/server/server.conf" },
  { name: "bindAddress", type: "string", usage: "IP address or DNS name of the agent API listener (server.bind_address)" },
  { name: "serverPort", type: "int", usage: "TCP port of the agent API; 0 picks a free port (server.bind_port)" },
  { name: "socketPath", type: "string", usage: "Path of the admin API Unix socket (server.socket_path)" },
  { name: "trustDomain", type: "string", usage: "The trust domain that this server belongs to (server.trust_domain)" },
  { name: "dataDir", type: "string", usage: "Folder for the server's data (server.data_dir)" },
  { name: "logLevel", type: "string", usage: "DEBUG, INFO, WARN or ERROR (server.log_level)" },
  { name: "logFile", type: "string", usage: "File to write logs to (server.log_file)" },
  { name: "logFormat", type: "string", usage: "Log format; only json is supported (server.log_format)" },
  { name: "expandEnv", type: "bool", usage: "Expand $VAR and ${VAR} in the configuration file from the environment" },
];

/**
 * Runs `tessera-server run`: loads the configuration, starts the server, and waits for
 * SIGINT or SIGTERM, after which it stops accepting calls, closes the store and returns
 * 0. A configuration or start-up error returns 1 with the message on standard error (and
 * in the log when the logger is already open). A second signal exits at once with 1.
 */
export async function runServerCommand(args: string[], io: CommandIo): Promise<number> {
  let config: ServerConfig;
  try {
    const parsed = parseCommandFlags(COMMAND, RUN_FLAGS, args, io);
    if (parsed === undefined) return 0;
    config = loadServerConfig({
      configPath: parsed.values.config as string,
      overrides: overridesFromFlags(parsed),
      expandEnv: parsed.values.expandEnv === true,
    });
  } catch (error) {
    io.err(`${COMMAND}: ${(error as Error).message}\n`);
    return 1;
  }

  let logger: Logger;
  try {
    logger = createLogger({ name: "tessera-server", level: config.logLevel, ...(config.logFile === undefined ? {} : { destination: config.logFile }) });
  } catch (error) {
    io.err(`${COMMAND}: failed to open the log: ${(error as Error).message}\n`);
    return 1;
  }

  let stopRequested: (signal: NodeJS.Signals) => void = () => undefined;
  const stopSignal = new Promise<NodeJS.Signals>((resolve) => (stopRequested = resolve));
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (signalled) {
      logger.warn({ signal }, "Second signal received; exiting without cleanup");
      process.exit(1);
    }
    signalled = true;
    stopRequested(signal);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  try {
    logger.info({ trust_domain: config.trustDomain, data_dir: config.dataDir }, "Starting tessera-server");
    const server = await startServer(config, logger);
    notifySystemd(`READY=1\nSTATUS=Serving agents on port ${server.port}`, logger);
    const signal = await stopSignal;
    logger.info({ signal }, "Stopping server");
    notifySystemd("STOPPING=1", logger);
    await server.stop();
    return 0;
  } catch (error) {
    logger.error({ err: error }, "Server failed");
    io.err(`${COMMAND}: ${(error as Error).message}\n`);
    return 1;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

function overridesFromFlags(parsed: ParsedFlags): ServerOverrides {
  const overrides: ServerOverrides = {};
  const given = (name: string): boolean => parsed.provided.has(name);
  if (given("bindAddress")) overrides.bindAddress = parsed.values.bindAddress as string;
  if (given("serverPort")) overrides.bindPort = parsed.values.serverPort as number;
  if (given("socketPath")) overrides.socketPath = parsed.values.socketPath as string;
  if (given("trustDomain")) overrides.trustDomain = parsed.values.trustDomain as string;
  if (given("dataDir")) overrides.dataDir = parsed.values.dataDir as string;
  if (given("logLevel")) overrides.logLevel = parsed.values.logLevel as string;
  if (given("logFile")) overrides.logFile = parsed.values.logFile as string;
  if (given("logFormat")) overrides.logFormat = parsed.values.logFormat as string;
  return overrides;
}
