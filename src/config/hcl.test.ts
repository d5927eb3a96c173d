import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";

import { expandEnv, HclParseError, parseConfigText, parseHcl } from "./hcl.js";

const AGENT_CONF = `
# spire-agent configuration in the shape of SPIRE's conf/agent/agent.conf
agent {
    data_dir = "./data/agent"
    log_level = "DEBUG"
    server_address = "127.0.0.1"
    server_port = "8081"
    socket_path ="/tmp/spire-agent/public/api.sock"
    trust_bundle_path = "./conf/agent/dummy_root_ca.crt"
    trust_domain = "example.org"
    authorized_delegates = [
        "spiffe://example.org/authorized_client1",
        "spiffe://example.org/authorized_client2", // trailing comma below is allowed
    ]

    sds {
        default_svid_name = "default"
        default_bundle_name = "ROOTCA"
    }

    experimental {
        sync_interval = "5s"
    }
}

plugins {
    NodeAttestor "join_token" {
        plugin_data {
        }
    }
    KeyManager "disk" {
        plugin_data {
            directory = "./data/agent"
        }
    }
    WorkloadAttestor "k8s" {
        plugin_data {
            # Defaults to the secure kubelet port by default.
            skip_kubelet_verification = true
        }
    }
    WorkloadAttestor "unix" {
        plugin_data {
            discover_workload_path = true
        }
    }
}

health_checks {
    listener_enabled = true
    bind_address = "127.0.0.1"
    bind_port = 8080
    live_path = "/live"
    ready_path = "/ready"
}

telemetry {
    Prometheus {
        host = "127.0.0.1"
        port = 9988
    }
}
`;

const SERVER_CONF = `
server {
    bind_address = "127.0.0.1"
    bind_port = "8081"
    socket_path = "/tmp/spire-server/private/api.sock"
    trust_domain = "example.org"
    data_dir = "./data/server"
    log_level = "DEBUG"
    ca_ttl = "168h"
    default_x509_svid_ttl = "1h"
    ca_subject {
        country = ["US"]
        organization = ["SPIFFE"]
        common_name = ""
    }
    federation {
        bundle_endpoint {
            address = "127.0.0.1"
            port = 8443
        }
        federates_with "domain.test" {
            bundle_endpoint_url = "https://127.0.0.1:8444"
            bundle_endpoint_profile "https_spiffe" {
                endpoint_spiffe_id = "spiffe://domain.test/spire/server"
            }
        }
    }
}

plugins {
    DataStore "sql" {
        plugin_data {
            database_type = "sqlite3"
            connection_string = "./data/server/datastore.sqlite3"
        }
    }
    NodeAttestor "join_token" {
        plugin_data {}
    }
    KeyManager "memory" {
        plugin_data = {}
    }
    UpstreamAuthority "disk" {
        plugin_data {
            key_file_path = "./conf/server/dummy_upstream_ca.key"
            cert_file_path = "./conf/server/dummy_upstream_ca.crt"
        }
    }
}
`;

function parseError(text: string, fileName?: string): HclParseError {
  try {
    parseHcl(text, fileName);
  } catch (error) {
    if (error instanceof HclParseError) {
      return error;
    }
    throw error;
  }
  throw new Error(`expected a parse error for ${JSON.stringify(text)}`);
}

