import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

import { afterEach, describe, expect, it } from "vitest";

import { captureLogger } from "../../workload-api/test-logger.js";
import { chooseRuntimeDir, DEFAULT_RUNTIME_DIR, isOnMemoryFileSystem, prepareRuntimeDir, runtimeCacheFilePath } from "./runtime-dir.js";

/** File system type of `path` as coreutils' stat reports it, independent of the code under test. */
function fileSystemType(path: string): string {
  return execFileSync("stat", ["-f", "-c", "%T", path], { encoding: "utf8" }).trim();
}

const shmIsTmpfs = existsSync("/dev/shm") && fileSystemType("/dev/shm") === "tmpfs";
const tmpIsOnMemory = ["tmpfs", "ramfs"].includes(fileSystemType(tmpdir()));

describe("chooseRuntimeDir", () => {
  it("turns the cache off for an empty setting", () => {
    expect(chooseRuntimeDir("", { RUNTIME_DIRECTORY: "/run/unit" })).toBeUndefined();
  });

  it("uses a configured folder as given", () => {
    expect(chooseRuntimeDir("cache", {})).toEqual({ path: resolve("cache"), explicit: true });
  });

  it("prefers systemd's first runtime folder", () => {
    expect(chooseRuntimeDir(undefined, { RUNTIME_DIRECTORY: "/run/tessera-agent:/run/other" })).toEqual({ path: "/run/tessera-agent", explicit: false });
  });

  it("falls back to /run/tessera", () => {
    expect(chooseRuntimeDir(undefined, { RUNTIME_DIRECTORY: "" })).toEqual({ path: DEFAULT_RUNTIME_DIR, explicit: false });
  });
});

describe("isOnMemoryFileSystem", () => {
  it.skipIf(!shmIsTmpfs)("finds tmpfs through a missing subfolder", () => {
    expect(isOnMemoryFileSystem("/dev/shm/tessera-missing/deeper")).toBe(true);
  });

  it.skipIf(tmpIsOnMemory)("reports a disk folder", () => {
    expect(isOnMemoryFileSystem(tmpdir())).toBe(false);
  });
});

