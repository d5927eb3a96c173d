import { createLogger, createLogLevelController, reopenLogFile } from "../../common/log.js";
import type { Logger } from "../../common/log.js";
import { FlagError, formatUsage, parseFlags } from "../../config/flags.js";
import { runAgent } from "../agent.js";
import { errorLogFields } from "../client/rpc-failure.js";
import type { AgentConfig } from "../config/agent-config.js";
import { loadAgentConfig } from "../config/load-agent-config.js";
import type { LoadAgentConfigOptions } from "../config/load-agent-config.js";
import { createConfigReloader } from "../config/reload.js";
import { RUN_FLAGS, settingsFromFlags } from "../config/run-flags.js";

const COMMAND = "tessera-agent run";

/**
 * Runs `tessera-agent run` with the arguments after the verb. Returns the exit code: 0
 * after SIGINT or SIGTERM stopped the agent cleanly, 1 when the configuration is invalid
 * (message on standard error) or the agent failed (message in the log). A second signal
 * during shutdown exits at once with code 1.
 *
 * While the agent runs, SIGHUP reads the configuration file again (with the same flags)
 * and applies `log_level`, `log_selectors` and the WorkloadAttestor plugins without a
 * restart; SIGUSR2 reopens `log_file` after logrotate moved it.
 */
export async function run(args: string[]): Promise<number> {
  let loadOptions: LoadAgentConfigOptions;
  let config: AgentConfig;
  try {
    const parsed = parseFlags(args, RUN_FLAGS, { command: COMMAND });
    if (parsed.helpRequested) {
      process.stdout.write(formatUsage(COMMAND, RUN_FLAGS));
      return 0;
    }
    if (parsed.rest.length > 0) {
      throw new FlagError(`unexpected argument ${JSON.stringify(parsed.rest[0])}; run "${COMMAND} -help" to list the flags`);
    }
    loadOptions = {
      configPath: parsed.values.config as string,
      overrides: settingsFromFlags(parsed),
      expandEnv: parsed.values.expandEnv === true,
    };
    config = loadAgentConfig(loadOptions);
  } catch (error) {
    process.stderr.write(`${COMMAND}: ${(error as Error).message}\n`);
    return 1;
  }

  let logger: Logger;
  try {
    logger = createLogger({ name: "tessera-agent", level: config.logLevel, destination: config.logFile, format: config.logFormat });
  } catch (error) {
    process.stderr.write(`${COMMAND}: failed to open the log: ${(error as Error).message}\n`);
    return 1;
  }

  const logLevels = createLogLevelController(logger);
  const reloader = createConfigReloader({
    initial: config,
    load: () => loadAgentConfig(loadOptions),
    logLevels,
    logger: logger.child({ subsystem: "reconfigurer" }),
  });

  const controller = new AbortController();
  const onStopSignal = (signal: NodeJS.Signals): void => {
    if (controller.signal.aborted) {
      logger.warn({ signal }, "Second signal received; exiting without cleanup");
      process.exit(1);
    }
    logger.info({ signal }, "Stopping agent");
    controller.abort();
  };
  const onReloadSignal = (): void => reloader.reload();
  const onReopenSignal = (): void => reopenLog(logger, config.logFile);
  process.on("SIGINT", onStopSignal);
  process.on("SIGTERM", onStopSignal);
  process.on("SIGHUP", onReloadSignal);
  process.on("SIGUSR2", onReopenSignal);

  try {
    await runAgent(config, logger, controller.signal, { logLevels, onReconfigurable: (agent) => reloader.attach(agent) });
    return 0;
  } catch (error) {
    if (controller.signal.aborted) {
      logger.info({ error: (error as Error).message }, "Agent stopped during start-up");
      return 0;
    }
    logger.error(errorLogFields(error), "Agent failed");
    if (config.logFile !== undefined) {
      // The log goes to a file, so say on the terminal why the process ends.
      process.stderr.write(`${COMMAND}: ${(error as Error).message}\n`);
    }
    return 1;
  } finally {
    process.off("SIGINT", onStopSignal);
    process.off("SIGTERM", onStopSignal);
    process.off("SIGHUP", onReloadSignal);
    process.off("SIGUSR2", onReopenSignal);
  }
}

/** Handles SIGUSR2: the first line after a successful reopen is the new file's first line. */
function reopenLog(logger: Logger, logFile: string | undefined): void {
  try {
    if (reopenLogFile(logger)) {
      logger.info({ log_file: logFile }, "Reopened the log file");
    } else {
      logger.info("Logs go to standard output; there is no log file to reopen");
    }
  } catch (error) {
    logger.error({ log_file: logFile, error: (error as Error).message }, "Failed to reopen the log file; logging to the previous file");
  }
}
