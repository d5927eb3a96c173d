/**
 * End to end: entry sync through SyncAuthorizedEntries revision pages. With a page size
 * of 3, eight authorized entries make the server send revision pages and the agent request
 * full entries by ID, as it does beyond 500 entries with the default page size.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agentBin, prepareAgentAttestation, startAgent, startServer } from "../../src/devtools/local-deployment.js";
import type { RunningAgent, RunningServer } from "../../src/devtools/local-deployment.js";

const execFileAsync = promisify(execFile);
const trustDomain = "pages.tessera.test";
const nodeId = `spiffe://${trustDomain}/node`;
const workloadIds = Array.from({ length: 8 }, (_, index) => `spiffe://${trustDomain}/workload-${index}`);

interface FetchedSvid {
  spiffe_id: string;
}

describe("entry sync with revision pages", () => {
  let folder: string;
  let server: RunningServer;
  let agent: RunningAgent;
  const entryIds = new Map<string, string>();

  async function fetchSpiffeIds(): Promise<string[]> {
    const { stdout } = await execFileAsync(process.execPath, [agentBin, "api", "fetch", "x509", "-socketPath", agent.socketPath, "-output", "json"]);
    const response = JSON.parse(stdout) as { svids: FetchedSvid[] };
    return response.svids.map((svid) => svid.spiffe_id).sort();
  }

  async function waitForSpiffeIds(expected: string[]): Promise<string[]> {
    const deadline = Date.now() + 30_000;
    let seen = await fetchSpiffeIds();
    while (JSON.stringify(seen) !== JSON.stringify(expected) && Date.now() < deadline) {
      await new Promise((wake) => setTimeout(wake, 300));
      seen = await fetchSpiffeIds();
    }
    return seen;
  }

  beforeAll(async () => {
    folder = mkdtempSync(join(tmpdir(), "tessera-pages-"));
    server = await startServer({ folder, trustDomain, entryPageSize: 3 });
    const bundlePath = join(folder, "bundle.pem");
    const { joinToken } = await prepareAgentAttestation(server, nodeId, bundlePath);

    const uid = process.getuid?.() ?? 0;
    for (const spiffeId of workloadIds) {
      const output = await server.cli(["entry", "create", "-parentID", nodeId, "-spiffeID", spiffeId, "-selector", `unix:uid:${uid}`]);
      const match = /Entry ID\s*:\s*(\S+)/.exec(output);
      entryIds.set(spiffeId, match?.[1] ?? "");
    }

    agent = await startAgent({ folder, trustDomain, serverPort: server.port, trustBundlePath: bundlePath, joinToken, extraAgentConfig: ["experimental {", "  sync_interval = \"1s\"", "}"] });
  });

  afterAll(async () => {
    await agent?.stop();
    await server?.stop();
    if (folder) rmSync(folder, { recursive: true, force: true });
  });

  it("serves every entry synced through pages", async () => {
    const seen = await waitForSpiffeIds([...workloadIds].sort());

    expect(seen).toEqual([...workloadIds].sort());
  });

  it("drops deleted entries on the next sync", async () => {
    const removed = workloadIds.slice(0, 2);
    for (const spiffeId of removed) {
      await server.cli(["entry", "delete", "-entryID", entryIds.get(spiffeId)!]);
    }
    const expected = workloadIds.slice(2).sort();

    const seen = await waitForSpiffeIds(expected);

    expect(seen).toEqual(expected);
  });

  it("logs that the sync used revision pages", async () => {
    const lines = readFileSync(agent.logPath, "utf8")
      .split("\n")
      .filter((line) => line.includes("Synchronized entries with the server"))
      .map((line) => JSON.parse(line) as { total: number; revision_pages: number });
    // The node entry made by "token generate -spiffeID" is authorized too: 9 entries, 3 pages.
    const firstFullSync = lines.find((line) => line.total === workloadIds.length + 1);

    expect(firstFullSync).toBeDefined();
    expect(firstFullSync?.revision_pages).toBe(3);
  });
});
