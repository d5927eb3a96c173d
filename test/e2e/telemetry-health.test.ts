/**
 * End to end: tessera-agent with `telemetry { Prometheus {} }` and `health_checks {}`
 * next to a real tessera-server. A workload fetch moves the Workload API counters, /live
 * and /ready answer with JSON, and killing the server turns server_reachable to 0 while
 * /ready stays 200 and reports the agent as degraded.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { freePort, prepareAgentAttestation, startAgent, startServer, writeAgentFiles } from "../../src/devtools/local-deployment.js";
import type { RunningAgent, RunningServer } from "../../src/devtools/local-deployment.js";
import { fetchX509Svids, killDaemon, pollFor, runAgentCli } from "./restart-support.js";

const trustDomain = "telemetry.tessera.test";
const nodeId = `spiffe://${trustDomain}/e2e/node`;
const workloadId = `spiffe://${trustDomain}/e2e/workload`;
const uid = process.getuid?.() ?? 0;

/** Returns the samples of the Prometheus text `text` whose series starts with `prefix`, by series. */
function samples(text: string, prefix: string): Map<string, number> {
  const found = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line.startsWith(prefix) && !line.startsWith("#")) {
      const space = line.lastIndexOf(" ");
      found.set(line.slice(0, space), Number(line.slice(space + 1)));
    }
  }
  return found;
}

function total(values: Map<string, number>): number {
  return [...values.values()].reduce((sum, value) => sum + value, 0);
}

async function getJson(url: string): Promise<{ status: number; contentType: string | null; body: Record<string, Record<string, unknown>> }> {
  const response = await fetch(url);
  return { status: response.status, contentType: response.headers.get("content-type"), body: (await response.json()) as Record<string, Record<string, unknown>> };
}

describe("telemetry and health checks", () => {
  let folder: string;
  let server: RunningServer | undefined;
  let agent: RunningAgent | undefined;
  let bundlePath: string;

  beforeAll(async () => {
    folder = mkdtempSync(join(tmpdir(), "tessera-telemetry-health-"));
    server = await startServer({ folder, trustDomain });
    bundlePath = join(folder, "bundle.pem");
  });

  afterAll(async () => {
    await agent?.stop();
    await server?.stop();
    rmSync(folder, { recursive: true, force: true });
  });

  it("serves metrics and health, then reports a server outage", { timeout: 120_000 }, async () => {
    if (server === undefined) throw new Error("the server did not start");
    const { joinToken } = await prepareAgentAttestation(server, nodeId, bundlePath);
    await server.cli(["entry", "create", "-parentID", nodeId, "-spiffeID", workloadId, "-selector", `unix:uid:${uid}`]);
    const metricsPort = await freePort();
    const healthPort = await freePort();
    agent = await startAgent({
      folder,
      trustDomain,
      serverPort: server.port,
      trustBundlePath: bundlePath,
      joinToken,
      extraAgentConfig: ["experimental {", '  sync_interval = "1s"', "}"],
      extraConfig: [
        "telemetry {",
        "  Prometheus {",
        '    host = "127.0.0.1"',
        `    port = ${metricsPort}`,
        "  }",
        "}",
        "health_checks {",
        "  listener_enabled = true",
        '  bind_address = "127.0.0.1"',
        `  bind_port = "${healthPort}"`,
        "}",
      ],
    });
    const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
    const healthUrl = `http://127.0.0.1:${healthPort}`;

    await pollFor("the workload SVID", async () => (await fetchX509Svids(agent?.socketPath ?? ""))?.find((svid) => svid.spiffe_id === workloadId));
    const scrape = await fetch(metricsUrl);
    const text = await scrape.text();

    expect(scrape.status).toBe(200);
    expect(scrape.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    expect(total(samples(text, "spire_agent_rpc_workload_api_fetch_x509svid{"))).toBeGreaterThanOrEqual(1);
    expect(samples(text, 'spire_agent_workload_api_workload_attestor{attestor="unix",status="OK"').size).toBe(1);
    expect(total(samples(text, 'spire_agent_manager_sync_fetch_entries_updates{status="OK"'))).toBeGreaterThanOrEqual(1);
    expect(total(samples(text, "spire_agent_lru_cache_svid_map_size{"))).toBeGreaterThanOrEqual(1);
    expect(samples(text, "tessera_agent_server_reachable").get("tessera_agent_server_reachable")).toBe(1);
    expect(samples(text, "tessera_agent_x509_svid_earliest_expiry_timestamp_seconds").get("tessera_agent_x509_svid_earliest_expiry_timestamp_seconds")).toBeGreaterThan(
      Date.now() / 1000,
    );
    for (const label of ["spiffe_id=", "entry_id=", "pid="]) {
      expect(text, `label ${label}`).not.toContain(label);
    }

    const live = await getJson(`${healthUrl}/live`);
    const ready = await getJson(`${healthUrl}/ready`);
    expect(live.status).toBe(200);
    expect(live.contentType).toBe("application/json");
    expect(ready.status).toBe(200);
    expect(ready.body.agent).toMatchObject({ live: true, ready: true, started: true, workload_api: "serving", trust_bundle: true });
    expect(ready.body.manager).toMatchObject({ live: true, ready: true, server_reachable: true, degraded: false });

    await killDaemon(server);
    server = undefined;

    await pollFor("server_reachable to drop to 0", async () => {
      const after = await (await fetch(metricsUrl)).text();
      return samples(after, "tessera_agent_server_reachable").get("tessera_agent_server_reachable") === 0 ? after : undefined;
    });
    const degraded = await getJson(`${healthUrl}/ready`);
    expect(degraded.status).toBe(200);
    expect(degraded.body.manager).toMatchObject({ ready: true, server_reachable: false, degraded: true });
    expect(degraded.body.manager?.failed_syncs).toBeGreaterThanOrEqual(1);
    expect(typeof degraded.body.manager?.last_error).toBe("string");
    expect((await getJson(`${healthUrl}/live`)).status).toBe(200);
  });

  it("rejects a Statsd sink by name", async () => {
    const files = writeAgentFiles({
      folder: join(folder, "statsd"),
      trustDomain,
      serverPort: 8081,
      trustBundlePath: bundlePath,
      joinToken: "unused",
      extraConfig: ["telemetry {", '  Statsd = [{ address = "127.0.0.1:8125" }]', "}"],
    });

    const result = await runAgentCli(["run", "-config", files.configPath]);

    expect(result.code).not.toBe(0);
    expect(result.stderr + result.stdout).toContain("option telemetry.Statsd is not supported yet by tessera-agent");
  });
});