describe("prepareRuntimeDir", () => {
  const folders: string[] = [];
  afterEach(() => {
    for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
  });

  function makeFolder(base = tmpdir()): string {
    const folder = mkdtempSync(join(base, "tessera-runtime-dir-"));
    folders.push(folder);
    return folder;
  }

  it.skipIf(!shmIsTmpfs)("creates a folder on tmpfs with mode 0700", () => {
    const folder = join(makeFolder("/dev/shm"), "runtime");
    const captured = captureLogger();

    const prepared = prepareRuntimeDir(undefined, { RUNTIME_DIRECTORY: folder }, captured.logger);

    expect(prepared).toBe(folder);
    expect(statSync(folder).mode & 0o777).toBe(0o700);
    expect(captured.lines.filter((line) => line.level === 40)).toEqual([]);
  });

  it.skipIf(tmpIsOnMemory)("skips the default folder on a disk with one warning", () => {
    const folder = join(makeFolder(), "runtime");
    const captured = captureLogger();

    const prepared = prepareRuntimeDir(undefined, { RUNTIME_DIRECTORY: folder }, captured.logger);

    expect(prepared).toBeUndefined();
    expect(existsSync(folder)).toBe(false);
    expect(captured.lines.map((line) => line.msg)).toEqual([
      'The runtime cache is off: the default runtime_dir is not on tmpfs or ramfs. Set runtime_dir to a tmpfs folder, or to "" to turn it off without this warning',
    ]);
  });

  it.skipIf(tmpIsOnMemory)("uses a configured disk folder with a warning", () => {
    const folder = join(makeFolder(), "runtime");
    const captured = captureLogger();

    const prepared = prepareRuntimeDir(folder, {}, captured.logger);

    expect(prepared).toBe(folder);
    expect(captured.lines.map((line) => line.msg)).toEqual([
      "runtime_dir is not on tmpfs or ramfs: workload private keys in the runtime cache are stored on a persistent disk",
    ]);
  });

  it("tightens an existing private folder to 0700", () => {
    const folder = join(makeFolder(), "runtime");
    mkdirSync(folder, { mode: 0o755 });
    chmodSync(folder, 0o755);

    expect(prepareRuntimeDir(folder, {}, captureLogger().logger)).toBe(folder);
    expect(statSync(folder).mode & 0o777).toBe(0o700);
  });

  it("skips a folder other users can write", () => {
    const folder = join(makeFolder(), "shared");
    mkdirSync(folder);
    chmodSync(folder, 0o1777);
    const captured = captureLogger();

    const prepared = prepareRuntimeDir(folder, {}, captured.logger);

    expect(prepared).toBeUndefined();
    expect(statSync(folder).mode & 0o7777).toBe(0o1777);
    expect(String(captured.lines.at(-1)?.error)).toContain("can be written by other users (mode 1777)");
  });

  it("skips a runtime_dir that is a file", () => {
    const file = join(makeFolder(), "runtime");
    writeFileSync(file, "");
    const captured = captureLogger();

    const prepared = prepareRuntimeDir(file, {}, captured.logger);

    expect(prepared).toBeUndefined();
    expect(captured.lines.at(-1)?.level).toBe(40);
    expect(captured.lines.at(-1)?.msg).toBe(
      'The runtime cache is off: runtime_dir is not a folder. Point runtime_dir at a folder on tmpfs, or set it to "" to turn the runtime cache off',
    );
    expect(captured.lines.at(-1)?.problem).toBe(`${file} is a regular file`);
  });

  it("skips a runtime_dir below a file", () => {
    const file = join(makeFolder(), "runtime");
    writeFileSync(file, "");
    const captured = captureLogger();

    const prepared = prepareRuntimeDir(join(file, "cache"), {}, captured.logger);

    expect(prepared).toBeUndefined();
    expect(captured.lines.at(-1)?.problem).toBe(`${file}, above runtime_dir, is a regular file`);
  });

  it("skips a runtime_dir that is a symbolic link", () => {
    const parent = makeFolder();
    const target = join(parent, "target");
    mkdirSync(target, { mode: 0o700 });
    const link = join(parent, "runtime");
    symlinkSync(target, link);
    const captured = captureLogger();

    expect(prepareRuntimeDir(link, {}, captured.logger)).toBeUndefined();
    expect(captured.lines.at(-1)?.problem).toBe(`${link} is a symbolic link`);
  });

  it("follows a symbolic link above runtime_dir", () => {
    const parent = makeFolder();
    const target = join(parent, "target");
    mkdirSync(target, { mode: 0o700 });
    const link = join(parent, "link");
    symlinkSync(target, link);

    expect(prepareRuntimeDir(join(link, "runtime"), {}, captureLogger().logger)).toBe(join(link, "runtime"));
    expect(statSync(join(target, "runtime")).isDirectory()).toBe(true);
  });

  it("is off for an empty setting", () => {
    const captured = captureLogger();

    expect(prepareRuntimeDir("", {}, captured.logger)).toBeUndefined();
    expect(captured.lines[0]?.level).toBe(30);
  });
});

describe("runtimeCacheFilePath", () => {
  it("gives each data_dir its own file", () => {
    const first = runtimeCacheFilePath("/run/tessera", "/var/lib/agent-a");
    const second = runtimeCacheFilePath("/run/tessera", "/var/lib/agent-b");

    expect(first).toMatch(/^\/run\/tessera\/agent-cache-[0-9a-f]{16}\.json$/);
    expect(second).not.toBe(first);
    expect(runtimeCacheFilePath("/run/tessera", "/var/lib/agent-a/")).toBe(first);
  });
});
