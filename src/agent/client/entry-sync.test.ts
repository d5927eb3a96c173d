import { pino } from "pino";
import { describe, expect, it } from "vitest";

import type { entryv1, types } from "../../proto/index.js";
import type { CachedEntry } from "../cache/cache-types.js";
import { entryFromProto } from "./entry-convert.js";
import type { EntrySyncStream } from "./entry-sync.js";
import { syncAuthorizedEntries } from "./entry-sync.js";

const logger = pino({ level: "silent" });

function protoEntry(id: string, revision = 1, overrides: Partial<types.Entry__Output> = {}): types.Entry__Output {
  return {
    id,
    spiffe_id: { trust_domain: "example.org", path: `/${id}` },
    parent_id: null,
    selectors: [{ type: "unix", value: "uid:1000" }],
    x509_svid_ttl: 0,
    federates_with: [],
    admin: false,
    downstream: false,
    expires_at: 0,
    dns_names: [],
    revision_number: revision,
    store_svid: false,
    jwt_svid_ttl: 0,
    hint: "",
    created_at: 1000,
    additional_attributes: null,
    ...overrides,
  };
}

function response(partial: Partial<entryv1.SyncAuthorizedEntriesResponse__Output>): entryv1.SyncAuthorizedEntriesResponse__Output {
  return { entry_revisions: [], entries: [], more: false, ...partial };
}

/**
 * Plays the server side of SyncAuthorizedEntries over plain data, following the protocol
 * description in spire-api-sdk's entry.proto: one full response up to `pageSize` entries,
 * otherwise revision pages, then full entries for the requested IDs.
 */
function scriptedServer(serverEntries: types.Entry__Output[], pageSize: number) {
  const requests: entryv1.SyncAuthorizedEntriesRequest[] = [];
  const pending: entryv1.SyncAuthorizedEntriesResponse__Output[] = [];

  const stream: EntrySyncStream = {
    send(request) {
      requests.push(request);
      if (requests.length === 1) {
        if (serverEntries.length <= pageSize) {
          pending.push(response({ entries: serverEntries }));
          return;
        }
        for (let start = 0; start < serverEntries.length; start += pageSize) {
          const page = serverEntries.slice(start, start + pageSize);
          pending.push(
            response({
              entry_revisions: page.map((e) => ({ id: e.id, revision_number: e.revision_number, created_at: e.created_at })),
              more: start + pageSize < serverEntries.length,
            }),
          );
        }
        return;
      }
      const wanted = new Set(request.ids ?? []);
      pending.push(response({ entries: serverEntries.filter((e) => wanted.has(e.id)) }));
    },
    async receive() {
      const next = pending.shift();
      if (next === undefined) {
        throw new Error("the scripted server has nothing more to send");
      }
      return next;
    },
  };
  return { stream, requests };
}

function cachedFrom(...entries: types.Entry__Output[]): Map<string, CachedEntry> {
  return new Map(entries.map((e) => [e.id, entryFromProto(e)]));
}

