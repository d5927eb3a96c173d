import { X509Certificate } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { removeStaleTemporaryFiles, writeFileAtomic } from "../../common/atomic-write.js";
import { DamagedFileError } from "./damaged-file.js";

/** File inside data_dir that stores the agent SVID and bundle between restarts (SPIRE uses the same name). */
export const AGENT_STATE_FILE = "agent-data.json";

/** Mode of a data_dir the agent creates: only the agent's user may list or change it. */
export const DATA_DIR_MODE = 0o700;

/** The agent state kept in data_dir: certificates only, because the private key stays with the KeyManager. */
export interface StoredAgentState {
  /** Agent SVID chain, DER, leaf first. */
  svidChain: Buffer[];
  /** Own trust domain roots, DER. */
  bundle: Buffer[];
  reattestable: boolean;
}

/** Returns the path of agent-data.json inside `dataDir`. */
export function agentStatePath(dataDir: string): string {
  return join(dataDir, AGENT_STATE_FILE);
}

/**
 * Creates data_dir with mode 0700 when it is missing, checks that the agent can write in
 * it, and deletes temporary files that a crash during a write left behind. An existing
 * folder keeps its mode, because data_dir may be a shared folder such as the working
 * directory; agent-data.json itself is 0600.
 *
 * Throws an Error naming `agent.data_dir`, the path, the reason and the fix when the
 * folder cannot be created or written. The agent calls this before node attestation, so
 * such a folder never costs a single-use join token.
 */
export function prepareDataDir(dataDir: string): void {
  try {
    mkdirSync(dataDir, { recursive: true, mode: DATA_DIR_MODE });
  } catch (error) {
    throw unusableDataDir(dataDir, "failed to create the folder", error);
  }

  // A real write, as agent-data.json needs later, so a folder the agent cannot write
  // fails here and not after attestation.
  const probe = join(dataDir, `.tessera-write-check-${process.pid}`);
  try {
    writeFileSync(probe, "", { flag: "w", mode: 0o600 });
    rmSync(probe, { force: true });
  } catch (error) {
    throw unusableDataDir(dataDir, "failed to write a file in it", error);
  }

  removeStaleTemporaryFiles(agentStatePath(dataDir));
}

function unusableDataDir(dataDir: string, step: string, cause: unknown): Error {
  const uid = process.geteuid?.();
  const user = uid === undefined ? "the agent's user" : `the agent's user (uid ${uid})`;
  return new Error(
    `agent.data_dir ${dataDir} cannot be used: ${step}: ${(cause as Error).message}. ` +
      `Make the folder writable by ${user}, or set agent.data_dir to a folder that user can write`,
    { cause },
  );
}

/**
 * Reads `<dataDir>/agent-data.json`. Returns undefined when the file does not exist.
 * Throws a {@link DamagedFileError} naming the file and the problem when it is empty, not
 * JSON, or contains something other than DER certificates, and a plain Error when it cannot
 * be read (permissions), because silently attesting again would burn a join token on a
 * misconfigured folder.
 */
export function readAgentState(dataDir: string): StoredAgentState | undefined {
  const path = agentStatePath(dataDir);

  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") {
      return undefined;
    }
    throw new Error(`failed to read agent state ${path}: ${(error as Error).message}`, { cause: error });
  }

  if (text.trim() === "") {
    throw damaged(path, "the file is empty");
  }

  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw damaged(path, `not valid JSON (${(error as Error).message})`, error);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw damaged(path, "expected a JSON object");
  }

  const fields = parsed as { svid?: unknown; bundle?: unknown; reattestable?: unknown };
  return {
    svidChain: decodeCertificates(path, fields.svid, "svid"),
    bundle: decodeCertificates(path, fields.bundle, "bundle"),
    reattestable: fields.reattestable === true,
  };
}

/** Writes `<dataDir>/agent-data.json` atomically with mode 0600, creating data_dir (0700) when needed. */
export function writeAgentState(dataDir: string, state: StoredAgentState): void {
  mkdirSync(dataDir, { recursive: true, mode: DATA_DIR_MODE });
  const content = {
    svid: state.svidChain.map((der) => der.toString("base64")),
    bundle: state.bundle.map((der) => der.toString("base64")),
    reattestable: state.reattestable,
  };
  writeFileAtomic(agentStatePath(dataDir), `${JSON.stringify(content, null, 2)}\n`, 0o600);
}

/** Deletes the stored state, so the next start attests again (after a ban or eviction). */
export function removeAgentState(dataDir: string): void {
  rmSync(agentStatePath(dataDir), { force: true });
}

function decodeCertificates(path: string, value: unknown, field: string): Buffer[] {
  if (!Array.isArray(value) || value.some((item) => typeof item !== "string")) {
    throw damaged(path, `"${field}" must be a list of base64 strings`);
  }

  return value.map((item: string, index) => {
    const der = Buffer.from(item, "base64");
    try {
      new X509Certificate(der);
    } catch (error) {
      throw damaged(path, `"${field}"[${index}] is not a DER certificate in base64`, error);
    }
    return der;
  });
}

function damaged(path: string, problem: string, cause?: unknown): DamagedFileError {
  return new DamagedFileError(path, problem, { cause, message: `invalid agent state ${path}: ${problem}; delete the file to attest again` });
}
