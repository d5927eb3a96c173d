import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { removeStaleTemporaryFiles, writeFileAtomic } from "../../src/common/atomic-write.js";
import { generateEcP256Pkcs8, privateKeyFromPkcs8 } from "../../src/agent/crypto/ec-key.js";
import { DamagedFileError } from "../../src/agent/storage/damaged-file.js";
import type { KeyManager, ManagedKey } from "./key-manager.js";

/** Name of the key file inside the plugin's directory (the same name SPIRE's disk plugin uses). */
export const KEYS_FILE_NAME = "keys.json";

/**
 * Creates the `disk` KeyManager. Keys are stored in `<directory>/keys.json` as
 * `{"keys": {"<id>": "<base64 PKCS#8 DER>"}}`, the layout of SPIRE's disk plugin, so an
 * agent restarted with the same folder can reuse its SVID without attesting again.
 *
 * The folder is created with mode 0700 (and tightened if it exists) and the file is
 * written atomically with mode 0600. Throws at creation when an existing keys.json cannot
 * be read, naming the file, and a {@link DamagedFileError} when it is empty, not JSON or
 * contains something other than PKCS#8 keys.
 */
export function createDiskKeyManager(directory: string): KeyManager {
  prepareKeyDirectory(directory);

  const path = keysFilePath(directory);
  removeStaleTemporaryFiles(path);
  const keys = readKeysFile(path);

  function save(): void {
    const encoded: Record<string, string> = {};
    for (const [id, key] of [...keys.entries()].sort(([a], [b]) => a.localeCompare(b))) {
      encoded[id] = key.privateKeyPkcs8.toString("base64");
    }
    writeFileAtomic(path, `${JSON.stringify({ keys: encoded }, null, "\t")}\n`, 0o600);
  }

  return {
    name: "disk",

    async generateKey(id) {
      const key = { id, privateKeyPkcs8: generateEcP256Pkcs8() };
      keys.set(id, key);
      try {
        save();
      } catch (error) {
        keys.delete(id);
        throw new Error(`failed to store key "${id}" in ${path}: ${(error as Error).message}`, { cause: error });
      }
      return key;
    },

    async getKey(id) {
      return keys.get(id);
    },

    async getKeys() {
      return [...keys.values()].sort((a, b) => a.id.localeCompare(b.id));
    },
  };
}

/**
 * Creates the folder with mode 0700 and writes a file in it, so a folder the agent cannot
 * write fails at start-up with its name, and not when the first key is generated.
 */
function prepareKeyDirectory(directory: string): void {
  const probe = join(directory, `.tessera-write-check-${process.pid}`);
  try {
    mkdirSync(directory, { recursive: true, mode: 0o700 });
    chmodSync(directory, 0o700);
    writeFileSync(probe, "", { mode: 0o600 });
    rmSync(probe, { force: true });
  } catch (error) {
    throw new Error(
      `the disk KeyManager directory ${directory} cannot be used: ${(error as Error).message}. ` +
        "Make it writable by the agent's user, or set plugin_data.directory to a folder that user can write",
      { cause: error },
    );
  }
}

/** Returns the path of keys.json inside the plugin's `directory`. */
export function keysFilePath(directory: string): string {
  return join(directory, KEYS_FILE_NAME);
}

function readKeysFile(path: string): Map<string, ManagedKey> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") {
      return new Map();
    }
    throw new Error(`failed to read key file ${path}: ${(error as Error).message}`, { cause: error });
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

  const entries = (parsed as { keys?: unknown } | null)?.keys;
  if (typeof entries !== "object" || entries === null || Array.isArray(entries)) {
    throw damaged(path, 'expected an object with a "keys" object');
  }

  const keys = new Map<string, ManagedKey>();
  for (const [id, value] of Object.entries(entries)) {
    if (typeof value !== "string") {
      throw damaged(path, `key "${id}" is not a base64 string`);
    }

    const privateKeyPkcs8 = Buffer.from(value, "base64");
    try {
      privateKeyFromPkcs8(privateKeyPkcs8);
    } catch (error) {
      throw damaged(path, `key "${id}" is not a PKCS#8 private key: ${(error as Error).message}`, error);
    }
    keys.set(id, { id, privateKeyPkcs8 });
  }
  return keys;
}

function damaged(path: string, problem: string, cause?: unknown): DamagedFileError {
  return new DamagedFileError(path, problem, { cause, message: `invalid key file ${path}: ${problem}` });
}
