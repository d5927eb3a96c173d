import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { openDatastore } from "./datastore.js";
import type { Datastore } from "./datastore.js";
import { BundleInUseError, BundleNotFoundError, deleteFederatedBundle } from "./delete-federated-bundle.js";
import { EntryNotFoundError, FederatedBundleNotFoundError } from "./entry-store.js";
import { NodeNotFoundError } from "./node-store.js";
import { CURRENT_SCHEMA_VERSION } from "./schema.js";
import { newRegistrationEntry } from "./types.js";
import type { NewRegistrationEntry } from "./types.js";

function newEntry(overrides: Partial<NewRegistrationEntry> = {}): NewRegistrationEntry {
  return newRegistrationEntry({
    spiffeId: "spiffe://example.org/web",
    parentId: "spiffe://example.org/spire/agent/join_token/abc",
    selectors: [{ type: "unix", value: "uid:1000" }],
    ...overrides,
  });
}

describe("datastore", () => {
  const folders: string[] = [];
  const stores: Datastore[] = [];
  afterEach(() => {
    for (const store of stores.splice(0)) store.close();
    for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
  });

  function open(path?: string): { store: Datastore; path: string } {
    let file = path;
    if (file === undefined) {
      const folder = mkdtempSync(join(tmpdir(), "tessera-datastore-"));
      folders.push(folder);
      file = join(folder, "data", "datastore.sqlite3");
    }
    const store = openDatastore(file);
    stores.push(store);
    return { store, path: file };
  }

  describe("schema", () => {
    it("uses WAL mode and records the migration", () => {
      const { store, path } = open();
      store.close();
      stores.length = 0;

      const db = new BetterSqlite3(path, { readonly: true });
      const mode = db.pragma("journal_mode", { simple: true });
      const versions = db.prepare("SELECT version FROM schema_migrations").all();
      db.close();

      expect(mode).toBe("wal");
      expect(versions.at(-1)).toEqual({ version: CURRENT_SCHEMA_VERSION });
      expect(versions).toHaveLength(CURRENT_SCHEMA_VERSION);
    });

    it("keeps data across reopen", () => {
      const { store, path } = open();
      const { entry } = store.entries.createOrReturn(newEntry());
      store.close();
      stores.length = 0;

      const reopened = open(path).store;

      expect(reopened.entries.get(entry.id)).toEqual(entry);
    });

    it("rejects a database from a newer server", () => {
      const { store, path } = open();
      store.close();
      stores.length = 0;
      const db = new BetterSqlite3(path);
      db.prepare("INSERT INTO schema_migrations (version, applied_at) VALUES (?, 0)").run(CURRENT_SCHEMA_VERSION + 1);
      db.close();

      expect(() => openDatastore(path)).toThrow(/newer than this server supports/);
    });
  });

  describe("entries", () => {
    it("creates entries with a UUID and revision 0", () => {
      const { store } = open();

      const { entry, existing } = store.entries.createOrReturn(newEntry(), new Date(1_700_000_000_000));

      expect(existing).toBe(false);
      expect(entry.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(entry.revisionNumber).toBe(0);
      expect(entry.createdAt).toBe(1_700_000_000);
    });

    it("returns the similar entry instead of a duplicate", () => {
      const { store } = open();
      const first = store.entries.createOrReturn(
        newEntry({ selectors: [{ type: "unix", value: "uid:1000" }, { type: "unix", value: "gid:1" }] }),
      );

      const second = store.entries.createOrReturn(
        newEntry({ selectors: [{ type: "unix", value: "gid:1" }, { type: "unix", value: "uid:1000" }], hint: "x" }),
      );

      expect(second.existing).toBe(true);
      expect(second.entry.id).toBe(first.entry.id);
      expect(store.entries.count()).toBe(1);
    });

    it("keeps a caller-chosen entry ID", () => {
      const { store } = open();

      const { entry } = store.entries.createOrReturn(newEntry({ id: "my-entry" }));

      expect(entry.id).toBe("my-entry");
    });

    it("stores every field", () => {
      const { store } = open();
      store.bundles.set({ trustDomain: "other.org", x509Authorities: [], jwtAuthorities: [], refreshHint: 0 });
      const input = newEntry({
        x509SvidTtl: 120,
        jwtSvidTtl: 60,
        federatesWith: ["other.org"],
        admin: true,
        downstream: true,
        expiresAt: 2_000_000_000,
        dnsNames: ["a.example.org", "b.example.org"],
        storeSvid: true,
        hint: "web",
      });

      const { entry } = store.entries.createOrReturn(input);

      expect(store.entries.get(entry.id)).toEqual({ ...input, id: entry.id, revisionNumber: 0, createdAt: entry.createdAt });
    });

    it("increments the revision on update", () => {
      const { store } = open();
      const { entry } = store.entries.createOrReturn(newEntry());

      const updated = store.entries.update(entry.id, newEntry({ hint: "new", x509SvidTtl: 5 }), { hint: true });

      expect(updated.revisionNumber).toBe(1);
      expect(updated.hint).toBe("new");
      expect(updated.x509SvidTtl).toBe(0);
      expect(store.entries.get(entry.id)?.revisionNumber).toBe(1);
    });

    it("filters by SPIFFE ID, parent ID and selectors", () => {
      const { store } = open();
      store.entries.createOrReturn(newEntry({ spiffeId: "spiffe://example.org/a" }));
      store.entries.createOrReturn(newEntry({ spiffeId: "spiffe://example.org/b", parentId: "spiffe://example.org/p" }));
      store.entries.createOrReturn(
        newEntry({ spiffeId: "spiffe://example.org/c", selectors: [{ type: "docker", value: "label:x" }] }),
      );

      const bySpiffeId = store.entries.list({ bySpiffeId: "spiffe://example.org/a" });
      const byParentId = store.entries.list({ byParentId: "spiffe://example.org/p" });
      const bySelectors = store.entries.list({
        bySelectors: { selectors: [{ type: "docker", value: "label:x" }], match: "exact" },
      });

      expect(bySpiffeId.map((entry) => entry.spiffeId)).toEqual(["spiffe://example.org/a"]);
      expect(byParentId.map((entry) => entry.spiffeId)).toEqual(["spiffe://example.org/b"]);
      expect(bySelectors.map((entry) => entry.spiffeId)).toEqual(["spiffe://example.org/c"]);
    });

    it("deletes entries and reports unknown IDs", () => {
      const { store } = open();
      const { entry } = store.entries.createOrReturn(newEntry());

      const deleted = store.entries.delete(entry.id);

      expect(deleted.id).toBe(entry.id);
      expect(store.entries.get(entry.id)).toBeUndefined();
      expect(() => store.entries.delete(entry.id)).toThrow(EntryNotFoundError);
    });

    it("lists children of many parents at once", () => {
      const { store } = open();
      store.entries.createOrReturn(newEntry({ spiffeId: "spiffe://example.org/a", parentId: "spiffe://example.org/p1" }));
      store.entries.createOrReturn(newEntry({ spiffeId: "spiffe://example.org/b", parentId: "spiffe://example.org/p2" }));
      store.entries.createOrReturn(newEntry({ spiffeId: "spiffe://example.org/c", parentId: "spiffe://example.org/p3" }));

      const children = store.entries.listByParentIds(["spiffe://example.org/p1", "spiffe://example.org/p2"]);

      expect(children.map((entry) => entry.spiffeId).sort()).toEqual(["spiffe://example.org/a", "spiffe://example.org/b"]);
    });
  });

  describe("nodes", () => {
    const agentId = "spiffe://example.org/spire/agent/join_token/abc";
    const node = {
      spiffeId: agentId,
      attestationType: "join_token",
      certSerialNumber: "11",
      certNotAfter: 1000,
      newCertSerialNumber: "",
      newCertNotAfter: 0,
      canReattest: false,
      agentVersion: "",
    };

    it("records attestation with selectors", () => {
      const { store } = open();

      store.nodes.recordAttestation(node, [{ type: "x", value: "2" }, { type: "x", value: "1" }, { type: "x", value: "1" }]);

      expect(store.nodes.getWithSelectors(agentId)).toEqual({
        ...node,
        banned: false,
        selectors: [{ type: "x", value: "1" }, { type: "x", value: "2" }],
      });
    });

    it("promotes a renewed certificate only for the pending serial", () => {
      const { store } = open();
      store.nodes.recordAttestation(node, []);
      store.nodes.setNewCertificate(agentId, "22", 2000);

      store.nodes.activateNewCertificate(agentId, "99");
      const beforePromotion = store.nodes.get(agentId);
      store.nodes.activateNewCertificate(agentId, "22");
      const afterPromotion = store.nodes.get(agentId);

      expect(beforePromotion?.certSerialNumber).toBe("11");
      expect(afterPromotion?.certSerialNumber).toBe("22");
      expect(afterPromotion?.certNotAfter).toBe(2000);
      expect(afterPromotion?.newCertSerialNumber).toBe("");
    });

    it("bans by clearing serial numbers", () => {
      const { store } = open();
      store.nodes.recordAttestation(node, []);

      store.nodes.ban(agentId);

      expect(store.nodes.getWithSelectors(agentId)?.banned).toBe(true);
      expect(store.nodes.get(agentId)?.certSerialNumber).toBe("");
    });

    it("deletes nodes with their selectors", () => {
      const { store } = open();
      store.nodes.recordAttestation(node, [{ type: "x", value: "1" }]);

      store.nodes.delete(agentId);

      expect(store.nodes.get(agentId)).toBeUndefined();
      expect(store.nodes.getSelectors(agentId)).toEqual([]);
      expect(() => store.nodes.delete(agentId)).toThrow(NodeNotFoundError);
      expect(() => store.nodes.ban(agentId)).toThrow(NodeNotFoundError);
    });
  });

  describe("join tokens", () => {
    it("hands a token out once", () => {
      const { store } = open();
      store.joinTokens.create({ token: "t1", expiresAt: 100 });

      const first = store.joinTokens.take("t1");
      const second = store.joinTokens.take("t1");

      expect(first).toEqual({ token: "t1", expiresAt: 100 });
      expect(second).toBeUndefined();
    });

    it("prunes expired tokens", () => {
      const { store } = open();
      store.joinTokens.create({ token: "old", expiresAt: 100 });
      store.joinTokens.create({ token: "new", expiresAt: 300 });

      const pruned = store.joinTokens.pruneExpired(new Date(200_000));

      expect(pruned).toBe(1);
      expect(store.joinTokens.take("new")).toBeDefined();
    });
  });

  describe("bundles", () => {
    it("bumps the sequence number on every change", () => {
      const { store } = open();
      const bundle = { trustDomain: "example.org", x509Authorities: [Buffer.from([1, 2])], jwtAuthorities: [], refreshHint: 0 };

      store.bundles.set(bundle);
      const second = store.bundles.set({ ...bundle, x509Authorities: [Buffer.from([3])] });

      expect(second.sequenceNumber).toBe(2);
      expect(store.bundles.get("example.org")).toEqual(second);
      expect(store.bundles.get("other.org")).toBeUndefined();
    });
  });
  describe("federated bundles", () => {
    function withOtherBundle(): Datastore {
      const { store } = open();
      store.bundles.set({ trustDomain: "other.org", x509Authorities: [], jwtAuthorities: [], refreshHint: 0 });
      return store;
    }

    it("rejects entries federating with unknown trust domains", () => {
      const store = withOtherBundle();
      const { entry } = store.entries.createOrReturn(newEntry());

      expect(() => store.entries.createOrReturn(newEntry({ spiffeId: "spiffe://example.org/db", federatesWith: ["missing.org"] }))).toThrow(
        FederatedBundleNotFoundError,
      );
      expect(() => store.entries.update(entry.id, newEntry({ federatesWith: ["missing.org"] }))).toThrow(
        'unable to find federated bundle "spiffe://missing.org"',
      );
      expect(store.entries.count()).toBe(1);
    });

    it("restricts deletion while entries federate", () => {
      const store = withOtherBundle();
      store.entries.createOrReturn(newEntry({ federatesWith: ["other.org"] }));

      expect(() => deleteFederatedBundle(store, "other.org", "restrict")).toThrow(BundleInUseError);
      expect(store.bundles.get("other.org")).toBeDefined();
      expect(() => deleteFederatedBundle(store, "missing.org", "restrict")).toThrow(BundleNotFoundError);
    });

    it("deletes federating entries in delete mode", () => {
      const store = withOtherBundle();
      const federating = store.entries.createOrReturn(newEntry({ federatesWith: ["other.org"] })).entry;
      const unrelated = store.entries.createOrReturn(newEntry({ spiffeId: "spiffe://example.org/db" })).entry;

      const changed = deleteFederatedBundle(store, "other.org", "delete");

      expect(changed).toEqual([federating.id]);
      expect(store.entries.get(federating.id)).toBeUndefined();
      expect(store.entries.get(unrelated.id)).toEqual(unrelated);
      expect(store.bundles.get("other.org")).toBeUndefined();
    });

    it("dissociates federating entries in dissociate mode", () => {
      const store = withOtherBundle();
      store.bundles.set({ trustDomain: "third.org", x509Authorities: [], jwtAuthorities: [], refreshHint: 0 });
      const { entry } = store.entries.createOrReturn(newEntry({ federatesWith: ["other.org", "third.org"] }));

      deleteFederatedBundle(store, "other.org", "dissociate");
      const after = store.entries.get(entry.id);

      expect(after?.federatesWith).toEqual(["third.org"]);
      expect(after?.revisionNumber).toBe(entry.revisionNumber + 1);
      expect(store.bundles.get("other.org")).toBeUndefined();
    });
  });
});
