import { status } from "@grpc/grpc-js";
import type { ClientDuplexStream, ServiceError } from "@grpc/grpc-js";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ENTRY_OUTPUT_MASK } from "../../agent/client/entry-convert.js";
import type { EntryClient, entryv1, types } from "../../proto/index.js";
import { call, callError, protoId, startTestServer } from "../test-support/server-harness.js";
import type { TestAgent, TestServer } from "../test-support/server-harness.js";

type SyncCall = ClientDuplexStream<entryv1.SyncAuthorizedEntriesRequest, entryv1.SyncAuthorizedEntriesResponse__Output>;

/** Reads a SyncAuthorizedEntries stream response by response. */
function openSync(client: EntryClient) {
  const stream: SyncCall = client.SyncAuthorizedEntries();
  const received: (entryv1.SyncAuthorizedEntriesResponse__Output | ServiceError | "end")[] = [];
  let wake: (() => void) | undefined;
  const push = (item: (typeof received)[number]): void => {
    received.push(item);
    wake?.();
  };
  stream.on("data", push);
  stream.on("error", push);
  stream.on("end", () => push("end"));

  return {
    send: (request: entryv1.SyncAuthorizedEntriesRequest) => stream.write(request),
    async next() {
      while (received.length === 0) await new Promise<void>((resolve) => (wake = resolve));
      return received.shift() as (typeof received)[number];
    },
    cancel: () => stream.cancel(),
  };
}

/** The mask the agent sends, so these tests exercise what real agents receive. */
const AGENT_MASK = ENTRY_OUTPUT_MASK;

