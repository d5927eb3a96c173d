import { describe, expect, it } from "vitest";

import { FlagError, formatDuration, formatUsage, parseDuration, parseFlags } from "./flags.js";
import type { FlagSpec } from "./flags.js";

const RUN_FLAGS: FlagSpec[] = [
  { name: "config", type: "string", usage: "Path to a SPIRE config file", default: "conf/agent/agent.conf" },
  { name: "socketPath", type: "string", usage: "Path to bind the SPIRE Agent API socket to" },
  { name: "expandEnv", type: "bool", usage: "Expand environment variables in SPIRE config file" },
  { name: "serverPort", type: "int", usage: "Port number of SPIRE server" },
  { name: "timeout", type: "duration", usage: "Time to wait for a response (duration)", default: 5000 },
  { name: "selector", type: "string", usage: "A colon-delimited type:value selector; repeat for more", repeatable: true },
];

describe("parseFlags", () => {
  it("applies defaults", () => {
    const parsed = parseFlags([], RUN_FLAGS);
    expect(parsed.values).toEqual({ config: "conf/agent/agent.conf", expandEnv: false, timeout: 5000, selector: [] });
    expect(parsed.provided.size).toBe(0);
    expect(parsed.rest).toEqual([]);
    expect(parsed.helpRequested).toBe(false);
  });

  const forms: Array<[string, string[]]> = [
    ["single dash and separate value", ["-config", "a.conf"]],
    ["single dash with equals", ["-config=a.conf"]],
    ["double dash and separate value", ["--config", "a.conf"]],
    ["double dash with equals", ["--config=a.conf"]],
  ];
  for (const [name, args] of forms) {
    it(`reads ${name}`, () => {
      const parsed = parseFlags(args, RUN_FLAGS);
      expect(parsed.values.config).toBe("a.conf");
      expect(parsed.provided.has("config")).toBe(true);
    });
  }

  it("keeps equals signs in the value", () => {
    expect(parseFlags(["-config=a=b"], RUN_FLAGS).values.config).toBe("a=b");
  });

  it("accepts an empty value after equals", () => {
    expect(parseFlags(["-config="], RUN_FLAGS).values.config).toBe("");
  });

  it("takes a dash-leading separate value", () => {
    expect(parseFlags(["-config", "-x"], RUN_FLAGS).values.config).toBe("-x");
  });

  it("sets a bool flag without value", () => {
    expect(parseFlags(["-expandEnv"], RUN_FLAGS).values.expandEnv).toBe(true);
  });

  const bools: Array<[string, boolean]> = [
    ["false", false],
    ["0", false],
    ["F", false],
    ["FALSE", false],
    ["true", true],
    ["1", true],
    ["t", true],
    ["True", true],
  ];
  for (const [text, expected] of bools) {
    it(`reads bool value ${text}`, () => {
      expect(parseFlags([`-expandEnv=${text}`], RUN_FLAGS).values.expandEnv).toBe(expected);
    });
  }

  it("does not consume a word after a bool flag", () => {
    const parsed = parseFlags(["-expandEnv", "false", "-config", "x"], RUN_FLAGS);
    expect(parsed.values.expandEnv).toBe(true);
    expect(parsed.rest).toEqual(["false", "-config", "x"]);
  });

  it("reads int values with Go prefixes", () => {
    expect(parseFlags(["-serverPort", "8081"], RUN_FLAGS).values.serverPort).toBe(8081);
    expect(parseFlags(["-serverPort=0x1F"], RUN_FLAGS).values.serverPort).toBe(31);
    expect(parseFlags(["-serverPort=010"], RUN_FLAGS).values.serverPort).toBe(8);
    expect(parseFlags(["-serverPort=-3"], RUN_FLAGS).values.serverPort).toBe(-3);
    expect(parseFlags(["-serverPort=1_000"], RUN_FLAGS).values.serverPort).toBe(1000);
  });

  it("reads duration values in milliseconds", () => {
    expect(parseFlags(["-timeout", "1m30s"], RUN_FLAGS).values.timeout).toBe(90_000);
  });

  it("collects repeatable flags", () => {
    const parsed = parseFlags(["-selector", "unix:uid:0", "--selector=k8s:ns:default"], RUN_FLAGS);
    expect(parsed.values.selector).toEqual(["unix:uid:0", "k8s:ns:default"]);
  });

  it("keeps the last of a repeated flag", () => {
    expect(parseFlags(["-config", "a", "-config", "b"], RUN_FLAGS).values.config).toBe("b");
  });

  it("stops at the first positional argument", () => {
    const parsed = parseFlags(["-config", "a", "fetch", "-socketPath", "x"], RUN_FLAGS);
    expect(parsed.rest).toEqual(["fetch", "-socketPath", "x"]);
    expect(parsed.provided.has("socketPath")).toBe(false);
  });

  it("stops after double dash", () => {
    expect(parseFlags(["--", "-config", "a"], RUN_FLAGS).rest).toEqual(["-config", "a"]);
  });

  it("stops at a lone dash", () => {
    expect(parseFlags(["-", "x"], RUN_FLAGS).rest).toEqual(["-", "x"]);
  });

  for (const help of ["-h", "-help", "--help", "--h"]) {
    it(`requests help for ${help}`, () => {
      expect(parseFlags([help], RUN_FLAGS).helpRequested).toBe(true);
    });
  }

  it("treats a defined help flag as a normal flag", () => {
    const parsed = parseFlags(["-h"], [{ name: "h", type: "bool", usage: "x" }]);
    expect(parsed.helpRequested).toBe(false);
    expect(parsed.values.h).toBe(true);
  });

  const errors: Array<[string, string[], string]> = [
    ["unknown flag", ["-bogus"], 'unknown flag -bogus; run "tessera-agent run -help" to list the flags'],
    ["unknown flag with value", ["--bogus=1"], 'unknown flag -bogus; run "tessera-agent run -help" to list the flags'],
    ["missing value", ["-config"], "flag -config needs a value (string)"],
    ["bad bool", ["-expandEnv=yes"], 'invalid value "yes" for flag -expandEnv: expected a boolean (true or false)'],
    ["bad int", ["-serverPort", "80a"], 'invalid value "80a" for flag -serverPort: expected an integer'],
    ["bad octal int", ["-serverPort", "09"], 'invalid value "09" for flag -serverPort: expected an integer'],
    ["int above 32 bits", ["-serverPort", "4294967297"], 'invalid value "4294967297" for flag -serverPort: expected an integer from -2147483648 to 2147483647'],
    ["int below 32 bits", ["-serverPort", "-2147483649"], 'invalid value "-2147483649" for flag -serverPort: expected an integer from -2147483648 to 2147483647'],
    ["bad duration", ["-timeout", "5"], 'invalid value "5" for flag -timeout: expected a duration such as "10s" or "1h30m"'],
    ["triple dash", ["---config"], "bad flag syntax: ---config"],
    ["empty name", ["-=x"], "bad flag syntax: -=x"],
  ];
  for (const [name, args, message] of errors) {
    it(`rejects ${name}`, () => {
      expect(() => parseFlags(args, RUN_FLAGS, { command: "tessera-agent run" })).toThrow(FlagError);
      expect(() => parseFlags(args, RUN_FLAGS, { command: "tessera-agent run" })).toThrow(message);
    });
  }

  it("suggests -help without a command name", () => {
    expect(() => parseFlags(["-x"], RUN_FLAGS)).toThrow("unknown flag -x; run with -help to list the flags");
  });
});

