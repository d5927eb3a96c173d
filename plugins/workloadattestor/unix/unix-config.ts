/** Settings of the `unix` workload attestor, from its `plugin_data` block. */
export interface UnixAttestorConfig {
  /** `discover_workload_path`: add `path:` and `sha256:` selectors for the executable. Default false. */
  discoverWorkloadPath: boolean;
  /**
   * `workload_size_limit`: the largest executable, in bytes, that is hashed for the
   * `sha256:` selector. 0 (the default) means no limit, and a negative value skips the
   * hash. Only used with `discover_workload_path`.
   */
  workloadSizeLimit: number;
}

const KNOWN_KEYS = ["discover_workload_path", "workload_size_limit"];

/**
 * Validates the `unix` attestor's `plugin_data` (already parsed from HCL or JSON into plain
 * data) and returns the typed settings. `undefined` gives the defaults.
 *
 * Unknown keys are rejected, unlike SPIRE, which ignores them: a misspelt
 * `discover_workload_path` would otherwise silently drop the path selectors. Every error
 * names the offending key.
 */
export function parseUnixAttestorConfig(raw: unknown): UnixAttestorConfig {
  if (raw === undefined || raw === null) {
    return { discoverWorkloadPath: false, workloadSizeLimit: 0 };
  }
  if (typeof raw !== "object" || Array.isArray(raw)) {
    throw new Error(`invalid unix workload attestor configuration: plugin_data must be a block of settings, got ${describeValue(raw)}`);
  }

  const settings = raw as Record<string, unknown>;
  for (const key of Object.keys(settings)) {
    if (!KNOWN_KEYS.includes(key)) {
      throw new Error(
        `invalid unix workload attestor configuration: unknown key "${key}" (known keys: ${KNOWN_KEYS.join(", ")})`,
      );
    }
  }

  return {
    discoverWorkloadPath: readBoolean(settings, "discover_workload_path", false),
    workloadSizeLimit: readInteger(settings, "workload_size_limit", 0),
  };
}

function readBoolean(settings: Record<string, unknown>, key: string, fallback: boolean): boolean {
  const value = settings[key];
  if (value === undefined) {
    return fallback;
  }
  if (typeof value !== "boolean") {
    throw new Error(`invalid unix workload attestor configuration: "${key}" must be true or false, got ${describeValue(value)}`);
  }
  return value;
}

function readInteger(settings: Record<string, unknown>, key: string, fallback: number): number {
  const value = settings[key];
  if (value === undefined) {
    return fallback;
  }
  if (typeof value !== "number" || !Number.isSafeInteger(value)) {
    throw new Error(`invalid unix workload attestor configuration: "${key}" must be a whole number of bytes, got ${describeValue(value)}`);
  }
  return value;
}

function describeValue(value: unknown): string {
  if (Array.isArray(value)) {
    return "a list";
  }
  if (typeof value === "string") {
    return `the string ${JSON.stringify(value)}`;
  }
  return typeof value === "object" ? "a block" : String(value);
}
