import { isDeepStrictEqual } from "node:util";

import type { WorkloadAttestor } from "../../../plugins/workloadattestor/workload-attestor.js";
import { toSpireLogLevel } from "../../common/log.js";
import type { Logger, LogLevelController } from "../../common/log.js";
import { DEFAULT_ATTESTOR_TIMEOUT_MS } from "../../workload-api/workload-attestation.js";
import type { AgentConfig } from "./agent-config.js";

/**
 * The part of a running agent that a configuration reload may change without a restart.
 * Caches, server connections and open Workload API streams are left as they are.
 */
export interface ReconfigurableAgent {
  /**
   * Builds workload attestors from `settings`, attests new Workload API calls with them and
   * returns the attestors they replace, which the caller closes. Throws, keeping the running
   * attestors, when a plugin cannot start (a missing kubelet token, say).
   */
  replaceWorkloadAttestors(settings: AgentConfig["workloadAttestors"]): readonly WorkloadAttestor[];
  /** Replaces the `log_selectors` prefixes of "No identity issued" lines. */
  setLogSelectors(prefixes: readonly string[]): void;
}

/** Settings that a reload applies to the running agent. */
export type ReloadableSetting = "logLevel" | "logSelectors" | "workloadAttestors";

const RELOADABLE: readonly ReloadableSetting[] = ["logLevel", "logSelectors", "workloadAttestors"];

/** The differences between the running configuration and a reloaded one. */
export interface ConfigReloadPlan {
  /** Changed settings that the running agent can take at once. */
  reloadable: ReloadableSetting[];
  /** Names of changed options that take effect only after a restart, as agent.conf spells them. */
  restartRequired: string[];
}

/** agent.conf names of the AgentConfig fields whose name does not follow from the field. */
const OPTION_NAMES: Readonly<Record<string, string>> = {
  trustBundle: "agent.trust_bundle_path",
  syncIntervalMs: "agent.experimental.sync_interval",
  jwtSvidCacheHitTimeoutMs: "agent.experimental.jwt_svid_cache_hit_timeout",
  availabilityTargetMs: "agent.availability_target",
  keyManager: "plugins.KeyManager",
  nodeAttestor: "plugins.NodeAttestor",
  telemetry: "telemetry",
  healthChecks: "health_checks",
};

/**
 * Compares the running configuration with a reloaded one. Workload attestor changes are
 * named per plugin (`plugins.WorkloadAttestor.unix`).
 */
export function planConfigReload(running: AgentConfig, next: AgentConfig): ConfigReloadPlan {
  const reloadable: ReloadableSetting[] = [];
  const restartRequired = new Set<string>();
  const keys = new Set([...Object.keys(running), ...Object.keys(next)] as Array<keyof AgentConfig>);

  for (const key of keys) {
    if (isDeepStrictEqual(running[key], next[key])) {
      continue;
    }
    if ((RELOADABLE as readonly string[]).includes(key)) {
      reloadable.push(key as ReloadableSetting);
    } else {
      restartRequired.add(optionName(key));
    }
  }

  return { reloadable, restartRequired: [...restartRequired].sort() };
}

/** Names the options behind one changed setting, for the log. */
export function reloadableOptionNames(setting: ReloadableSetting, running: AgentConfig, next: AgentConfig): string[] {
  if (setting !== "workloadAttestors") {
    return [optionName(setting)];
  }

  const plugins = new Set([...Object.keys(running.workloadAttestors), ...Object.keys(next.workloadAttestors)]);
  const changed = [...plugins].filter(
    (name) => !isDeepStrictEqual(running.workloadAttestors[name as keyof AgentConfig["workloadAttestors"]], next.workloadAttestors[name as keyof AgentConfig["workloadAttestors"]]),
  );
  return changed.sort().map((name) => `plugins.WorkloadAttestor.${name}`);
}

