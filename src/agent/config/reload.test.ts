import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

import type { WorkloadAttestor } from "../../../plugins/workloadattestor/workload-attestor.js";
import { createLogger, createLogLevelController } from "../../common/log.js";
import type { Logger, LogLevelController } from "../../common/log.js";
import type { AgentConfig } from "./agent-config.js";
import { loadAgentConfig, parseAgentConfig } from "./load-agent-config.js";
import { createConfigReloader, planConfigReload } from "./reload.js";
import type { ReconfigurableAgent } from "./reload.js";

interface ConfText {
  agent?: string;
  unix?: string;
}

function confText({ agent = "", unix = "" }: ConfText = {}): string {
  return `
agent {
  server_address = "127.0.0.1"
  server_port = 8081
  trust_domain = "example.org"
  insecure_bootstrap = true
  join_token = "abc"
  ${agent}
}
plugins {
  KeyManager "memory" { plugin_data {} }
  NodeAttestor "join_token" { plugin_data {} }
  WorkloadAttestor "unix" { plugin_data { ${unix} } }
}
`;
}

function conf(parts: ConfText = {}): AgentConfig {
  return parseAgentConfig(confText(parts), "agent.conf");
}

describe("planConfigReload", () => {
  it("finds nothing for the same file", () => {
    expect(planConfigReload(conf(), conf())).toEqual({ reloadable: [], restartRequired: [] });
  });

  it("splits reloadable settings from the rest", () => {
    const next = conf({
      agent: 'log_level = "DEBUG"\nlog_selectors = ["k8s:ns"]\nx509_svid_cache_max_size = 10\nexperimental { sync_interval = "2s" }',
      unix: "discover_workload_path = true",
    });

    const plan = planConfigReload(conf(), next);

    expect(plan.reloadable.sort()).toEqual(["logLevel", "logSelectors", "workloadAttestors"]);
    expect(plan.restartRequired).toEqual(["agent.experimental.sync_interval", "agent.x509_svid_cache_max_size"]);
  });

  it("names plugin and server changes as agent.conf does", () => {
    const next = parseAgentConfig(
      confText({ agent: 'socket_path = "/tmp/other.sock"' }).replace('KeyManager "memory" { plugin_data {} }', 'KeyManager "disk" { plugin_data { directory = "/tmp/k" } }'),
      "agent.conf",
    );

    expect(planConfigReload(conf(), next).restartRequired).toEqual(["agent.socket_path", "plugins.KeyManager"]);
  });
});

describe("createConfigReloader", () => {
  let folder: string;
  let configPath: string;
  let logPath: string;
  let logger: Logger;
  let levels: LogLevelController;
  let agent: ReconfigurableAgent & { attestorSettings: AgentConfig["workloadAttestors"][]; logSelectors: (readonly string[])[]; closed: string[] };

  beforeEach(() => {
    folder = mkdtempSync(join(tmpdir(), "tessera-reload-"));
    configPath = join(folder, "agent.conf");
    logPath = join(folder, "agent.log");
    writeFileSync(configPath, confText());
    logger = createLogger({ name: "tessera-test", destination: logPath, level: "INFO" });
    levels = createLogLevelController(logger);

    const closed: string[] = [];
    let current: WorkloadAttestor[] = [{ name: "unix", attest: () => Promise.resolve([]), close: () => closed.push("first") }];
    agent = {
      attestorSettings: [],
      logSelectors: [],
      closed,
      replaceWorkloadAttestors(settings) {
        if (settings.unix?.workloadSizeLimit === 13) throw new Error("plugin failed to start");
        this.attestorSettings.push(settings);
        const previous = current;
        current = [{ name: "unix", attest: () => Promise.resolve([]), close: () => closed.push("second") }];
        return previous;
      },
      setLogSelectors(prefixes) {
        this.logSelectors.push(prefixes);
      },
    };
  });

  afterEach(() => {
    rmSync(folder, { recursive: true, force: true });
  });

  function reloader(retireDelayMs = 60_000) {
    const created = createConfigReloader({ initial: loadAgentConfig({ configPath }), load: () => loadAgentConfig({ configPath }), logLevels: levels, logger, retireDelayMs });
    created.attach(agent);
    return created;
  }

  function logLines(): Array<Record<string, unknown>> {
    return readFileSync(logPath, "utf8")
      .split("\n")
      .filter((line) => line !== "")
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  }

  function line(msg: string): Record<string, unknown> | undefined {
    return logLines().find((entry) => entry.msg === msg);
  }

  it("applies log_level, log_selectors and attestors", async () => {
    const reload = reloader(10);
    writeFileSync(configPath, confText({ agent: 'log_level = "DEBUG"\nlog_selectors = ["unix:uid"]', unix: "discover_workload_path = true" }));

    reload.reload();
    await new Promise((resolve) => setTimeout(resolve, 50));

    expect(levels.currentLevel()).toBe("DEBUG");
    expect(levels.launchLevel()).toBe("DEBUG");
    expect(agent.logSelectors).toEqual([["unix:uid"]]);
    expect(agent.attestorSettings[0]?.unix?.discoverWorkloadPath).toBe(true);
    expect(agent.closed).toEqual(["first"]);
    expect(line("Applied configuration changes")?.options).toEqual(["agent.log_level", "agent.log_selectors", "plugins.WorkloadAttestor.unix"]);
    expect(line("Changed options take effect only after a restart")).toBeUndefined();
  });

  it("names options that need a restart and keeps reporting them", () => {
    const reload = reloader();
    writeFileSync(configPath, confText({ agent: 'data_dir = "/var/lib/other"' }));

    reload.reload();
    reload.reload();

    const warnings = logLines().filter((entry) => entry.msg === "Changed options take effect only after a restart");
    expect(warnings).toHaveLength(2);
    expect(warnings[0]?.options).toEqual(["agent.data_dir"]);
    expect(warnings[0]?.level).toBe("warn");
    expect(line("Applied configuration changes")).toBeUndefined();
  });

  it("keeps the running configuration when the file is invalid", () => {
    const reload = reloader();
    writeFileSync(configPath, confText({ agent: 'log_levle = "DEBUG"' }));

    reload.reload();

    const failure = line("Failed to reload the configuration; the running configuration stays");
    expect(failure?.level).toBe("error");
    expect(failure?.error).toContain("agent.log_levle");
    expect(levels.currentLevel()).toBe("INFO");
    expect(agent.attestorSettings).toEqual([]);
  });

  it("keeps running attestors when new ones fail to start", () => {
    const reload = reloader();
    writeFileSync(configPath, confText({ agent: 'log_level = "WARN"', unix: "workload_size_limit = 13" }));

    reload.reload();

    expect(levels.currentLevel()).toBe("WARN");
    expect(agent.closed).toEqual([]);
    expect(line("Failed to apply reloaded options; their running values stay")).toMatchObject({ options: ["plugins.WorkloadAttestor.unix"], error: "plugin failed to start" });
    // Written before the level drops to WARN.
    expect(line("Applied configuration changes")?.options).toEqual(["agent.log_level"]);
  });

  it("reports a reload with no changes", () => {
    reloader().reload();

    expect(line("Configuration reloaded; nothing changed")).toBeDefined();
  });
});
