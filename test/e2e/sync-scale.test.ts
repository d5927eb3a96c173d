/**
 * Entry sync at scale. End to end: 10,000 entries authorized to one agent, created through
 * the server's admin API in batches of 500. The agent's first sync goes through
 * SyncAuthorizedEntries revision pages (500 entries per page) and gets every entry. Later
 * syncs pick up a changed entry and an entry deleted and recreated under the same ID
 * (revision 0 again, new created_at) by their revisions alone. In process: malformed
 * entries among 10,000 are skipped with one warning each.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { promisify } from "node:util";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EntrySyncStream } from "../../src/agent/client/entry-sync.js";
import { syncAuthorizedEntries } from "../../src/agent/client/entry-sync.js";
import { agentBin, createEntries, prepareAgentAttestation, startAgent, startServer } from "../../src/devtools/local-deployment.js";
import type { RunningAgent, RunningServer } from "../../src/devtools/local-deployment.js";
import type { entryv1, types } from "../../src/proto/index.js";
import { entryToProto } from "../../src/server/api/proto-convert.js";
import { connectAdmin } from "../../src/server/cli/admin-client.js";
import type { AdminClients } from "../../src/server/cli/admin-client.js";
import { logLines } from "./rotation-harness.js";

const execFileAsync = promisify(execFile);
const trustDomain = "scale.tessera.test";
const nodeId = `spiffe://${trustDomain}/node`;
const entryCount = 10_000;
const pageSize = 500;
const uid = process.getuid?.() ?? 0;

interface SyncLine {
  total: number;
  missing: number;
  stale: number;
  dropped: number;
  revision_pages: number;
}

/** Entry `index` of the 10,000: the first two select this process's uid, the rest uids no process has. */
function scaleEntry(index: number): types.Entry {
  const selectorUid = index < 2 ? uid : 4_000_000 + index;
  return {
    id: `scale-${String(index).padStart(5, "0")}`,
    spiffe_id: { trust_domain: trustDomain, path: `/workload/${index}` },
    parent_id: { trust_domain: trustDomain, path: "/node" },
    selectors: [{ type: "unix", value: `uid:${selectorUid}` }],
  };
}

describe("entry sync with 10,000 entries", () => {
  let folder: string;
  let server: RunningServer;
  let agent: RunningAgent;
  let admin: AdminClients;

  async function fetchSpiffeIds(): Promise<string[]> {
    try {
      const { stdout } = await execFileAsync(process.execPath, [agentBin, "api", "fetch", "x509", "-socketPath", agent.socketPath, "-output", "json"]);
      return (JSON.parse(stdout) as { svids: { spiffe_id: string }[] }).svids.map((svid) => svid.spiffe_id).sort();
    } catch {
      return [];
    }
  }

  async function waitForSpiffeIds(expected: string[]): Promise<string[]> {
    const deadline = Date.now() + 60_000;
    let seen = await fetchSpiffeIds();
    while (JSON.stringify(seen) !== JSON.stringify(expected) && Date.now() < deadline) {
      await new Promise((wake) => setTimeout(wake, 250));
      seen = await fetchSpiffeIds();
    }
    return seen;
  }

  function syncLines(): (SyncLine & { timeMs: number })[] {
    return logLines<SyncLine>(readFileSync(agent.logPath, "utf8"), "Synchronized entries with the server");
  }

  /** Resolves right after the agent logs its next sync, so the one after is a full sync interval away. */
  async function nextSync(): Promise<void> {
    const count = syncLines().length;
    const deadline = Date.now() + 60_000;
    while (syncLines().length === count && Date.now() < deadline) await new Promise((wake) => setTimeout(wake, 20));
  }

  beforeAll(async () => {
    folder = mkdtempSync(join(tmpdir(), "tessera-sync-scale-"));
    server = await startServer({ folder, trustDomain });
    const bundlePath = join(folder, "bundle.pem");
    const { joinToken } = await prepareAgentAttestation(server, nodeId, bundlePath);

    await createEntries(server, Array.from({ length: entryCount }, (_, index) => scaleEntry(index)), pageSize);
    admin = connectAdmin(server.adminSocketPath);

    agent = await startAgent({ folder, trustDomain, serverPort: server.port, trustBundlePath: bundlePath, joinToken });
  }, 300_000);

  afterAll(async () => {
    admin?.close();
    await agent?.stop();
    await server?.stop();
    if (folder) rmSync(folder, { recursive: true, force: true });
  });

  it("gets every entry through revision pages", () => {
    const first = syncLines()[0];

    // "token generate -spiffeID" adds a node entry, which the agent is authorized for too.
    expect(first?.total).toBeGreaterThanOrEqual(entryCount);
    expect(first?.missing).toBe(first?.total);
    expect(first?.revision_pages).toBe(Math.ceil((first?.total ?? 0) / pageSize));
  });

  it("serves the entries of the caller", async () => {
    const expected = [0, 1].map((index) => `spiffe://${trustDomain}/workload/${index}`);

    expect(await waitForSpiffeIds(expected)).toEqual(expected);
  });

  it("picks up a changed entry", async () => {
    const changedAt = Date.now();
    const changed: types.Entry = { id: "scale-00000", spiffe_id: { trust_domain: trustDomain, path: "/workload/changed" } };
    const response = await admin.call<entryv1.BatchUpdateEntryResponse__Output>((options, done) =>
      admin.entry.BatchUpdateEntry({ entries: [changed], input_mask: { spiffe_id: true } }, options, done),
    );
    const expected = [`spiffe://${trustDomain}/workload/1`, `spiffe://${trustDomain}/workload/changed`];

    const seen = await waitForSpiffeIds(expected);
    const pickedUp = syncLines().find((line) => line.timeMs > changedAt && line.stale > 0);

    expect(response.results[0]?.status?.code).toBe(0);
    expect(seen).toEqual(expected);
    expect(pickedUp).toMatchObject({ stale: 1, missing: 0, dropped: 0, total: syncLines()[0]?.total });
  });

  it("picks up an entry deleted and recreated under its ID", async () => {
    const before = await admin.call<types.Entry__Output>((options, done) => admin.entry.GetEntry({ id: "scale-00001" }, options, done));
    await nextSync();

    const recreatedAt = Date.now();
    await admin.call<entryv1.BatchDeleteEntryResponse__Output>((options, done) => admin.entry.BatchDeleteEntry({ ids: ["scale-00001"] }, options, done));
    const recreated = { ...scaleEntry(1), spiffe_id: { trust_domain: trustDomain, path: "/workload/recreated" } };
    const created = await admin.call<entryv1.BatchCreateEntryResponse__Output>((options, done) => admin.entry.BatchCreateEntry({ entries: [recreated] }, options, done));
    const expected = [`spiffe://${trustDomain}/workload/changed`, `spiffe://${trustDomain}/workload/recreated`];

    const seen = await waitForSpiffeIds(expected);
    const pickedUp = syncLines().find((line) => line.timeMs > recreatedAt);

    expect(created.results[0]?.entry?.revision_number).toBe(0);
    expect(Number(created.results[0]?.entry?.created_at)).toBeGreaterThan(Number(before.created_at));
    expect(seen).toEqual(expected);
    // The same ID at revision 0 again: only the new created_at shows the agent that it changed.
    expect(pickedUp).toMatchObject({ stale: 1, missing: 0, dropped: 0 });
  });
});