describe("parseHcl on SPIRE config files", () => {
  it("decodes agent.conf", () => {
    const config = parseHcl(AGENT_CONF, "agent.conf");

    expect(config.agent).toMatchObject({
      data_dir: "./data/agent",
      server_port: "8081",
      trust_domain: "example.org",
      authorized_delegates: ["spiffe://example.org/authorized_client1", "spiffe://example.org/authorized_client2"],
      sds: { default_svid_name: "default", default_bundle_name: "ROOTCA" },
      experimental: { sync_interval: "5s" },
    });
    expect(config.plugins).toEqual({
      NodeAttestor: { join_token: { plugin_data: {} } },
      KeyManager: { disk: { plugin_data: { directory: "./data/agent" } } },
      WorkloadAttestor: {
        k8s: { plugin_data: { skip_kubelet_verification: true } },
        unix: { plugin_data: { discover_workload_path: true } },
      },
    });
    expect(config.health_checks).toEqual({
      listener_enabled: true,
      bind_address: "127.0.0.1",
      bind_port: 8080,
      live_path: "/live",
      ready_path: "/ready",
    });
    expect(config.telemetry).toEqual({ Prometheus: { host: "127.0.0.1", port: 9988 } });
  });

  it("decodes server.conf", () => {
    const config = parseHcl(SERVER_CONF, "server.conf");
    const server = config.server as Record<string, unknown>;

    expect(server.ca_subject).toEqual({ country: ["US"], organization: ["SPIFFE"], common_name: "" });
    expect(server.federation).toEqual({
      bundle_endpoint: { address: "127.0.0.1", port: 8443 },
      federates_with: {
        "domain.test": {
          bundle_endpoint_url: "https://127.0.0.1:8444",
          bundle_endpoint_profile: { https_spiffe: { endpoint_spiffe_id: "spiffe://domain.test/spire/server" } },
        },
      },
    });
    expect(Object.keys(config.plugins as object)).toEqual(["DataStore", "NodeAttestor", "KeyManager", "UpstreamAuthority"]);
    expect((config.plugins as Record<string, Record<string, unknown>>).KeyManager).toEqual({ memory: { plugin_data: {} } });
  });
});

