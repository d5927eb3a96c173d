/**
 * End to end: SVID rotation under short TTLs. A real tessera-server and tessera-agent, three
 * entries with 10 s X.509-SVIDs and 5 s JWT-SVIDs, a 20 s agent_ttl and a 2 s sync interval.
 * Several watcher processes (test/e2e/clients/svid-watcher.ts) hold a FetchX509SVID stream
 * and fetch JWT-SVIDs for TESSERA_SOAK_SECONDS (60 by default). At every update and every
 * 100 ms in between, each checks that every X.509-SVID it holds is valid and chains to the
 * bundle it holds, and every JWT-SVID it receives has not expired. The test fails when any
 * check failed at any moment, or when no SVID rotated.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningAgent } from "../../src/devtools/local-deployment.js";
import type { WatchReport } from "./clients/svid-watcher.js";
import { logLines, runWatchers, startShortTtlDeployment } from "./rotation-harness.js";
import type { RunningWatchers, ShortTtlDeployment } from "./rotation-harness.js";

const trustDomain = "soak.tessera.test";
const workloadIds = ["alpha", "beta", "gamma"].map((name) => `spiffe://${trustDomain}/${name}`);
const soakSeconds = Number(process.env.TESSERA_SOAK_SECONDS ?? 60);
const clientCount = 4;

describe("SVID rotation soak", () => {
  let folder: string;
  const deployment: Partial<ShortTtlDeployment> = {};
  let agent: RunningAgent;
  let watchers: RunningWatchers | undefined;
  let reports: WatchReport[] = [];

  beforeAll(async () => {
    folder = mkdtempSync(join(tmpdir(), "tessera-soak-"));
    ({ agent } = await startShortTtlDeployment({ folder, trustDomain, workloadIds, server: { agentTtl: "20s" }, syncInterval: "2s" }, deployment));

    watchers = runWatchers({ socketPath: agent.socketPath, count: clientCount, durationMs: soakSeconds * 1000, sampleMs: 100, jwtAudience: "soak", jwtIntervalMs: 500 });
    reports = await watchers.reports;
  }, (soakSeconds + 120) * 1000);

  afterAll(async () => {
    watchers?.stop();
    await deployment.agent?.stop();
    await deployment.server?.stop();
    if (folder) rmSync(folder, { recursive: true, force: true });
  });

  it("prints rotations per client", () => {
    for (const report of reports) {
      const jwt = `${report.jwt.fetches} JWT fetches, ${report.jwt.distinctTokens} distinct tokens`;
      console.log(`client ${report.pid}: ${report.updates} updates, ${report.samples} samples, ${report.checks} checks, ${jwt}, rotations ${JSON.stringify(report.rotations)}`);
    }

    expect(reports).toHaveLength(clientCount);
  });

  it("never holds an invalid SVID", () => {
    for (const report of reports) {
      expect(report.violations).toEqual([]);
      expect(report.violationsOmitted).toBe(0);
      expect(report.streamErrors).toEqual([]);
      expect(report.samples).toBeGreaterThan(0);
    }
  });

  it("rotates every SVID", () => {
    for (const report of reports) {
      for (const spiffeId of workloadIds) {
        expect(report.rotations[spiffeId] ?? 0).toBeGreaterThan(0);
      }
    }
  });

  it("renews no SVID before its half-life window", () => {
    const renewals = logLines<{ expires_at: string; reason: string }>(readFileSync(agent.logPath, "utf8"), "Renewing X509-SVID").filter(
      (line) => line.reason === "expiring",
    );
    const remainingMs = renewals.map((line) => Date.parse(line.expires_at) - line.timeMs);

    expect(renewals.length).toBeGreaterThan(0);
    // 55 % of a 10 s lifetime counted from the CSR: the window opens at 5.5 s left.
    expect(Math.max(...remainingMs)).toBeLessThanOrEqual(5_500);
  });

  it("refreshes JWT-SVIDs", () => {
    for (const report of reports) {
      expect(report.jwt.fetches).toBeGreaterThan(0);
      expect(report.jwt.distinctTokens).toBeGreaterThan(workloadIds.length);
    }
  });

  it("honours the per-entry TTLs", () => {
    for (const report of reports) {
      for (const spiffeId of workloadIds) {
        // 10 s TTL plus the server's 10 s backdate of notBefore.
        expect(report.leafLifetimesMs[spiffeId]).toBe(20_000);
      }
      expect(report.jwt.maxLifetimeSeconds).toBe(5);
    }
  });

  it("honours the short agent_ttl", () => {
    const renewals = logLines<{ expires_at: string }>(readFileSync(agent.logPath, "utf8"), "Agent SVID renewed");

    expect(renewals.length).toBeGreaterThan(0);
    for (const renewal of renewals) {
      expect(Date.parse(renewal.expires_at) - renewal.timeMs).toBeLessThanOrEqual(20_000);
    }
    expect(agent.process.exitCode).toBeNull();
  });
});
