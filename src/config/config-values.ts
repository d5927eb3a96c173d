import { parseDuration } from "./flags.js";
import { ConfigError } from "./config-error.js";

/** A configuration block after parsing: setting names mapped to plain values. */
export type ConfigBlock = Record<string, unknown>;

/**
 * Returns `value` as a block. HCL and JSON configurations written for SPIRE may give a
 * block as a list of objects (HCL v1's JSON form does), so a list is merged into one
 * object; a setting repeated across the list items is an error. `path` names the block in
 * messages, e.g. `agent`.
 */
export function asBlock(value: unknown, path: string): ConfigBlock {
  if (Array.isArray(value)) {
    const merged: ConfigBlock = {};
    for (const item of value) {
      for (const [key, itemValue] of Object.entries(asBlock(item, path))) {
        if (key in merged) {
          throw new ConfigError(`${path}.${key} is set more than once`);
        }
        merged[key] = itemValue;
      }
    }
    return merged;
  }

  if (typeof value !== "object" || value === null) {
    throw new ConfigError(`${path} must be a block ({ ... }), got ${describeValue(value)}`);
  }
  return value as ConfigBlock;
}

/** Returns an optional string setting. */
export function readString(block: ConfigBlock, key: string, path: string): string | undefined {
  const value = block[key];
  if (value === undefined) {
    return undefined;
  }
  if (typeof value !== "string") {
    throw new ConfigError(`${path}.${key} must be a string, got ${describeValue(value)}`);
  }
  return value;
}

/** Returns an optional boolean setting. */
export function readBoolean(block: ConfigBlock, key: string, path: string): boolean | undefined {
  const value = block[key];
  if (value === undefined) {
    return undefined;
  }
  if (typeof value !== "boolean") {
    throw new ConfigError(`${path}.${key} must be true or false, got ${describeValue(value)}`);
  }
  return value;
}

/** Returns an optional whole-number setting; a string of digits is accepted as SPIRE's HCL decoder does. */
export function readInteger(block: ConfigBlock, key: string, path: string): number | undefined {
  const value = block[key];
  if (value === undefined) {
    return undefined;
  }
  if (typeof value === "string" && /^-?[0-9]+$/.test(value)) {
    return Number.parseInt(value, 10);
  }
  if (typeof value !== "number" || !Number.isSafeInteger(value)) {
    throw new ConfigError(`${path}.${key} must be a whole number, got ${describeValue(value)}`);
  }
  return value;
}

/** Returns an optional Go duration setting (`"5s"`, `"1m30s"`) in milliseconds. */
export function readDuration(block: ConfigBlock, key: string, path: string): number | undefined {
  const text = readString(block, key, path);
  if (text === undefined) {
    return undefined;
  }
  try {
    return parseDuration(text);
  } catch {
    throw new ConfigError(`${path}.${key} must be a duration such as "5s" or "1m30s", got ${JSON.stringify(text)}`);
  }
}

/**
 * Returns an optional list of strings, as HCL `key = ["a", "b"]` gives it. Throws a
 * {@link ConfigError} naming `path.key` for any other value type.
 */
export function readStringList(block: ConfigBlock, key: string, path: string): string[] | undefined {
  const value = block[key];
  if (value === undefined) {
    return undefined;
  }
  if (!Array.isArray(value) || value.some((item) => typeof item !== "string")) {
    throw new ConfigError(`${path}.${key} must be a list of strings, got ${describeValue(value)}`);
  }
  return value as string[];
}

/** Describes a value for an error message without echoing long or secret text. */
export function describeValue(value: unknown): string {
  if (Array.isArray(value)) {
    return "a list";
  }
  if (value === null) {
    return "null";
  }
  if (typeof value === "string") {
    return value.length > 40 ? "a string" : `the string ${JSON.stringify(value)}`;
  }
  return typeof value === "object" ? "a block" : String(value);
}
