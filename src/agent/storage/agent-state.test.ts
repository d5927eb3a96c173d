import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterEach, beforeAll, describe, expect, it } from "vitest";

import { createDiskKeyManager, keysFilePath } from "../../../plugins/keymanager/disk.js";
import { captureLogger } from "../../workload-api/test-logger.js";
import type { TestAuthority } from "../../workload-api/test-pki.js";
import { createTestRootAuthority } from "../../workload-api/test-pki.js";
import { agentStatePath, prepareDataDir, readAgentState, writeAgentState } from "./agent-state.js";
import { DamagedFileError } from "./damaged-file.js";
import { openWithDamageRecovery } from "./damaged-state-recovery.js";

let root: TestAuthority;

beforeAll(async () => {
  root = await createTestRootAuthority("example.org");
});

const folders: string[] = [];
afterEach(() => {
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
});

function makeFolder(): string {
  const folder = mkdtempSync(join(tmpdir(), "tessera-agent-state-"));
  folders.push(folder);
  return folder;
}

function writeSampleState(dataDir: string): void {
  writeAgentState(dataDir, { svidChain: [root.certificateDer], bundle: [root.certificateDer], reattestable: false });
}

describe("agent state", () => {
  it("creates data_dir 0700 and the file 0600", () => {
    const dataDir = join(makeFolder(), "data");

    writeSampleState(dataDir);

    expect(statSync(dataDir).mode & 0o777).toBe(0o700);
    expect(statSync(agentStatePath(dataDir)).mode & 0o777).toBe(0o600);
    expect(readAgentState(dataDir)?.svidChain).toEqual([root.certificateDer]);
  });

  it("removes temporary files a crash left", () => {
    const dataDir = makeFolder();
    writeSampleState(dataDir);
    writeFileSync(join(dataDir, ".agent-data.json.4242.1700000000000.tmp"), '{"svid": [');

    prepareDataDir(dataDir);

    expect(readdirSync(dataDir)).toEqual(["agent-data.json"]);
  });

  it("rejects data_dir under a file", () => {
    const file = join(makeFolder(), "file");
    writeFileSync(file, "");
    const dataDir = join(file, "data");

    expect(() => prepareDataDir(dataDir)).toThrow(`agent.data_dir ${dataDir} cannot be used: failed to create the folder: ENOTDIR`);
    expect(() => prepareDataDir(dataDir)).toThrow("Make the folder writable by the agent's user");
  });

  it.skipIf(process.getuid?.() !== 0)("rejects an unwritable data_dir (needs root to switch uid)", () => {
    // A root-owned 0755 folder, as an agent running as nobody (uid 65534) sees it.
    const parent = makeFolder();
    chmodSync(parent, 0o755);
    const missing = join(parent, "data");
    const existing = join(parent, "existing");
    mkdirSync(existing, { mode: 0o755 });

    const errors: unknown[] = [];
    process.seteuid?.(65534);
    try {
      for (const dataDir of [missing, existing]) {
        try {
          prepareDataDir(dataDir);
        } catch (error) {
          errors.push(error);
        }
      }
    } finally {
      process.seteuid?.(0);
    }

    expect(errors).toHaveLength(2);
    expect((errors[0] as Error).message).toContain(`agent.data_dir ${missing} cannot be used: failed to create the folder: EACCES`);
    expect((errors[1] as Error).message).toContain(`agent.data_dir ${existing} cannot be used: failed to write a file in it: EACCES`);
    expect((errors[1] as Error).message).toContain("Make the folder writable by the agent's user (uid 65534), or set agent.data_dir to a folder that user can write");
    expect(readdirSync(existing)).toEqual([]);
  });

  it.each([
    ["empty", "", "the file is empty"],
    ["cut short", '{"svid": ["MIIB', "not valid JSON"],
    ["garbage", "\u0000\u0001garbage", "not valid JSON"],
    ["not an object", "[]", "expected a JSON object"],
    ["not certificates", '{"svid": ["bm90IGEgY2VydGlmaWNhdGU="], "bundle": []}', '"svid"[0] is not a DER certificate in base64'],
  ])("reports a file that is %s as damaged", (_case, text, problem) => {
    const dataDir = makeFolder();
    writeFileSync(agentStatePath(dataDir), text);

    let caught: unknown;
    try {
      readAgentState(dataDir);
    } catch (error) {
      caught = error;
    }

    expect(caught).toBeInstanceOf(DamagedFileError);
    expect((caught as DamagedFileError).path).toBe(agentStatePath(dataDir));
    expect((caught as DamagedFileError).problem).toContain(problem);
  });
});

describe("openWithDamageRecovery", () => {
  it("moves a damaged file aside for a reattestable attestor", () => {
    const dataDir = makeFolder();
    writeFileSync(agentStatePath(dataDir), '{"svid": [');
    const captured = captureLogger();

    const state = openWithDamageRecovery(() => readAgentState(dataDir), { name: "x509pop", reattestable: true }, captured.logger);

    expect(state).toBeUndefined();
    const names = readdirSync(dataDir);
    expect(names).toHaveLength(1);
    expect(names[0]).toMatch(/^agent-data\.json\.damaged-\d{8}T\d{9}Z$/);
    expect(readFileSync(join(dataDir, names[0]!), "utf8")).toBe('{"svid": [');
    const warning = captured.lines.find((line) => line.msg === "Moved a damaged agent file aside; the agent attests again");
    expect(warning?.path).toBe(agentStatePath(dataDir));
  });

  it("tells a join_token agent what to do", () => {
    const dataDir = makeFolder();
    writeFileSync(agentStatePath(dataDir), "garbage");
    const path = agentStatePath(dataDir);

    expect(() => openWithDamageRecovery(() => readAgentState(dataDir), { name: "join_token", reattestable: false }, captureLogger().logger)).toThrow(
      `${path} is damaged: not valid JSON`,
    );
    expect(() => openWithDamageRecovery(() => readAgentState(dataDir), { name: "join_token", reattestable: false }, captureLogger().logger)).toThrow(
      `remove ${path} and start the agent with a new join token`,
    );
    expect(existsSync(path)).toBe(true);
  });

  it("recovers from a damaged keys.json", () => {
    const directory = makeFolder();
    writeFileSync(keysFilePath(directory), '{"keys": {"agent-svid-A": "MIGH');

    const keyManager = openWithDamageRecovery(() => createDiskKeyManager(directory), { name: "x509pop", reattestable: true }, captureLogger().logger);

    expect(keyManager.name).toBe("disk");
    expect(readdirSync(directory).some((name) => name.startsWith("keys.json.damaged-"))).toBe(true);
  });

  it("passes other errors through", () => {
    const failure = new Error("permission denied");

    expect(() =>
      openWithDamageRecovery(
        () => {
          throw failure;
        },
        { name: "x509pop", reattestable: true },
        captureLogger().logger,
      ),
    ).toThrow(failure);
  });
});
