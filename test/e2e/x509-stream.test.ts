/**
 * End to end: one FetchX509SVID stream follows registration changes. Creating an entry
 * for the caller adds an identity to the open stream, deleting it removes it, and deleting
 * the last one ends the stream with PermissionDenied.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials, Metadata, status as Status } from "@grpc/grpc-js";
import type { ClientReadableStream, ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { prepareAgentAttestation, startAgent, startServer } from "../../src/devtools/local-deployment.js";
import type { RunningAgent, RunningServer } from "../../src/devtools/local-deployment.js";
import { WorkloadApiClient } from "../../src/proto/index.js";
import type { workload } from "../../src/proto/index.js";

const trustDomain = "stream.tessera.test";
const nodeId = `spiffe://${trustDomain}/node`;
const firstId = `spiffe://${trustDomain}/first`;
const secondId = `spiffe://${trustDomain}/second`;
const uid = process.getuid?.() ?? 0;

/** Collects a stream's messages and lets a test wait for one that matches. */
function watchStream(stream: ClientReadableStream<workload.X509SVIDResponse__Output>) {
  const updates: string[][] = [];
  const waiters: { match: (ids: string[]) => boolean; resolve: (ids: string[]) => void }[] = [];
  let ended: ServiceError | undefined;
  let onEnd: ((error: ServiceError) => void) | undefined;
  const firstEvent = new Promise<"data" | "error">((resolve) => {
    stream.once("data", () => resolve("data"));
    stream.once("error", () => resolve("error"));
  });

  stream.on("data", (response: workload.X509SVIDResponse__Output) => {
    const ids = response.svids.map((svid) => svid.spiffe_id).sort();
    updates.push(ids);
    for (const waiter of waiters.splice(0)) {
      if (waiter.match(ids)) waiter.resolve(ids);
      else waiters.push(waiter);
    }
  });
  stream.on("error", (error: ServiceError) => {
    ended = error;
    onEnd?.(error);
  });

  return {
    updates,
    /** Resolves with the kind of the stream's first event: a message, or the error that ended it. */
    firstEvent,
    /** Resolves with the latest update if it matches, else with the next update that does. */
    next(match: (ids: string[]) => boolean, timeoutMs = 30_000): Promise<string[]> {
      const latest = updates.at(-1);
      if (latest !== undefined && match(latest)) return Promise.resolve(latest);

      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no matching update within ${timeoutMs} ms; updates: ${JSON.stringify(updates)}`)), timeoutMs);
        waiters.push({
          match,
          resolve: (ids) => {
            clearTimeout(timer);
            resolve(ids);
          },
        });
      });
    },
    /** Resolves with the error status that ended the stream. */
    end(timeoutMs = 30_000): Promise<ServiceError> {
      if (ended !== undefined) return Promise.resolve(ended);

      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`stream did not end within ${timeoutMs} ms`)), timeoutMs);
        onEnd = (error) => {
          clearTimeout(timer);
          resolve(error);
        };
      });
    },
  };
}

describe("FetchX509SVID stream across entry changes", () => {
  let folder: string;
  let server: RunningServer;
  let agent: RunningAgent;
  let client: WorkloadApiClient;

  async function createEntry(spiffeId: string): Promise<string> {
    const output = await server.cli(["entry", "create", "-parentID", nodeId, "-spiffeID", spiffeId, "-selector", `unix:uid:${uid}`]);
    const entryId = /Entry ID\s*:\s*(\S+)/.exec(output)?.[1];
    if (entryId === undefined) throw new Error(`no entry ID in: ${output}`);
    return entryId;
  }

  beforeAll(async () => {
    folder = mkdtempSync(join(tmpdir(), "tessera-stream-"));
    server = await startServer({ folder, trustDomain });
    const bundlePath = join(folder, "bundle.pem");
    const { joinToken } = await prepareAgentAttestation(server, nodeId, bundlePath);
    agent = await startAgent({ folder, trustDomain, serverPort: server.port, trustBundlePath: bundlePath, joinToken, extraAgentConfig: ["experimental {", '  sync_interval = "1s"', "}"] });
    client = new WorkloadApiClient(`unix://${agent.socketPath}`, credentials.createInsecure());
  });

  afterAll(async () => {
    client?.close();
    await agent?.stop();
    await server?.stop();
    if (folder) rmSync(folder, { recursive: true, force: true });
  });

  it("adds, removes and finally ends with PermissionDenied", async () => {
    const firstEntry = await createEntry(firstId);
    const metadata = new Metadata();
    metadata.set("workload.spiffe.io", "true");

    // A caller with no identity gets PermissionDenied at once, so reopen the stream until
    // the agent has synced the first entry.
    let stream = watchStream(client.FetchX509SVID({}, metadata));
    const deadline = Date.now() + 30_000;
    while ((await stream.firstEvent) === "error") {
      if (Date.now() > deadline) throw new Error("the agent did not sync the first entry within 30 s");
      await new Promise((wake) => setTimeout(wake, 300));
      stream = watchStream(client.FetchX509SVID({}, metadata));
    }
    expect(stream.updates.at(-1)).toEqual([firstId]);

    const secondEntry = await createEntry(secondId);
    expect(await stream.next((ids) => ids.length === 2)).toEqual([firstId, secondId]);

    await server.cli(["entry", "delete", "-entryID", secondEntry]);
    expect(await stream.next((ids) => ids.length === 1)).toEqual([firstId]);

    await server.cli(["entry", "delete", "-entryID", firstEntry]);
    const end = await stream.end();
    expect(end.code).toBe(Status.PERMISSION_DENIED);
    expect(end.details).toBe("no identity issued");
  });
});
