import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createAccountNamesReader, parseIdNameLines } from "./account-names.js";

describe("parseIdNameLines", () => {
  it("maps ids to the first name", () => {
    const names = parseIdNameLines("root:x:0:0:root:/root:/bin/bash\ntoor:x:0:0::/:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n");

    expect(names.get(0)).toBe("root");
    expect(names.get(65534)).toBe("nobody");
  });

  it("skips comments, NIS lines and malformed lines", () => {
    const names = parseIdNameLines("# comment\n+@netgroup::::::\n-baduser\nbroken\nno-id:x:abc:\nok:x:7:\n");

    expect([...names.entries()]).toEqual([[7, "ok"]]);
  });
});

describe("createAccountNamesReader", () => {
  it("re-reads names after a file changes", async () => {
    const folder = mkdtempSync(join(tmpdir(), "tessera-accounts-"));
    const files = { passwdPath: join(folder, "passwd"), groupPath: join(folder, "group") };
    writeFileSync(files.passwdPath, "alice:x:1000:1000::/home/alice:/bin/sh\n");
    writeFileSync(files.groupPath, "staff:x:50:\n");
    const readNames = createAccountNamesReader(files);

    const before = await readNames();
    writeFileSync(files.passwdPath, "bob:x:1000:1000::/home/bob:/bin/sh\nalice:x:1001:1001::/home/alice:/bin/sh\n");
    const after = await readNames();

    expect(before.userName(1000)).toBe("alice");
    expect(after.userName(1000)).toBe("bob");
    expect(after.userName(1001)).toBe("alice");
    expect(after.groupName(50)).toBe("staff");
    rmSync(folder, { recursive: true, force: true });
  });

  it("gives no names when the files are missing", async () => {
    const readNames = createAccountNamesReader({ passwdPath: "/nonexistent/passwd", groupPath: "/nonexistent/group" });

    const names = await readNames();

    expect(names.userName(0)).toBeUndefined();
    expect(names.groupName(0)).toBeUndefined();
  });
});
