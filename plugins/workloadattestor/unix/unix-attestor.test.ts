import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import {
  appendFileSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  closeSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createExecutableDigestCache } from "./executable-digest-cache.js";
import { createUnixAttestor } from "./unix-attestor.js";
import { parseUnixAttestorConfig } from "./unix-config.js";

const SLEEP = "/usr/bin/sleep";
const isRoot = process.getuid?.() === 0;

describe("unix workload attestor", () => {
  const children: ChildProcess[] = [];
  const folders: string[] = [];

  afterEach(() => {
    for (const child of children.splice(0)) child.kill("SIGKILL");
    for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
  });

  function makeFolder(): string {
    const folder = mkdtempSync(join(tmpdir(), "tessera-unix-attestor-"));
    folders.push(folder);
    return folder;
  }

  /** Starts `command` and resolves once the process runs `expectedExe` (after every exec). */
  async function startProcess(command: string, args: string[], expectedExe: string): Promise<number> {
    const child = spawn(command, args, { stdio: "ignore" });
    children.push(child);
    await new Promise<void>((resolve, reject) => {
      child.once("spawn", resolve);
      child.once("error", reject);
    });

    const pid = child.pid as number;
    for (;;) {
      try {
        if (readlinkSync(`/proc/${pid}/exe`) === expectedExe) return pid;
      } catch {
        // The process may be between exec calls; try again.
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** Kills a child started by {@link startProcess} and waits for its exit. */
  async function stopChild(pid: number): Promise<void> {
    const child = children.find((candidate) => candidate.pid === pid);
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGKILL");
    await exited;
  }

  function attest(config: unknown, pid: number): Promise<string[]> {
    const attestor = createUnixAttestor(parseUnixAttestorConfig(config));
    return attestor.attest(pid, new AbortController().signal);
  }

  it("reports the caller's own uid and gid", async () => {
    const pid = await startProcess(SLEEP, ["30"], SLEEP);

    const values = await attest(undefined, pid);

    expect(values).toContain(`uid:${process.getuid?.()}`);
    expect(values).toContain(`gid:${process.getgid?.()}`);
    expect(values.some((value) => value.startsWith("path:"))).toBe(false);
    expect(values.some((value) => value.startsWith("sha256:"))).toBe(false);
  });

  it.skipIf(!isRoot)("reports names and groups of a process run as nobody", async () => {
    const pid = await startProcess(
      "setpriv",
      ["--reuid=65534", "--regid=65534", "--groups=100", "--", SLEEP, "30"],
      SLEEP,
    );

    const values = await attest(undefined, pid);

    expect(values).toEqual([
      "uid:65534",
      "user:nobody",
      "gid:65534",
      "group:nogroup",
      "supplementary_gid:100",
      "supplementary_group:users",
    ]);
  });

  it.skipIf(!isRoot)("uses the effective uid, not the real one", async () => {
    // setpriv --euid changes only the effective uid, so the Uid: line reads "0 65534 0 0".
    const pid = await startProcess("setpriv", ["--euid=65534", "--", SLEEP, "30"], SLEEP);

    const values = await attest(undefined, pid);

    expect(values).toContain("uid:65534");
    expect(values).not.toContain("uid:0");
  });

  it("omits names that the account files lack", async () => {
    const folder = makeFolder();
    writeFileSync(join(folder, "passwd"), "someone:x:4242:4242::/:/bin/sh\n");
    writeFileSync(join(folder, "group"), "");
    const pid = await startProcess(SLEEP, ["30"], SLEEP);
    const attestor = createUnixAttestor(parseUnixAttestorConfig(undefined), {
      accountFiles: { passwdPath: join(folder, "passwd"), groupPath: join(folder, "group") },
    });

    const values = await attestor.attest(pid, new AbortController().signal);

    expect(values.some((value) => value.startsWith("user:"))).toBe(false);
    expect(values.some((value) => value.startsWith("group:"))).toBe(false);
    expect(values).toContain(`uid:${process.getuid?.()}`);
  });

  it("adds path and sha256 with discover_workload_path", async () => {
    const pid = await startProcess(SLEEP, ["30"], SLEEP);
    const expectedHash = createHash("sha256").update(readFileSync(SLEEP)).digest("hex");

    const values = await attest({ discover_workload_path: true }, pid);

    expect(values).toContain(`path:${SLEEP}`);
    expect(values).toContain(`sha256:${expectedHash}`);
  });

  it("hashes the running binary after its file was replaced", async () => {
    const folder = makeFolder();
    const workload = join(folder, "workload");
    copyFileSync(SLEEP, workload);
    const pid = await startProcess(workload, ["30"], workload);
    const originalHash = createHash("sha256").update(readFileSync(SLEEP)).digest("hex");
    writeFileSync(join(folder, "impostor"), "#!/bin/sh\nexit 0\n", { mode: 0o755 });
    renameSync(join(folder, "impostor"), workload);

    const values = await attest({ discover_workload_path: true }, pid);

    expect(values).toContain(`sha256:${originalHash}`);
    expect(values).toContain(`path:${workload} (deleted)`);
  });

  it("hashes the running binary after its file was deleted", async () => {
    const folder = makeFolder();
    const workload = join(folder, "workload");
    copyFileSync(SLEEP, workload);
    const pid = await startProcess(workload, ["30"], workload);
    const originalHash = createHash("sha256").update(readFileSync(SLEEP)).digest("hex");
    unlinkSync(workload);

    const values = await attest({ discover_workload_path: true }, pid);

    expect(values).toContain(`path:${workload} (deleted)`);
    expect(values).toContain(`sha256:${originalHash}`);
  });

  it("hashes a binary once for repeated and concurrent calls", async () => {
    const folder = makeFolder();
    const workload = join(folder, "workload");
    copyFileSync(SLEEP, workload);
    const firstPid = await startProcess(workload, ["30"], workload);
    const secondPid = await startProcess(workload, ["30"], workload);
    const digestCache = createExecutableDigestCache();
    const attestor = createUnixAttestor(parseUnixAttestorConfig({ discover_workload_path: true }), { digestCache });
    const signal = new AbortController().signal;

    const results = await Promise.all([attestor.attest(firstPid, signal), attestor.attest(secondPid, signal)]);
    const again = await attestor.attest(firstPid, signal);

    const expectedHash = createHash("sha256").update(readFileSync(SLEEP)).digest("hex");
    expect(results[0]).toContain(`sha256:${expectedHash}`);
    expect(results[1]).toContain(`sha256:${expectedHash}`);
    expect(again).toContain(`sha256:${expectedHash}`);
    expect(digestCache.counters).toEqual({ misses: 1, hits: 2 });
  });

  it("hashes again after an in-place edit that kept size and mtime", async () => {
    const folder = makeFolder();
    const workload = join(folder, "workload");
    copyFileSync(SLEEP, workload);
    // Trailing bytes after an ELF file's last section do not affect how it runs.
    appendFileSync(workload, Buffer.alloc(16, 0));
    // A whole-second mtime can be set back exactly; utimes takes seconds as a float.
    const fixedTime = 1_700_000_000;
    utimesSync(workload, fixedTime, fixedTime);
    const before = statSync(workload, { bigint: true });
    const digestCache = createExecutableDigestCache();
    const attestor = createUnixAttestor(parseUnixAttestorConfig({ discover_workload_path: true }), { digestCache });
    const signal = new AbortController().signal;
    const firstPid = await startProcess(workload, ["30"], workload);
    const first = await attestor.attest(firstPid, signal);
    await stopChild(firstPid);

    const handle = openSync(workload, "r+");
    writeSync(handle, Buffer.alloc(16, 0x41), 0, 16, Number(before.size) - 16);
    closeSync(handle);
    utimesSync(workload, fixedTime, fixedTime);
    const after = statSync(workload, { bigint: true });
    const secondPid = await startProcess(workload, ["30"], workload);
    const second = await attestor.attest(secondPid, signal);

    expect(after.ino).toBe(before.ino);
    expect(after.size).toBe(before.size);
    expect(after.mtimeNs).toBe(before.mtimeNs);
    const editedHash = createHash("sha256").update(readFileSync(workload)).digest("hex");
    expect(second).toContain(`sha256:${editedHash}`);
    expect(first).not.toContain(`sha256:${editedHash}`);
    expect(digestCache.counters.misses).toBe(2);
  });

  it("reads procfs from HOST_PROC", async () => {
    const folder = makeFolder();
    const fakePid = 77;
    mkdirSync(join(folder, String(fakePid)));
    writeFileSync(join(folder, String(fakePid), "status"), "Name:\tdemo\nUid:\t4321\t4321\t4321\t4321\nGid:\t99\t99\t99\t99\nGroups:\t\n");
    writeFileSync(join(folder, "binary"), "demo executable");
    symlinkSync(join(folder, "binary"), join(folder, String(fakePid), "exe"));
    const previous = process.env.HOST_PROC;
    process.env.HOST_PROC = folder;
    let values: string[];
    try {
      values = await attest({ discover_workload_path: true }, fakePid);
    } finally {
      if (previous === undefined) delete process.env.HOST_PROC;
      else process.env.HOST_PROC = previous;
    }

    expect(values).toContain("uid:4321");
    expect(values).toContain("gid:99");
    expect(values).toContain(`path:${join(folder, "binary")}`);
    expect(values).toContain(`sha256:${createHash("sha256").update("demo executable").digest("hex")}`);
  });

  it("skips sha256 when workload_size_limit is negative", async () => {
    const pid = await startProcess(SLEEP, ["30"], SLEEP);

    const values = await attest({ discover_workload_path: true, workload_size_limit: -1 }, pid);

    expect(values).toContain(`path:${SLEEP}`);
    expect(values.some((value) => value.startsWith("sha256:"))).toBe(false);
  });

  it("fails when the executable exceeds workload_size_limit", async () => {
    const pid = await startProcess(SLEEP, ["30"], SLEEP);

    await expect(attest({ discover_workload_path: true, workload_size_limit: 1024 }, pid)).rejects.toThrow(
      /larger than workload_size_limit \(1024 bytes\)/,
    );
  });

  it("fails for a process that has exited", async () => {
    const child = spawn(SLEEP, ["0"], { stdio: "ignore" });
    const pid = child.pid as number;
    await new Promise((resolve) => child.once("exit", resolve));

    await expect(attest(undefined, pid)).rejects.toThrow(`failed to read /proc/${pid}/status: process not found`);
  });
});

describe("parseUnixAttestorConfig", () => {
  it("returns defaults for no settings", () => {
    expect(parseUnixAttestorConfig(undefined)).toEqual({ discoverWorkloadPath: false, workloadSizeLimit: 0 });
  });

  it("reads both settings", () => {
    expect(parseUnixAttestorConfig({ discover_workload_path: true, workload_size_limit: 1000 })).toEqual({
      discoverWorkloadPath: true,
      workloadSizeLimit: 1000,
    });
  });

  it.each([
    [{ discover_workload_paths: true }, /unknown key "discover_workload_paths"/],
    [{ discover_workload_path: "yes" }, /"discover_workload_path" must be true or false, got the string "yes"/],
    [{ workload_size_limit: 1.5 }, /"workload_size_limit" must be a whole number of bytes, got 1.5/],
    [{ workload_size_limit: "10" }, /"workload_size_limit" must be a whole number of bytes/],
    [[], /plugin_data must be a block of settings, got a list/],
  ])("rejects %j", (raw, message) => {
    expect(() => parseUnixAttestorConfig(raw)).toThrow(message);
  });
});