describe("parseHcl syntax", () => {
  const cases: Array<[string, string, Record<string, unknown>]> = [
    ["empty file", "", {}],
    ["only comments", "# a\n// b\n/* c\n d */", {}],
    ["hash comment after value", "a = 1 # note", { a: 1 }],
    ["slash comment after value", "a = 1 // note", { a: 1 }],
    ["block comment inside item", "a /* x */ = /* y */ 1", { a: 1 }],
    ["block comment with stars", "/** a * b **/ a = 1", { a: 1 }],
    ["quoted key", '"my key" = "v"', { "my key": "v" }],
    ["identifier with dash and dot", "a-b.c_d = 1", { "a-b.c_d": 1 }],
    ["several items on one line", "a = 1 b = 2", { a: 1, b: 2 }],
    ["comma-separated items", "a = 1, b = 2", { a: 1, b: 2 }],
    ["string escapes", String.raw`s = "q\" b\\ n\n t\t u\u00e9 U\U0001F600 x\x41 o\101"`, { s: 'q" b\\ n\n t\t ué U😀 xA oA' }],
    ["bell and vertical tab escapes", String.raw`s = "\a\v\f\r\b"`, { s: "\x07\v\f\r\b" }],
    ["interpolation kept literally", 's = "${var.a["k"]} and ${x}"', { s: '${var.a["k"]} and ${x}' }],
    ["escapes not decoded in interpolation", 's = "${a\\n}"', { s: "${a\\n}" }],
    ["non-ASCII text", 's = "日本"', { s: "日本" }],
    ["empty string", 's = ""', { s: "" }],
    ["integer", "n = 42", { n: 42 }],
    ["zero", "n = 0", { n: 0 }],
    ["negative integer", "n = -7", { n: -7 }],
    ["float", "n = 1.5", { n: 1.5 }],
    ["negative float", "n = -0.25", { n: -0.25 }],
    ["float without leading digit", "n = .5", { n: 0.5 }],
    ["exponent", "n = 1e3", { n: 1000 }],
    ["negative exponent", "n = 25E-1", { n: 2.5 }],
    ["hex integer", "n = 0x1F", { n: 31 }],
    ["octal integer", "n = 0644", { n: 420 }],
    ["booleans", "t = true\nf = false", { t: true, f: false }],
    ["empty list", "l = []", { l: [] }],
    ["list with trailing comma", "l = [1, 2,]", { l: [1, 2] }],
    ["multi-line list with comments", 'l = [\n  "a", # first\n  "b" // second\n]', { l: ["a", "b"] }],
    ["nested lists", "l = [[1], [2, 3]]", { l: [[1], [2, 3]] }],
    ["list of objects", 'l = [{ id = "a" }, { id = "b", n = 1 }]', { l: [{ id: "a" }, { id: "b", n: 1 }] }],
    ["mixed list", 'l = [1, "a", true, 1.5]', { l: [1, "a", true, 1.5] }],
    ["object value", "o = { a = 1 }", { o: { a: 1 } }],
    ["empty block", "b {}", { b: {} }],
    ["nested blocks", "a { b { c = 1 } }", { a: { b: { c: 1 } } }],
    ["labelled block", 'T "x" { a = 1 }', { T: { x: { a: 1 } } }],
    ["two labels", 'T "a" "b" {}', { T: { a: { b: {} } } }],
    ["identifier labels", "T x y {}", { T: { x: { y: {} } } }],
    ["quoted block name", '"T" "x" {}', { T: { x: {} } }],
    ["labelled blocks merge", 'T "a" { v = 1 }\nT "b" { v = 2 }', { T: { a: { v: 1 }, b: { v: 2 } } }],
    ["two-label blocks merge", 'T "a" "x" {}\nT "a" "y" {}\nT "b" "x" {}', { T: { a: { x: {}, y: {} }, b: { x: {} } } }],
    ["proto key stays data", '"__proto__" = 1', JSON.parse('{"__proto__": 1}') as Record<string, unknown>],
    ["CRLF line endings", "a = 1\r\nb {\r\n  c = 2\r\n}\r\n", { a: 1, b: { c: 2 } }],
  ];

  for (const [name, text, expected] of cases) {
    it(name, () => {
      expect(parseHcl(text)).toEqual(expected);
    });
  }

  it("proto key does not change the prototype", () => {
    const config = parseHcl('"__proto__" { polluted = true }');
    expect(Object.getPrototypeOf(config)).toBe(Object.prototype);
    expect(Object.hasOwn(config, "__proto__")).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe("parseHcl heredocs", () => {
  const cases: Array<[string, string, string]> = [
    ["plain heredoc", "h = <<EOF\nline 1\n  line 2\nEOF\n", "line 1\n  line 2\n"],
    ["empty heredoc", "h = <<EOF\nEOF\n", ""],
    ["marker at end of file", "h = <<EOF\nabc\nEOF", "abc\n"],
    ["other marker name", "h = <<END_1\nEOF\nEND_1\n", "EOF\n"],
    ["indented closing marker", "h = <<EOF\nabc\n   EOF\n", "abc\n"],
    ["indented heredoc", "h = <<-EOF\n    a\n      b\n    EOF\n", "a\n  b\n"],
    ["indented heredoc with short line", "h = <<-EOF\n    a\n  b\n    EOF\n", "    a\n  b\n"],
    ["indented heredoc with blank line", "h = <<-EOF\n    a\n\n    b\n    EOF\n", "    a\n\n    b\n"],
    ["indented heredoc with tabs", "h = <<-EOF\n\t\tx\n\t\tEOF\n", "x\n"],
    ["CRLF heredoc", "h = <<EOF\r\nabc\r\nEOF\r\n", "abc\r\n"],
    ["quotes and hashes kept", 'h = <<EOF\n"q" # not a comment\nEOF\n', '"q" # not a comment\n'],
  ];

  for (const [name, text, expected] of cases) {
    it(name, () => {
      expect(parseHcl(text).h).toBe(expected);
    });
  }

  it("value followed by more items", () => {
    expect(parseHcl("a { h = <<EOF\nx\nEOF\n  b = 1\n}")).toEqual({ a: { h: "x\n", b: 1 } });
  });

  it("heredoc in a list", () => {
    expect(parseHcl("l = [<<EOF\nx\nEOF\n, 2]")).toEqual({ l: ["x\n", 2] });
  });
});

describe("parseHcl errors", () => {
  const cases: Array<[string, string, string]> = [
    ["missing value", "a =", 'agent.conf:1:4: expected the value of "a", found end of file'],
    ["missing equals", "a 1", 'agent.conf:1:3: expected "=" or "{" after "a", found number 1'],
    ["bare identifier value", "a = b", 'agent.conf:1:5: expected the value of "a", found identifier b; write text in double quotes'],
    ["unquoted duration", "a = 10s", 'agent.conf:1:5: invalid number "10s"; write durations and other text in double quotes, e.g. "10s"'],
    ["unclosed block", "a {\n  b = 1\n", 'agent.conf:3:1: expected "}", found end of file'],
    ["stray closing brace", "}", 'agent.conf:1:1: expected a key, found "}"'],
    ["unterminated string", 'a = "abc\nb = 1', "agent.conf:1:5: string is not terminated: expected a closing double quote on the same line"],
    ["unterminated block comment", "a = 1 /* x", 'agent.conf:1:7: block comment is not terminated: expected "*/"'],
    ["single slash", "a = 1 / 2", 'agent.conf:1:7: unexpected "/": comments start with "//", "#" or "/*"'],
    ["single quotes", "a = 'x'", "agent.conf:1:5: unexpected \"'\": strings use double quotes"],
    ["invalid escape", String.raw`a = "\q"`, 'agent.conf:1:6: invalid escape sequence "\\q"'],
    ["short unicode escape", String.raw`a = "\u12"`, 'agent.conf:1:6: invalid escape "\\u": expected 4 hexadecimal digits'],
    ["surrogate escape", String.raw`a = "\ud800"`, 'agent.conf:1:6: invalid escape "\\ud800": not a Unicode code point'],
    ["list without comma", "a = [1 2]", 'agent.conf:1:8: expected "," or "]" in the list, found number 2'],
    ["unclosed list", "a = [1,", 'agent.conf:1:8: expected a list element or "]", found end of file'],
    ["labels with equals", 'a "b" = 1', 'agent.conf:1:7: expected "{" after the labels of block "a" "b", found "="'],
    ["duplicate key", "a = 1\na = 2", 'agent.conf:2:1: duplicate key "a" (first set at line 1): each setting and unlabelled block may appear only once'],
    ["duplicate block", "agent {}\n\nagent {}", 'agent.conf:3:1: duplicate key "agent" (first set at line 1): each setting and unlabelled block may appear only once'],
    ["duplicate labelled block", 'T "x" {}\nT "x" {}', 'agent.conf:2:3: duplicate key "T" "x" (first set at line 1): each setting and unlabelled block may appear only once'],
    ["block after labelled block", 'T "x" {}\nT {}', 'agent.conf:2:1: duplicate key "T" (first set at line 1): each setting and unlabelled block may appear only once'],
    ["labelled block after block", 'T {}\nT "x" {}', 'agent.conf:2:1: duplicate key "T" (first set at line 1): each setting and unlabelled block may appear only once'],
    ["duplicate key in nested block", "a {\n  b = 1\n  b = 2\n}", 'agent.conf:3:3: duplicate key "b" (first set at line 2): each setting and unlabelled block may appear only once'],
    ["heredoc without marker", "a = <<\nx\n", "agent.conf:1:5: heredoc marker is missing: expected a name such as EOF right after <<"],
    ["heredoc text after marker", "a = <<EOF x\nEOF\n", "agent.conf:1:5: invalid heredoc anchor: expected a newline right after <<EOF"],
    ["unterminated heredoc", "a = <<EOF\nabc\n", "agent.conf:1:5: heredoc is not terminated: expected a line containing only EOF"],
    ["single less-than", "a = <EOF", 'agent.conf:1:5: unexpected "<": a heredoc starts with "<<" followed by a marker, e.g. <<EOF'],
    ["illegal octal", "a = 089", 'agent.conf:1:5: invalid number "089"; write durations and other text in double quotes, e.g. "10s"'],
    ["unsafe integer", "a = 9007199254740993", 'agent.conf:1:5: invalid number "9007199254740993"; write durations and other text in double quotes, e.g. "10s"'],
    ["unexpected character", "a = (1)", 'agent.conf:1:5: unexpected character "("'],
    ["unclosed interpolation", 'a = "${x"', 'agent.conf:1:6: interpolation "${" is not closed with "}" before the end of the file'],
    ["column after tabs and lines", "a {\n\tb = 1\n\tc = ]\n}", 'agent.conf:3:6: expected the value of "c", found "]"'],
  ];

  for (const [name, text, message] of cases) {
    it(name, () => {
      const error = parseError(text, "agent.conf");
      expect(error.message).toBe(message);
    });
  }

  it("error carries position fields", () => {
    const error = parseError("a {\n  b = \n}", "server.conf");
    expect(error.fileName).toBe("server.conf");
    expect(error.line).toBe(3);
    expect(error.column).toBe(1);
  });

  it("default file name", () => {
    expect(parseError("a =").message).toMatch(/^config:1:4: /);
  });

  it("deep nesting", () => {
    expect(parseError(`a = ${"[".repeat(200)}`).message).toMatch(/nesting is deeper than 100 levels/);
  });
});

describe("parseHcl fuzzing", () => {
  const fragments = ["a", "=", "{", "}", "[", "]", ",", '"', "\\", "<<", "EOF", "\n", "#", "//", "/*", "*/", "-", "1", ".", "e", "0x", "${", " ", "true", '"s"', "<<-"];

  it("random bytes throw only HclParseError", () => {
    for (let round = 0; round < 3000; round++) {
      const text = randomBytes(1 + (round % 64)).toString("latin1");
      expectOnlyParseErrors(text);
    }
  });

  it("random token soup throws only HclParseError", () => {
    for (let round = 0; round < 3000; round++) {
      const count = 1 + (round % 40);
      let text = "";
      for (let index = 0; index < count; index++) {
        text += fragments[Math.floor(Math.random() * fragments.length)];
      }
      expectOnlyParseErrors(text);
    }
  });
});

function expectOnlyParseErrors(text: string): void {
  try {
    parseHcl(text);
    parseConfigText(text);
  } catch (error) {
    if (!(error instanceof HclParseError)) {
      throw new Error(`input ${JSON.stringify(text)} threw ${String(error)}`);
    }
  }
}

describe("parseConfigText", () => {
  it("reads JSON", () => {
    const json = JSON.stringify({ agent: { trust_domain: "example.org" }, plugins: { NodeAttestor: { join_token: {} } } });
    expect(parseConfigText(`  \n${json}`, "agent.json")).toEqual(JSON.parse(json));
  });

  it("reads HCL", () => {
    expect(parseConfigText('agent { trust_domain = "example.org" }')).toEqual({ agent: { trust_domain: "example.org" } });
  });

  it("treats comment then brace as HCL", () => {
    expect(() => parseConfigText('# c\n{ "a": 1 }')).toThrow(HclParseError);
  });

  it("reports JSON errors with position", () => {
    expect(() => parseConfigText('{\n  "a": 1,\n}', "agent.json")).toThrow(/^agent\.json:3:1: invalid JSON: /);
  });

  it("rejects JSON that is not an object", () => {
    expect(() => parseConfigText("{} []", "a.json")).toThrow(/^a\.json:1:4: invalid JSON/);
  });
});

describe("expandEnv", () => {
  const env = { HOME: "/root", TD: "example.org", EMPTY: "", "1": "one", $: "dollar" };
  const cases: Array<[string, string, string]> = [
    ["dollar name", "$HOME/x", "/root/x"],
    ["braced name", "${TD}.conf", "example.org.conf"],
    ["name ends at non-name char", "$TD-x", "example.org-x"],
    ["unset variable", "a${UNSET}b$UNSET", "ab"],
    ["empty variable", "[$EMPTY]", "[]"],
    ["trailing dollar", "cost $", "cost $"],
    ["dollar before space", "a $ b", "a $ b"],
    ["empty braces dropped", "a${}b", "ab"],
    ["unterminated braces", "a${TD", "aTD"],
    ["special variable", "$1 ${1} $$", "one one dollar"],
    ["no variables", 'trust_domain = "x"', 'trust_domain = "x"'],
    ["in HCL text", 'trust_domain = "${TD}"', 'trust_domain = "example.org"'],
  ];

  for (const [name, text, expected] of cases) {
    it(name, () => {
      expect(expandEnv(text, env)).toBe(expected);
    });
  }
});
