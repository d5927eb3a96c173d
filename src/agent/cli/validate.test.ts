import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { writeTestBundleFile } from "../config/test-bundle-file.js";
import { captureIo } from "./cli-test-support.js";
import { run } from "./validate.js";

let folder: string;
let bundlePath: string;

beforeEach(() => {
  folder = mkdtempSync(join(tmpdir(), "tessera-validate-"));
  bundlePath = writeTestBundleFile(folder, "bootstrap");
});

afterEach(() => {
  rmSync(folder, { recursive: true, force: true });
});

/** Returns an agent.conf whose paths all lie in the test folder. */
function confText(extraAgent = "", extraPlugins = ""): string {
  return `
agent {
  data_dir = "${join(folder, "data")}"
  log_file = "${join(folder, "logs", "agent.log")}"
  server_address = "127.0.0.1"
  server_port = 8081
  socket_path = "${join(folder, "public", "api.sock")}"
  trust_bundle_path = "${bundlePath}"
  trust_domain = "example.org"
  join_token = "abc"
  ${extraAgent}
}
plugins {
  KeyManager "disk" { plugin_data { directory = "${join(folder, "keys")}" } }
  NodeAttestor "join_token" { plugin_data {} }
  WorkloadAttestor "unix" { plugin_data {} }
  ${extraPlugins}
}
`;
}

/** Writes `text` as the test's agent.conf and returns its path. */
function writeText(text: string): string {
  const path = join(folder, "agent.conf");
  writeFileSync(path, text);
  return path;
}

function writeConf(extraAgent = "", extraPlugins = ""): string {
  return writeText(confText(extraAgent, extraPlugins));
}

async function validate(args: string[], env: NodeJS.ProcessEnv = {}) {
  const io = captureIo(env);
  const code = await run(args, io.io);
  return { code, stdout: io.stdout(), stderr: io.stderr() };
}

describe("tessera-agent validate", () => {
  it("accepts a valid file and creates nothing", async () => {
    const path = writeConf();

    const result = await validate(["-config", path]);

    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`Agent configuration file ${path} is valid.\n`);
    expect(result.stderr).toBe("");
    for (const created of ["data", "logs", "public", "keys"]) {
      expect(existsSync(join(folder, created)), created).toBe(false);
    }
  });

  it("names a misspelt option", async () => {
    const result = await validate(["-config", writeConf('log_levle = "DEBUG"')]);

    expect(result.code).toBe(1);
    expect(result.stdout).toBe("");
    expect(result.stderr).toContain("unknown option agent.log_levle; did you mean log_level?");
  });

  it("names a bad plugin setting", async () => {
    const result = await validate(["-config", writeConf("", 'WorkloadAttestor "docker" { plugin_data { docker_sock_path = "x" } }')]);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain("plugins.WorkloadAttestor.docker");
    expect(result.stderr).toContain("docker_sock_path");
  });

  it("reports a data_dir that is a file", async () => {
    writeFileSync(join(folder, "data"), "");

    const result = await validate(["-config", writeConf()]);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`agent.data_dir ${join(folder, "data")} exists and is not a folder`);
  });

  it("reports a bad log_file and key folder", async () => {
    mkdirSync(join(folder, "logs", "agent.log"), { recursive: true });
    writeFileSync(join(folder, "keys"), "");
    const path = writeText(confText().replace(`directory = "${join(folder, "keys")}"`, `directory = "${join(folder, "keys", "inner")}"`));

    const result = await validate(["-config", path]);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain("agent.log_file");
    expect(result.stderr).toContain("is not a regular file");
    expect(result.stderr).toContain(`plugins.KeyManager.disk.plugin_data.directory ${join(folder, "keys", "inner")} cannot be created: ${join(folder, "keys")} is not a folder`);
    expect(result.stderr.trim().split("\n")).toHaveLength(2);
  });

  it("reports a missing kubelet token", async () => {
    const caPath = join(folder, "kubelet-ca.crt");
    writeFileSync(caPath, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
    const plugin = `WorkloadAttestor "k8s" { plugin_data {\nkubelet_ca_path = "${caPath}"\ntoken_path = "${join(folder, "no-token")}"\n} }`;

    const result = await validate(["-config", writeConf("", plugin)]);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain("plugins.WorkloadAttestor.k8s.plugin_data: failed to read the kubelet bearer token");
  });

  // Root may write to any folder, so the access check cannot fail for root.
  it.skipIf(process.getuid?.() === 0)("reports a folder it may not create in (not as root)", async () => {
    const locked = join(folder, "locked");
    mkdirSync(locked, { mode: 0o500 });
    const result = await validate(["-config", writeConf(`runtime_dir = "${join(locked, "run")}"`)]);
    chmodSync(locked, 0o700);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain("agent.runtime_dir");
  });

  it("expands $VAR and ${VAR} with -expandEnv", async () => {
    const path = writeText(confText().replace('"example.org"', '"${TESSERA_TD}"').replace("server_port = 8081", "server_port = $TESSERA_PORT"));
    const env = { TESSERA_TD: "prod.example", TESSERA_PORT: "9443" };

    const expanded = await validate(["-config", path, "-expandEnv"], env);
    const literal = await validate(["-config", path], env);

    expect(expanded.code, expanded.stderr).toBe(0);
    expect(literal.code).toBe(1);
    expect(literal.stderr).toContain(`unexpected character "$"`);
  });

  it("lets flags fix what the file gets wrong", async () => {
    const path = writeText(confText().replace('trust_domain = "example.org"', 'trust_domain = "Not A Domain"'));

    const broken = await validate(["-config", path]);
    const fixed = await validate(["-config", path, "-trustDomain", "example.org"]);

    expect(broken.code).toBe(1);
    expect(broken.stderr).toContain("agent.trust_domain");
    expect(fixed.code, fixed.stderr).toBe(0);
  });

  it("reports a missing file with the flag to use", async () => {
    const result = await validate(["-config", join(folder, "nope.conf")]);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain("not found: use the -config flag");
  });

  it("rejects an unknown flag", async () => {
    const result = await validate(["-confg", "x"]);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain("-confg");
  });
});
