import { status as Status } from "@grpc/grpc-js";

import { SPIRE_LOG_LEVELS } from "../../common/log.js";
import type { Logger, LogLevelController, SpireLogLevel } from "../../common/log.js";
import type { LoggerHandlers, loggerv1 } from "../../proto/index.js";
import { serviceError } from "../../workload-api/grpc-status.js";

/**
 * Creates the `spire.api.agent.logger.v1.Logger` handlers over `levels`, which controls
 * the agent's root logger. Each call returns the current and the launch level.
 *
 * SetLogLevel rejects UNSPECIFIED and unknown enum numbers with InvalidArgument. Each
 * call is logged at info level before the change, as spire-agent does, so the line
 * appears only if the old level shows info lines.
 */
export function createLoggerHandlers(levels: LogLevelController, logger: Logger): LoggerHandlers {
  const levelsMessage = (): loggerv1.Logger => ({ current_level: levels.currentLevel(), launch_level: levels.launchLevel() });

  return {
    GetLogger(_call, callback) {
      logger.info({ method: "GetLogger", current_log_level: levels.currentLevel() }, "Log level requested");
      callback(null, levelsMessage());
    },

    SetLogLevel(call, callback) {
      const requested = call.request.new_level;
      if (!isSpireLogLevel(requested)) {
        const details = `invalid new_level ${JSON.stringify(requested)}: expected one of ${SPIRE_LOG_LEVELS.join(", ")}`;
        logger.error({ method: "SetLogLevel", new_log_level: requested }, `Invalid argument: ${details}`);
        callback(serviceError(Status.INVALID_ARGUMENT, details));
        return;
      }

      logger.info({ method: "SetLogLevel", new_log_level: requested }, "Changing the log level");
      levels.setLevel(requested);
      callback(null, levelsMessage());
    },

    ResetLogLevel(_call, callback) {
      logger.info({ method: "ResetLogLevel", launch_log_level: levels.launchLevel() }, "Resetting the log level to the launch level");
      levels.resetLevel();
      callback(null, levelsMessage());
    },
  };
}

/** Tells whether a decoded enum value is a level other than UNSPECIFIED. protobufjs passes unknown enum numbers through as numbers. */
function isSpireLogLevel(value: unknown): value is SpireLogLevel {
  return typeof value === "string" && (SPIRE_LOG_LEVELS as readonly string[]).includes(value);
}
