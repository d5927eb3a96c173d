import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { removeStaleTemporaryFiles, writeFileAtomic } from "./atomic-write.js";

describe("writeFileAtomic", () => {
  const folders: string[] = [];
  afterEach(() => {
    for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
  });

  function makeFolder(): string {
    const folder = mkdtempSync(join(tmpdir(), "tessera-atomic-"));
    folders.push(folder);
    return folder;
  }

  it("replaces existing content", () => {
    const path = join(makeFolder(), "state.json");
    writeFileSync(path, "old");

    writeFileAtomic(path, "new");

    expect(readFileSync(path, "utf8")).toBe("new");
  });

  it("creates the file with mode 0600", () => {
    const path = join(makeFolder(), "key.pem");

    writeFileAtomic(path, "secret");

    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it("leaves no temporary file behind", () => {
    const folder = makeFolder();

    writeFileAtomic(join(folder, "a"), Buffer.from([1, 2, 3]));

    expect(readdirSync(folder)).toEqual(["a"]);
  });

  it("removes the temporary file when the rename fails", () => {
    const folder = makeFolder();
    const target = join(folder, "taken");
    mkdirSync(join(target, "child"), { recursive: true });

    expect(() => writeFileAtomic(target, "data")).toThrow();

    expect(readdirSync(folder)).toEqual(["taken"]);
  });
});

describe("removeStaleTemporaryFiles", () => {
  const folders: string[] = [];
  afterEach(() => {
    for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
  });

  it("removes only the temporary files of that path", () => {
    const folder = mkdtempSync(join(tmpdir(), "tessera-atomic-"));
    folders.push(folder);
    writeFileSync(join(folder, "state.json"), "current");
    writeFileSync(join(folder, ".state.json.123.456.tmp"), "half");
    writeFileSync(join(folder, ".other.json.123.456.tmp"), "other");

    const removed = removeStaleTemporaryFiles(join(folder, "state.json"));

    expect(removed).toBe(1);
    expect(readdirSync(folder).sort()).toEqual([".other.json.123.456.tmp", "state.json"]);
  });
});
