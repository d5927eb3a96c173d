import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { writeFileAtomic } from "./atomic-write.js";

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
});