describe("syncAuthorizedEntries", () => {
  it("takes a full list in one response", async () => {
    const { stream, requests } = scriptedServer([protoEntry("a"), protoEntry("b")], 500);

    const result = await syncAuthorizedEntries(stream, new Map(), logger);

    expect([...result.entries.keys()]).toEqual(["a", "b"]);
    expect(result.stats).toEqual({ total: 2, missing: 2, stale: 0, dropped: 0, revisionPages: 0 });
    expect(requests).toHaveLength(1);
    expect(requests[0]?.output_mask?.revision_number).toBe(true);
    expect(requests[0]?.output_mask?.parent_id).toBeUndefined();
    expect(requests[0]?.ids).toBeUndefined();
  });

  it("requests only new and changed entries by revision", async () => {
    const server = ["a", "b", "c", "d", "e"].map((id) => protoEntry(id, id === "c" ? 2 : 1));
    const { stream, requests } = scriptedServer(server, 2);
    const cached = cachedFrom(protoEntry("a"), protoEntry("c", 1), protoEntry("gone"));

    const result = await syncAuthorizedEntries(stream, cached, logger);

    expect(requests.slice(1).map((r) => r.ids)).toEqual([["b", "c"], ["d", "e"]]);
    expect([...result.entries.keys()].sort()).toEqual(["a", "b", "c", "d", "e"]);
    expect(result.entries.get("a")).toBe(cached.get("a"));
    expect(result.entries.get("c")?.revisionNumber).toBe(2);
    expect(result.stats).toEqual({ total: 5, missing: 3, stale: 1, dropped: 1, revisionPages: 3 });
  });

  it("refetches an entry recreated under the same ID", async () => {
    const server = [protoEntry("a", 1, { created_at: 2000 }), protoEntry("b"), protoEntry("c")];
    const { stream, requests } = scriptedServer(server, 2);
    const cached = cachedFrom(protoEntry("a", 1, { created_at: 1000 }), protoEntry("b"), protoEntry("c"));

    const result = await syncAuthorizedEntries(stream, cached, logger);

    expect(requests.slice(1).map((r) => r.ids)).toEqual([["a"]]);
    expect(result.entries.get("a")?.createdAt).toBe(2000);
    expect(result.stats.stale).toBe(1);
  });

  it("ignores a zero creation time from older servers", async () => {
    const server = [protoEntry("a", 1, { created_at: 0 }), protoEntry("b"), protoEntry("c")];
    const { stream, requests } = scriptedServer(server, 2);

    await syncAuthorizedEntries(stream, cachedFrom(protoEntry("a"), protoEntry("b"), protoEntry("c")), logger);

    expect(requests).toHaveLength(1);
  });

  it("skips malformed entries", async () => {
    const server = [
      protoEntry("good"),
      protoEntry("no-selectors", 1, { selectors: [] }),
      protoEntry("bad-selector", 1, { selectors: [{ type: "unix:uid", value: "0" }] }),
      protoEntry("bad-id", 1, { spiffe_id: { trust_domain: "Example.org", path: "/x" } }),
      protoEntry("bad-federation", 1, { federates_with: ["not a domain"] }),
      protoEntry(""),
    ];
    const { stream } = scriptedServer(server, 500);

    const result = await syncAuthorizedEntries(stream, new Map(), logger);

    expect([...result.entries.keys()]).toEqual(["good"]);
  });

  it("rejects entries in the revision phase", async () => {
    const stream: EntrySyncStream = {
      send() {},
      receive: (() => {
        const script = [
          response({ entry_revisions: [{ id: "a", revision_number: 1, created_at: 1 }], more: true }),
          response({ entries: [protoEntry("a")] }),
        ];
        return async () => script.shift() as entryv1.SyncAuthorizedEntriesResponse__Output;
      })(),
    };

    await expect(syncAuthorizedEntries(stream, new Map(), logger)).rejects.toThrow("sent entries while the agent was receiving entry revisions");
  });

  it("reads entries split over several responses", async () => {
    const sent: entryv1.SyncAuthorizedEntriesRequest[] = [];
    const script = [
      response({ entry_revisions: [1, 2].map((n) => ({ id: `e${n}`, revision_number: 1, created_at: 1000 })) }),
      response({ entries: [protoEntry("e1")], more: true }),
      response({ entries: [protoEntry("e2")] }),
    ];
    const stream: EntrySyncStream = {
      send: (request) => sent.push(request),
      receive: async () => script.shift() as entryv1.SyncAuthorizedEntriesResponse__Output,
    };

    const result = await syncAuthorizedEntries(stream, new Map(), logger);

    expect([...result.entries.keys()]).toEqual(["e1", "e2"]);
    expect(sent[1]?.ids).toEqual(["e1", "e2"]);
  });
});
