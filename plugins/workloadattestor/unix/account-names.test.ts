import { describe, expect, it } from "vitest";
import { parseIdNameLines } from "./account-names.js";

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