describe("malformed entries at scale", () => {
  /** Entry `index` as the server sends it, converted by the server's own code. */
  function protoEntry(index: number, overrides: Partial<types.Entry__Output> = {}): types.Entry__Output {
    const entry = entryToProto({
      id: `e${String(index).padStart(5, "0")}`,
      spiffeId: `spiffe://example.org/w/${index}`,
      parentId: "spiffe://example.org/node",
      selectors: [{ type: "unix", value: `uid:${index}` }],
      x509SvidTtl: 0,
      jwtSvidTtl: 0,
      federatesWith: [],
      admin: false,
      downstream: false,
      expiresAt: 0,
      dnsNames: [],
      revisionNumber: 0,
      storeSvid: false,
      hint: "",
      createdAt: 1000,
    });
    return { ...entry, ...overrides };
  }

  /** Serves `entries` as a server with page size 500 does: revision pages, then full entries by ID. */
  function pagedStream(entries: types.Entry__Output[]): EntrySyncStream {
    const byId = new Map(entries.map((entry) => [entry.id, entry]));
    const queue: entryv1.SyncAuthorizedEntriesResponse__Output[] = [];
    return {
      send(request) {
        if (request.ids === undefined || request.ids.length === 0) {
          for (let start = 0; start < entries.length; start += pageSize) {
            const page = entries.slice(start, start + pageSize);
            queue.push({
              entries: [],
              entry_revisions: page.map((entry) => ({ id: entry.id, revision_number: entry.revision_number, created_at: entry.created_at })),
              more: start + pageSize < entries.length,
            });
          }
          return;
        }
        const found = request.ids.flatMap((id) => byId.get(id) ?? []);
        queue.push({ entries: found, entry_revisions: [], more: false });
      },
      receive: async () => queue.shift() as entryv1.SyncAuthorizedEntriesResponse__Output,
    };
  }

  it("skips each with a warning", async () => {
    const malformed = new Map<number, Partial<types.Entry__Output>>([
      [17, { selectors: [] }],
      [4_321, { spiffe_id: { trust_domain: "Not Valid", path: "/x" } }],
      [9_999, { federates_with: ["not a trust domain"] }],
    ]);
    const entries = Array.from({ length: entryCount }, (_, index) => protoEntry(index, malformed.get(index)));
    const warnings: { msg: string; entry_id: string }[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        warnings.push(JSON.parse(chunk.toString("utf8")) as { msg: string; entry_id: string });
        done();
      },
    });

    const result = await syncAuthorizedEntries(pagedStream(entries), new Map(), pino({ level: "warn" }, sink));

    expect(result.entries.size).toBe(entryCount - malformed.size);
    expect(result.stats.revisionPages).toBe(entryCount / pageSize);
    expect(warnings.map((warning) => warning.entry_id).sort()).toEqual(["e00017", "e04321", "e09999"]);
    expect(new Set(warnings.map((warning) => warning.msg))).toEqual(new Set(["Received malformed entry from the server; skipping it"]));
  });
});
