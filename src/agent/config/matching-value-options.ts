import { ConfigError } from "../../config/config-error.js";
import type { ConfigBlock } from "../../config/config-values.js";

/**
 * SPIRE agent settings whose feature Tessera does not have, with the one value that requests
 * exactly what Tessera does anyway. A SPIRE configuration that spells the value out
 * (`profiling_enabled = false`, `rebootstrap_mode = "never"`) loads unchanged, and any
 * other value is rejected by name instead of being ignored.
 */
export const MATCHING_AGENT_VALUES: ReadonlyMap<string, boolean | string> = new Map<string, boolean | string>([
  // Tessera serves the Workload API and has no SDS API or Go profiler.
  ["disable_workload_api", false],
  ["disable_sds_api", true],
  ["profiling_enabled", false],
  ["log_source_location", false],
  // Tessera never fetches a new bootstrap bundle on its own.
  ["rebootstrap_mode", "never"],
]);

/** `agent { experimental {} }` settings with the value Tessera's behaviour matches. */
export const MATCHING_EXPERIMENTAL_VALUES: ReadonlyMap<string, boolean | string> = new Map<string, boolean | string>([
  // Tessera always syncs with SyncAuthorizedEntries.
  ["use_sync_authorized_entries", true],
]);

/**
 * Returns `block` without the settings of `matching` that carry their matching value.
 * Throws a ConfigError naming the setting when one carries another value.
 *
 * @example
 * acceptMatchingValues({ profiling_enabled: false, data_dir: "/d" }, "agent", MATCHING_AGENT_VALUES);
 * // → { data_dir: "/d" }
 */
export function acceptMatchingValues(block: ConfigBlock, path: string, matching: ReadonlyMap<string, boolean | string>): ConfigBlock {
  const remaining: ConfigBlock = { ...block };

  for (const [name, expected] of matching) {
    if (!(name in remaining)) {
      continue;
    }

    const value = remaining[name];
    if (value !== expected) {
      throw new ConfigError(
        `${path}.${name} = ${JSON.stringify(value)} is not supported yet by tessera-agent: only ${JSON.stringify(expected)} is, which is what it does without the setting`,
      );
    }
    delete remaining[name];
  }
  return remaining;
}
