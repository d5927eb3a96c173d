import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { entryv1, types } from "../src/proto/index.js";
import { connectAdmin } from "../src/server/cli/admin-client.js";
import { createEntries, prepareAgentAttestation, startAgent } from "../src/devtools/local-deployment.js";
import type { RunningAgent, RunningServer } from "../src/devtools/local-deployment.js";

/** Settings for {@link measureSyncAtScale}. */
export interface SyncScaleOptions {
  server: RunningServer;
  /** Folder for the two agents' files; must not be used by another agent. */
  folder: string;
  trustDomain: string;
  /** Entries authorized to the measured agent. */
  entries: number;
}

/** Figures of one run; durations in milliseconds, memory in kB. */
export interface SyncScaleResult {
  /** Creating the entries through the admin API (BatchCreateEntry, 500 per call). */
  createMs: number;
  /** Floor: one ListEntries call over the admin API returning every entry, median of 3. */
  listMs: number;
  /** From starting the agent until it logged its first sync. */
  startToFirstSyncMs: number;
  /** The same for an agent with a single entry (the node entry). */
  idleStartToFirstSyncMs: number;
  /** The first sync alone: from the agent's "Node attestation was successful" line to its first sync line. */
  firstSyncMs: number;
  /** The same for the agent with a single entry. */
  idleFirstSyncMs: number;
  /** Revision pages of the first sync, from the agent's log. */
  revisionPages: number;
  /** From starting the agent until every entry had an SVID in its cache. */
  allSvidsMs: number;
  /** VmRSS of the agent holding an SVID for every entry, median of 5 readings. */
  rssKb: number;
  /** VmRSS of the agent with a single entry, read at the same time. */
  idleRssKb: number;
}

interface SyncLine {
  time: string;
  total: number;
  revision_pages: number;
}

/**
 * Measures entry sync at scale against `server`: creates `entries` entries for one node,
 * none of which any process matches, starts an agent for that node with
 * x509_svid_cache_max_size above the entry count (so it mints an SVID for every entry)
 * and an idle agent for another node, and reads times from the agents' logs and memory
 * from /proc/<pid>/status.
 */
export async function measureSyncAtScale(options: SyncScaleOptions): Promise<SyncScaleResult> {
  const { server, trustDomain } = options;
  const nodeId = `spiffe://${trustDomain}/scale/node`;
  const entries: types.Entry[] = Array.from({ length: options.entries }, (_, index) => ({
    id: `scale-${String(index).padStart(6, "0")}`,
    spiffe_id: { trust_domain: trustDomain, path: `/scale/workload/${index}` },
    parent_id: { trust_domain: trustDomain, path: "/scale/node" },
    selectors: [{ type: "unix", value: `uid:${5_000_000 + index}` }],
  }));

  const createStarted = performance.now();
  await createEntries(server, entries);
  const createMs = performance.now() - createStarted;
  const listMs = median(await timeListing(server, 3));

  const agents: RunningAgent[] = [];
  try {
    const scaled = await startMeasuredAgent(server, join(options.folder, "scaled"), trustDomain, nodeId, options.entries);
    agents.push(scaled.agent);
    const idle = await startMeasuredAgent(server, join(options.folder, "idle"), trustDomain, `spiffe://${trustDomain}/scale/idle-node`, 0);
    agents.push(idle.agent);

    const scaledSyncs = logLines<SyncLine>(scaled.agent.logPath, "Synchronized entries with the server");
    // Every authorized entry gets an SVID: the measured ones and the node entry that
    // "token generate -spiffeID" made.
    const allSvidsMs = await waitForMintedCount(scaled.agent, (scaledSyncs[0]?.total ?? options.entries), scaled.startedAt);
    const rss = await readRssKb([scaled.agent, idle.agent], 5);

    const idleSyncs = logLines<SyncLine>(idle.agent.logPath, "Synchronized entries with the server");
    return {
      createMs,
      listMs,
      startToFirstSyncMs: Date.parse(scaledSyncs[0]?.time ?? "") - scaled.startedAt,
      idleStartToFirstSyncMs: Date.parse(idleSyncs[0]?.time ?? "") - idle.startedAt,
      firstSyncMs: firstSyncDurationMs(scaled.agent.logPath, scaledSyncs),
      idleFirstSyncMs: firstSyncDurationMs(idle.agent.logPath, idleSyncs),
      revisionPages: scaledSyncs[0]?.revision_pages ?? 0,
      allSvidsMs,
      rssKb: rss[0] ?? 0,
      idleRssKb: rss[1] ?? 0,
    };
  } finally {
    for (const agent of agents) await agent.stop();
  }
}