describe("formatUsage", () => {
  it("lists flags sorted with types and defaults", () => {
    expect(formatUsage("tessera-agent run", RUN_FLAGS)).toBe(
      [
        "Usage of tessera-agent run:",
        "  -config string",
        '    \tPath to a SPIRE config file (default "conf/agent/agent.conf")',
        "  -expandEnv",
        "    \tExpand environment variables in SPIRE config file",
        "  -selector string (repeatable)",
        "    \tA colon-delimited type:value selector; repeat for more",
        "  -serverPort int",
        "    \tPort number of SPIRE server",
        "  -socketPath string",
        "    \tPath to bind the SPIRE Agent API socket to",
        "  -timeout duration",
        "    \tTime to wait for a response (duration) (default 5s)",
        "",
      ].join("\n"),
    );
  });

  it("shows non-zero int and true bool defaults", () => {
    const usage = formatUsage("x", [
      { name: "port", type: "int", usage: "Port", default: 8081 },
      { name: "on", type: "bool", usage: "On", default: true },
    ]);
    expect(usage).toContain("Port (default 8081)");
    expect(usage).toContain("On (default true)");
  });
});

describe("parseDuration", () => {
  const valid: Array<[string, number]> = [
    ["0", 0],
    ["-0", 0],
    ["5s", 5000],
    ["+5s", 5000],
    ["-5s", -5000],
    ["300ms", 300],
    ["1h30m", 5_400_000],
    ["2h45m10s", 9_910_000],
    ["1.5h", 5_400_000],
    ["1.s", 1000],
    [".5s", 500],
    ["10m", 600_000],
    ["1us", 0.001],
    ["1µs", 0.001],
    ["1μs", 0.001],
    ["1500ns", 0.0015],
    ["1h1m1s1ms", 3_661_001],
    ["0.000001s", 0.001],
    ["168h", 604_800_000],
  ];
  for (const [text, expected] of valid) {
    it(`reads ${text}`, () => {
      expect(parseDuration(text)).toBeCloseTo(expected, 9);
    });
  }

  const invalid = ["", "5", "s", "1d", "1h30", ".s", "-", "1 s", "1S", "5s5", "1e3s", "9999999999h"];
  for (const text of invalid) {
    it(`rejects ${JSON.stringify(text)}`, () => {
      expect(() => parseDuration(text)).toThrow(FlagError);
      expect(() => parseDuration(text)).toThrow(`invalid duration ${JSON.stringify(text)}`);
    });
  }
});

describe("formatDuration", () => {
  const cases: Array<[number, string]> = [
    [0, "0s"],
    [5000, "5s"],
    [1500, "1.5s"],
    [90_000, "1m30s"],
    [5_400_000, "1h30m0s"],
    [300, "300ms"],
    [0.5, "500µs"],
    [0.000001, "1ns"],
    [-2000, "-2s"],
  ];
  for (const [milliseconds, expected] of cases) {
    it(`formats ${expected}`, () => {
      expect(formatDuration(milliseconds)).toBe(expected);
      expect(parseDuration(expected)).toBeCloseTo(milliseconds, 9);
    });
  }
});