/** Returns the agent.conf name of a setting: `logLevel` is `agent.log_level`. */
function optionName(key: keyof AgentConfig): string {
  const known = OPTION_NAMES[key];
  if (known !== undefined) {
    return known;
  }

  const snake = key.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`).replace(/_ms$/, "");
  return `agent.${snake}`;
}

/** Inputs of {@link createConfigReloader}. */
export interface ConfigReloaderOptions {
  /** The configuration the agent started with. */
  initial: AgentConfig;
  /** Reads the configuration again, with the same file, flags and `-expandEnv` as at start-up. Throws when it is invalid. */
  load(): AgentConfig;
  /** The controller the admin Logger API uses too, so ResetLogLevel returns to the reloaded `log_level`. */
  logLevels: LogLevelController;
  logger: Logger;
  /** Wait before closing replaced attestors, in milliseconds; default: the attestor time limit plus one second. */
  retireDelayMs?: number;
}

/** Applies configuration reloads (SIGHUP) to a running agent. */
export interface ConfigReloader {
  /** Connects the agent once its workload attestors exist; until then attestor changes are rejected. */
  attach(agent: ReconfigurableAgent): void;
  /**
   * Reads the configuration again and applies what can change safely. Logs one line with
   * the options applied and one with changed options that need a restart. A configuration
   * that does not load is logged as an error and the running one stays.
   */
  reload(): void;
}

/** Creates the {@link ConfigReloader} of one agent run. */
export function createConfigReloader(options: ConfigReloaderOptions): ConfigReloader {
  const { logger } = options;
  const retireDelayMs = options.retireDelayMs ?? DEFAULT_ATTESTOR_TIMEOUT_MS + 1_000;
  let running = options.initial;
  let agent: ReconfigurableAgent | undefined;

  const apply = (setting: Exclude<ReloadableSetting, "logLevel">, next: AgentConfig): void => {
    if (agent === undefined) {
      throw new Error("the agent is still starting; send SIGHUP again once it runs");
    }
    if (setting === "logSelectors") {
      agent.setLogSelectors(next.logSelectors);
      return;
    }
    retireAttestors(agent.replaceWorkloadAttestors(next.workloadAttestors), retireDelayMs, logger);
  };

  return {
    attach(reconfigurable) {
      agent = reconfigurable;
    },
    reload() {
      logger.info("Reloading the configuration");
      let next: AgentConfig;
      try {
        next = options.load();
      } catch (error) {
        logger.error({ error: (error as Error).message }, "Failed to reload the configuration; the running configuration stays");
        return;
      }

      const plan = planConfigReload(running, next);
      const applied: string[] = [];
      for (const setting of plan.reloadable) {
        if (setting === "logLevel") {
          continue;
        }
        const names = reloadableOptionNames(setting, running, next);
        try {
          apply(setting, next);
        } catch (error) {
          logger.error({ options: names, error: (error as Error).message }, "Failed to apply reloaded options; their running values stay");
          continue;
        }
        applied.push(...names);
        running = { ...running, [setting]: next[setting] };
      }

      // The new level comes last, so these lines still appear when it is less verbose.
      const levelChanged = plan.reloadable.includes("logLevel");
      if (levelChanged) {
        applied.unshift("agent.log_level");
      }
      if (applied.length > 0) {
        logger.info({ options: applied }, "Applied configuration changes");
      } else if (plan.restartRequired.length === 0 && plan.reloadable.length === 0) {
        logger.info("Configuration reloaded; nothing changed");
      }
      if (plan.restartRequired.length > 0) {
        logger.warn({ options: plan.restartRequired }, "Changed options take effect only after a restart");
      }
      if (levelChanged) {
        // The loader has checked the name, so this does not throw.
        options.logLevels.reconfigure(toSpireLogLevel(next.logLevel));
        running = { ...running, logLevel: next.logLevel };
      }
    },
  };
}

/**
 * Closes replaced attestors once every attestation that started with them has settled,
 * which the per-attestor time limit bounds. The timer does not keep the process alive.
 */
function retireAttestors(attestors: readonly WorkloadAttestor[], delayMs: number, logger: Logger): void {
  if (!attestors.some((attestor) => attestor.close !== undefined)) {
    return;
  }

  const timer = setTimeout(() => {
    for (const attestor of attestors) {
      try {
        attestor.close?.();
      } catch (error) {
        logger.warn({ attestor: attestor.name, error: (error as Error).message }, "Failed to close a replaced workload attestor");
      }
    }
  }, delayMs);
  timer.unref();
}