async function startMeasuredAgent(
  server: RunningServer,
  folder: string,
  trustDomain: string,
  nodeId: string,
  entries: number,
): Promise<{ agent: RunningAgent; startedAt: number }> {
  mkdirSync(folder, { recursive: true });
  const bundlePath = join(folder, "bundle.pem");
  const { joinToken } = await prepareAgentAttestation(server, nodeId, bundlePath);
  const startedAt = Date.now();
  const agent = await startAgent({
    folder,
    trustDomain,
    serverPort: server.port,
    trustBundlePath: bundlePath,
    joinToken,
    extraAgentConfig: [`x509_svid_cache_max_size = ${entries + 1000}`],
    startTimeoutMs: 15 * 60_000,
  });
  return { agent, startedAt };
}

/** Times `runs` ListEntries calls that return every entry and returns their durations. */
async function timeListing(server: RunningServer, runs: number): Promise<number[]> {
  const admin = connectAdmin(server.adminSocketPath);
  const durations: number[] = [];
  try {
    for (let run = 0; run < runs; run++) {
      const started = performance.now();
      await admin.call<entryv1.ListEntriesResponse__Output>((callOptions, done) => admin.entry.ListEntries({ page_size: 0 }, callOptions, done));
      durations.push(performance.now() - started);
    }
  } finally {
    admin.close();
  }
  return durations;
}

/** Reads the JSON lines of an agent log whose `msg` is `message`. */
function logLines<T extends { time: string }>(logPath: string, message: string): T[] {
  return readFileSync(logPath, "utf8")
    .split("\n")
    .filter((line) => line.includes(`"${message}"`))
    .map((line) => JSON.parse(line) as T);
}

function firstSyncDurationMs(logPath: string, syncs: SyncLine[]): number {
  const attested = logLines<{ time: string }>(logPath, "Node attestation was successful")[0];
  return Date.parse(syncs[0]?.time ?? "") - Date.parse(attested?.time ?? "");
}

/** Waits until the agent's "Finished minting X509-SVIDs" lines add up to `count` SVIDs; returns the time since `startedAt`. */
async function waitForMintedCount(agent: RunningAgent, count: number, startedAt: number): Promise<number> {
  const deadline = Date.now() + 15 * 60_000;
  while (Date.now() < deadline) {
    const lines = logLines<{ time: string; minted: number }>(agent.logPath, "Finished minting X509-SVIDs");
    let minted = 0;
    for (const line of lines) {
      minted += line.minted;
      if (minted >= count) return Date.parse(line.time) - startedAt;
    }
    await new Promise((wake) => setTimeout(wake, 200));
  }
  throw new Error(`the agent did not mint ${count} X.509-SVIDs within 15 minutes; see ${agent.logPath}`);
}

/** Reads VmRSS of each agent `samples` times, 500 ms apart, and returns the medians in kB. */
async function readRssKb(agents: RunningAgent[], samples: number): Promise<number[]> {
  const readings: number[][] = agents.map(() => []);
  for (let sample = 0; sample < samples; sample++) {
    agents.forEach((agent, index) => readings[index]?.push(vmRssKb(agent.process.pid ?? 0)));
    await new Promise((wake) => setTimeout(wake, 500));
  }
  return readings.map(median);
}

function vmRssKb(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (match?.[1] === undefined) throw new Error(`no VmRSS line in /proc/${pid}/status`);
  return Number(match[1]);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)] ?? Number.NaN;
}
