import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";

import { DamagedFileError } from "../../src/agent/storage/damaged-file.js";
import { createDiskKeyManager, KEYS_FILE_NAME } from "./disk.js";

describe("createDiskKeyManager", () => {
  const folders: string[] = [];
  afterEach(() => {
    for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
  });

  function makeFolder(): string {
    const folder = mkdtempSync(join(tmpdir(), "tessera-keys-"));
    folders.push(folder);
    return folder;
  }

  it("keeps keys across instances", async () => {
    const directory = join(makeFolder(), "keys");
    const first = createDiskKeyManager(directory);
    const key = await first.generateKey("agent-svid-A");

    const second = createDiskKeyManager(directory);
    const loaded = await second.getKey("agent-svid-A");

    expect(loaded?.privateKeyPkcs8.equals(key.privateKeyPkcs8)).toBe(true);
    expect(await second.getKey("agent-svid-B")).toBeUndefined();
  });

  it("writes SPIRE's keys.json layout with tight modes", async () => {
    const directory = join(makeFolder(), "keys");
    const manager = createDiskKeyManager(directory);
    const key = await manager.generateKey("agent-svid-B");

    const path = join(directory, KEYS_FILE_NAME);
    const parsed = JSON.parse(readFileSync(path, "utf8")) as { keys: Record<string, string> };
    expect(parsed.keys["agent-svid-B"]).toBe(key.privateKeyPkcs8.toString("base64"));
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(directory).mode & 0o777).toBe(0o700);
  });

  it("replaces the key in a slot", async () => {
    const manager = createDiskKeyManager(makeFolder());
    const old = await manager.generateKey("agent-svid-A");
    const replacement = await manager.generateKey("agent-svid-A");

    const keys = await manager.getKeys();
    expect(keys).toHaveLength(1);
    expect(keys[0]?.privateKeyPkcs8.equals(replacement.privateKeyPkcs8)).toBe(true);
    expect(keys[0]?.privateKeyPkcs8.equals(old.privateKeyPkcs8)).toBe(false);
  });

  it("names a directory it cannot create", () => {
    const parent = makeFolder();
    writeFileSync(join(parent, "file"), "");

    expect(() => createDiskKeyManager(join(parent, "file", "keys"))).toThrow(/disk KeyManager directory .*file\/keys cannot be used/);
  });

  it("leaves no write check file behind", () => {
    const directory = join(makeFolder(), "keys");
    createDiskKeyManager(directory);

    expect(readdirSync(directory)).toEqual([]);
  });

  it("rejects a corrupt key file", () => {
    const directory = makeFolder();
    writeFileSync(join(directory, KEYS_FILE_NAME), '{"keys": {"agent-svid-A": "bm90IGEga2V5"}}');

    expect(() => createDiskKeyManager(directory)).toThrow(/key "agent-svid-A" is not a PKCS#8 private key/);
  });

  it("reports an empty or cut short key file as damaged", () => {
    const directory = makeFolder();
    const path = join(directory, KEYS_FILE_NAME);

    for (const [text, problem] of [["", "the file is empty"], ['{"keys": {"agent-svid-A": "MIG', "not valid JSON"]]) {
      writeFileSync(path, text as string);
      let caught: unknown;
      try {
        createDiskKeyManager(directory);
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(DamagedFileError);
      expect((caught as DamagedFileError).path).toBe(path);
      expect((caught as DamagedFileError).problem).toContain(problem);
    }
  });
});
