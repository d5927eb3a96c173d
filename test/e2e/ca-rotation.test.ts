/**
 * End to end: X.509 CA rotation on tessera-server under load. With `ca_ttl = "60s"` the
 * server prepares the next CA 30 s after the first, activates it at 50 s and drops the
 * first root at 60 s, while entries with 10 s SVIDs keep rotating. Two watcher processes
 * (test/e2e/clients/svid-watcher.ts) check at every update and every 100 ms that each
 * SVID they hold is valid and chains to the bundle they hold. The test prints a timeline
 * of the server's CA events and what the watchers saw.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningAgent, RunningServer } from "../../src/devtools/local-deployment.js";
import type { TimelineEvent, WatchReport } from "./clients/svid-watcher.js";
import { logLines, runWatchers, startShortTtlDeployment } from "./rotation-harness.js";
import type { RunningWatchers, ShortTtlDeployment } from "./rotation-harness.js";

const trustDomain = "ca-rotation.tessera.test";
const workloadIds = ["one", "two"].map((name) => `spiffe://${trustDomain}/${name}`);

/** Long enough to see the second CA prepared (30 s), activated (50 s) and the first root dropped (60 s). */
const watchSeconds = 75;

interface CaEvent {
  timeMs: number;
  msg: string;
  slot: string;
  serial_number: string;
}

describe("X.509 CA rotation", () => {
  let folder: string;
  const deployment: Partial<ShortTtlDeployment> = {};
  let server: RunningServer;
  let agent: RunningAgent;
  let watchers: RunningWatchers | undefined;
  let reports: WatchReport[] = [];
  let caEvents: CaEvent[] = [];
  let serverStartMs = 0;

  beforeAll(async () => {
    folder = mkdtempSync(join(tmpdir(), "tessera-ca-rotation-"));
    serverStartMs = Date.now();
    ({ server, agent } = await startShortTtlDeployment({ folder, trustDomain, workloadIds, server: { caTtl: "60s" }, syncInterval: "2s" }, deployment));

    const remainingMs = serverStartMs + watchSeconds * 1000 - Date.now();
    watchers = runWatchers({ socketPath: agent.socketPath, count: 2, durationMs: remainingMs, sampleMs: 100, jwtAudience: "ca-rotation", jwtIntervalMs: 1000 });
    reports = await watchers.reports;

    const serverLog = readFileSync(server.logPath, "utf8");
    caEvents = [...logLines<CaEvent>(serverLog, "X509 CA prepared"), ...logLines<CaEvent>(serverLog, "X509 CA activated")].sort((a, b) => a.timeMs - b.timeMs);
  }, (watchSeconds + 120) * 1000);

  afterAll(async () => {
    watchers?.stop();
    await deployment.agent?.stop();
    await deployment.server?.stop();
    if (folder) rmSync(folder, { recursive: true, force: true });
  });

  it("prints the rotation timeline", () => {
    const lines: { atMs: number; text: string }[] = caEvents.map((event) => ({ atMs: event.timeMs, text: `server: ${event.msg} (slot ${event.slot})` }));
    for (const report of reports) {
      for (const event of report.timeline) {
        const what = event.event === "bundle" ? `bundle roots ${event.roots.join(", ")}` : `first SVID signed by root ${event.roots[0]}`;
        lines.push({ atMs: event.atMs, text: `client ${report.pid}: ${what}` });
      }
    }
    lines.sort((a, b) => a.atMs - b.atMs);
    console.log(lines.map((line) => `${((line.atMs - serverStartMs) / 1000).toFixed(1).padStart(6)} s  ${line.text}`).join("\n"));

    expect(lines.length).toBeGreaterThan(0);
  });

  it("prepares and activates a new CA", () => {
    const activations = caEvents.filter((event) => event.msg === "X509 CA activated");
    const prepared = caEvents.filter((event) => event.msg === "X509 CA prepared");

    // The first activation is the server's start-up CA.
    expect(activations.length).toBeGreaterThanOrEqual(2);
    expect(prepared.length).toBeGreaterThanOrEqual(1);
    expect(prepared[0]?.timeMs).toBeLessThan(activations[1]?.timeMs ?? 0);
  });

  it("never holds an SVID outside the bundle", () => {
    for (const report of reports) {
      expect(report.violations).toEqual([]);
      expect(report.violationsOmitted).toBe(0);
      expect(report.streamErrors).toEqual([]);
      expect(report.samples).toBeGreaterThan(0);
    }
    expect(agent.process.exitCode).toBeNull();
  });

  it("delivers the new root before SVIDs it signed", () => {
    for (const report of reports) {
      const signers = report.timeline.filter((event) => event.event === "first_svid_from_root");
      const bundles = report.timeline.filter((event) => event.event === "bundle");
      const firstBundleWith = (root: string): TimelineEvent | undefined => bundles.find((event) => event.roots.includes(root));

      expect(signers.length).toBeGreaterThanOrEqual(2);
      for (const signer of signers) {
        const root = signer.roots[0] ?? "";
        expect(firstBundleWith(root)?.atMs).toBeLessThanOrEqual(signer.atMs);
      }
    }
  });

  it("drops the first root after it expires", () => {
    for (const report of reports) {
      const bundles = report.timeline.filter((event) => event.event === "bundle");
      const firstRoots = bundles[0]?.roots ?? [];
      const last = bundles.at(-1)?.roots ?? [];

      expect(firstRoots).toHaveLength(1);
      expect(last).not.toContain(firstRoots[0]);
    }
  });
});
