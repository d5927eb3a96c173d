import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";

import { writeFileAtomic } from "../../common/atomic-write.js";

/** File inside data_dir that stores the agent SVID and bundle between restarts (SPIRE uses the same name). */
export const AGENT_STATE_FILE = "agent-data.json";

/** The agent state kept in data_dir: certificates only, because the private key stays with the KeyManager. */
export interface StoredAgentState {
  /** Agent SVID chain, DER, leaf first. */
  svidChain: Buffer[];
  /** Own trust domain roots, DER. */
  bundle: Buffer[];
  reattestable: boolean;
}

/**
 * Reads `<dataDir>/agent-data.json`. Returns undefined when the file does not exist.
 * Throws with the path when it exists but cannot be read or parsed, because silently
 * attesting again would burn a join token on a misconfigured folder.
 */
export function readAgentState(dataDir: string): StoredAgentState | undefined {
  const path = join(dataDir, AGENT_STATE_FILE);

  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") {
      return undefined;
    }
    throw new Error(`failed to read agent state ${path}: ${(error as Error).message}`, { cause: error });
  }

  try {
    const parsed = JSON.parse(text) as { svid?: unknown; bundle?: unknown; reattestable?: unknown };
    return {
      svidChain: decodeList(parsed.svid, "svid"),
      bundle: decodeList(parsed.bundle, "bundle"),
      reattestable: parsed.reattestable === true,
    };
  } catch (error) {
    throw new Error(`invalid agent state ${path}: ${(error as Error).message}; delete the file to attest again`, { cause: error });
  }
}

/** Writes `<dataDir>/agent-data.json` atomically with mode 0600, creating data_dir (0755) when needed. */
export function writeAgentState(dataDir: string, state: StoredAgentState): void {
  mkdirSync(dataDir, { recursive: true, mode: 0o755 });
  const content = {
    svid: state.svidChain.map((der) => der.toString("base64")),
    bundle: state.bundle.map((der) => der.toString("base64")),
    reattestable: state.reattestable,
  };
  writeFileAtomic(join(dataDir, AGENT_STATE_FILE), `${JSON.stringify(content, null, 2)}\n`, 0o600);
}

/** Deletes the stored state, so the next start attests again (after a ban or eviction). */
export function removeAgentState(dataDir: string): void {
  rmSync(join(dataDir, AGENT_STATE_FILE), { force: true });
}

function decodeList(value: unknown, field: string): Buffer[] {
  if (!Array.isArray(value) || value.some((item) => typeof item !== "string")) {
    throw new Error(`"${field}" must be a list of base64 strings`);
  }
  return value.map((item: string) => Buffer.from(item, "base64"));
}