describe("entry service", () => {
  let server: TestServer;
  let agent: TestAgent;

  beforeEach(async () => {
    server = await startTestServer({ entryPageSize: 5 });
    agent = await server.attest(await server.createJoinToken());
  });

  afterEach(async () => {
    await server.stop();
  });

  async function addEntries(count: number): Promise<string[]> {
    const ids: string[] = [];
    for (let index = 0; index < count; index++) {
      ids.push(await server.createEntry({ spiffeId: `spiffe://example.org/w${index}`, parentId: agent.agentId }));
    }
    return ids;
  }

  describe("SyncAuthorizedEntries", () => {
    it("sends small sets whole in one response", async () => {
      const ids = await addEntries(5);
      const sync = openSync((await server.agentClients(agent)).entry);

      sync.send({ output_mask: AGENT_MASK });
      const response = (await sync.next()) as entryv1.SyncAuthorizedEntriesResponse__Output;
      const end = await sync.next();

      expect(response.entries.map((entry) => entry.id).sort()).toEqual([...ids].sort());
      expect(response.entry_revisions).toEqual([]);
      expect(response.more).toBe(false);
      expect(response.entries[0]?.parent_id).toBeNull();
      expect(response.entries[0]?.spiffe_id?.trust_domain).toBe("example.org");
      expect(end).toBe("end");
    });

    it("pages revisions and then full entries for large sets", async () => {
      const ids = await addEntries(12);
      const sync = openSync((await server.agentClients(agent)).entry);

      sync.send({ output_mask: AGENT_MASK });
      const revisionPages = [];
      for (let page = 0; page < 3; page++) {
        revisionPages.push((await sync.next()) as entryv1.SyncAuthorizedEntriesResponse__Output);
      }
      const wanted = [...ids].sort().slice(0, 7);
      sync.send({ ids: [...wanted, "no-such-entry"].reverse() });
      const firstFull = (await sync.next()) as entryv1.SyncAuthorizedEntriesResponse__Output;
      const secondFull = (await sync.next()) as entryv1.SyncAuthorizedEntriesResponse__Output;
      sync.send({ ids: [] });
      const empty = (await sync.next()) as entryv1.SyncAuthorizedEntriesResponse__Output;
      sync.cancel();

      expect(revisionPages.map((page) => page.entry_revisions.length)).toEqual([5, 5, 2]);
      expect(revisionPages.map((page) => page.more)).toEqual([true, true, false]);
      expect(revisionPages.every((page) => page.entries.length === 0)).toBe(true);
      expect(revisionPages.flatMap((page) => page.entry_revisions.map((revision) => revision.id)).sort()).toEqual([...ids].sort());
      expect(revisionPages[0]?.entry_revisions[0]?.created_at).toBeGreaterThan(0);
      expect(firstFull.entries.map((entry) => entry.id)).toEqual(wanted.slice(0, 5));
      expect(firstFull.more).toBe(true);
      expect(secondFull.entries.map((entry) => entry.id)).toEqual(wanted.slice(5));
      expect(secondFull.more).toBe(false);
      expect(secondFull.entry_revisions).toEqual([]);
      expect(empty).toMatchObject({ entries: [], more: false });
    });

    it("reports new revisions after an update", async () => {
      const ids = await addEntries(6);
      const target = ids[0] as string;
      await call((done) =>
        server.admin.entry.BatchUpdateEntry({ entries: [{ id: target, hint: "changed" }], input_mask: { hint: true } }, done),
      );
      const sync = openSync((await server.agentClients(agent)).entry);

      sync.send({ output_mask: AGENT_MASK });
      const pages = [(await sync.next()) as entryv1.SyncAuthorizedEntriesResponse__Output, (await sync.next()) as entryv1.SyncAuthorizedEntriesResponse__Output];
      sync.cancel();
      const revision = pages.flatMap((page) => page.entry_revisions).find((item) => item.id === target);

      expect(revision?.revision_number).toBe(1);
    });

    it("rejects a mask without the revision number", async () => {
      const sync = openSync((await server.agentClients(agent)).entry);

      sync.send({ output_mask: { spiffe_id: true } });
      const error = (await sync.next()) as ServiceError;

      expect(error.code).toBe(status.INVALID_ARGUMENT);
      expect(error.details).toBe("revision number cannot be masked");
    });

    it("rejects IDs in the first request", async () => {
      const sync = openSync((await server.agentClients(agent)).entry);

      sync.send({ ids: ["x"] });
      const error = (await sync.next()) as ServiceError;

      expect(error.code).toBe(status.INVALID_ARGUMENT);
    });

    it("requires an agent SVID", async () => {
      const sync = openSync((await server.anonymousClients()).entry);

      sync.send({ output_mask: AGENT_MASK });
      const error = (await sync.next()) as ServiceError;

      expect(error.code).toBe(status.PERMISSION_DENIED);
    });
  });

  describe("GetAuthorizedEntries", () => {
    it("returns the agent's entries with the mask applied", async () => {
      const ids = await addEntries(2);
      await server.createEntry({ spiffeId: "spiffe://example.org/foreign", parentId: "spiffe://example.org/spire/agent/x" });
      const clients = await server.agentClients(agent);

      const response = await call<entryv1.GetAuthorizedEntriesResponse__Output>((done) =>
        clients.entry.GetAuthorizedEntries({ output_mask: { spiffe_id: true } }, done),
      );

      expect(response.entries.map((entry) => entry.id).sort()).toEqual([...ids].sort());
      expect(response.entries[0]?.selectors).toEqual([]);
      expect(response.entries[0]?.spiffe_id).not.toBeNull();
    });
  });

  describe("admin methods", () => {
    it("returns the similar entry with AlreadyExists", async () => {
      const first = await server.createEntry({ spiffeId: "spiffe://example.org/web", parentId: agent.agentId });

      const response = await call<entryv1.BatchCreateEntryResponse__Output>((done) =>
        server.admin.entry.BatchCreateEntry(
          { entries: [{ spiffe_id: protoId("spiffe://example.org/web"), parent_id: protoId(agent.agentId), selectors: [{ type: "unix", value: "uid:1000" }] }] },
          done,
        ),
      );

      expect(response.results[0]?.status).toEqual({ code: status.ALREADY_EXISTS, message: "similar entry already exists" });
      expect(response.results[0]?.entry?.id).toBe(first);
    });

    it("rejects invalid entries per item", async () => {
      const good = { spiffe_id: protoId("spiffe://example.org/ok"), parent_id: protoId(agent.agentId), selectors: [{ type: "unix", value: "uid:1" }] };

      const response = await call<entryv1.BatchCreateEntryResponse__Output>((done) =>
        server.admin.entry.BatchCreateEntry(
          {
            entries: [
              { ...good, selectors: [] },
              { ...good, spiffe_id: protoId("spiffe://example.org/spire/agent/fake") },
              { ...good, spiffe_id: protoId("spiffe://other.org/w") },
              { ...good, selectors: [{ type: "unix", value: "" }] },
              { ...good, dns_names: ["bad name"] },
              good,
            ],
          },
          done,
        ),
      );

      expect(response.results.map((result) => result.status?.code)).toEqual([
        status.INVALID_ARGUMENT,
        status.INVALID_ARGUMENT,
        status.INVALID_ARGUMENT,
        status.INVALID_ARGUMENT,
        status.INVALID_ARGUMENT,
        status.OK,
      ]);
      expect(response.results[0]?.status?.message).toBe("failed to convert entry: selector list is empty");
    });

    it("lists with filters, gets and deletes entries", async () => {
      const web = await server.createEntry({ spiffeId: "spiffe://example.org/web", parentId: agent.agentId });
      await server.createEntry({ spiffeId: "spiffe://example.org/db", parentId: "spiffe://example.org/spire/agent/other" });

      const bySpiffeId = await call<entryv1.ListEntriesResponse__Output>((done) =>
        server.admin.entry.ListEntries({ filter: { by_spiffe_id: protoId("spiffe://example.org/web") } }, done),
      );
      const byParentId = await call<entryv1.ListEntriesResponse__Output>((done) =>
        server.admin.entry.ListEntries({ filter: { by_parent_id: protoId("spiffe://example.org/spire/agent/other") } }, done),
      );
      const fetched = await call<types.Entry__Output>((done) => server.admin.entry.GetEntry({ id: web }, done));
      const deleted = await call<entryv1.BatchDeleteEntryResponse__Output>((done) =>
        server.admin.entry.BatchDeleteEntry({ ids: [web, web, ""] }, done),
      );
      const missing = await callError((done) => server.admin.entry.GetEntry({ id: web }, done));

      expect(bySpiffeId.entries.map((entry) => entry.id)).toEqual([web]);
      expect(byParentId.entries.map((entry) => entry.spiffe_id?.path)).toEqual(["/db"]);
      expect(fetched.parent_id).toEqual({ trust_domain: "example.org", path: new URL(agent.agentId).pathname });
      expect(deleted.results.map((result) => result.status?.code)).toEqual([status.OK, status.NOT_FOUND, status.INVALID_ARGUMENT]);
      expect(missing.code).toBe(status.NOT_FOUND);
    });

    it("pages ListEntries", async () => {
      await addEntries(3);

      const first = await call<entryv1.ListEntriesResponse__Output>((done) => server.admin.entry.ListEntries({ page_size: 2 }, done));
      const second = await call<entryv1.ListEntriesResponse__Output>((done) =>
        server.admin.entry.ListEntries({ page_size: 2, page_token: first.next_page_token }, done),
      );

      expect(first.entries).toHaveLength(2);
      expect(second.entries).toHaveLength(1);
      expect(second.next_page_token).toBe("");
    });
  });
});
