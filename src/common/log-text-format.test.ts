import { describe, expect, it } from "vitest";

import { createTextDestination, formatTextLine } from "./log-text-format.js";

describe("formatTextLine", () => {
  it("puts time, level and msg first", () => {
    const line = formatTextLine('{"level":"info","zeta":1,"time":"2024-01-02T03:04:05.006Z","msg":"Starting agent","alpha":"a"}\n');

    expect(line).toBe('time="2024-01-02T03:04:05.006Z" level=info msg="Starting agent" alpha=a zeta=1\n');
  });

  it("spells warn as warning", () => {
    expect(formatTextLine('{"level":"warn","msg":"m"}')).toBe("level=warning msg=m\n");
  });

  it("quotes values with special characters", () => {
    const line = formatTextLine(JSON.stringify({ a: "plain-value_1.2/x@y", b: "two words", c: 'say "hi"', d: "", e: "line\nbreak" }));

    expect(line).toBe('a=plain-value_1.2/x@y b="two words" c="say \\"hi\\"" d="" e="line\\nbreak"\n');
  });

  it("prints arrays as Go slices", () => {
    expect(formatTextLine(JSON.stringify({ selectors: ["unix:uid:0", "unix:gid:0"], one: ["x"] }))).toBe(
      'one="[x]" selectors="[unix:uid:0 unix:gid:0]"\n',
    );
  });

  it("prints objects as quoted JSON", () => {
    expect(formatTextLine(JSON.stringify({ err: { type: "Error", message: "boom" }, nothing: null, ok: true }))).toBe(
      'err="{\\"type\\":\\"Error\\",\\"message\\":\\"boom\\"}" nothing=null ok=true\n',
    );
  });

  it("quotes a key with spaces", () => {
    expect(formatTextLine(JSON.stringify({ "odd key": 1 }))).toBe('"odd key"=1\n');
  });

  it("returns other input unchanged", () => {
    expect(formatTextLine("not json\n")).toBe("not json\n");
    expect(formatTextLine("[1,2]\n")).toBe("[1,2]\n");
  });
});

describe("createTextDestination", () => {
  it("writes formatted lines to the target", () => {
    const written: string[] = [];
    const destination = createTextDestination({ write: (text) => written.push(text) });

    destination.write('{"level":"error","msg":"failed"}\n');

    expect(written).toEqual(["level=error msg=failed\n"]);
  });
});
