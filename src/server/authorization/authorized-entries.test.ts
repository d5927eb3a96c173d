import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openDatastore } from "../datastore/datastore.js";
import type { Datastore } from "../datastore/datastore.js";
import { newRegistrationEntry } from "../datastore/types.js";
import type { NewRegistrationEntry } from "../datastore/types.js";
import { fetchAuthorizedEntries } from "./authorized-entries.js";

const AGENT = "spiffe://example.org/spire/agent/join_token/t1";
const OTHER_AGENT = "spiffe://example.org/spire/agent/join_token/t2";
const SERVER = "spiffe://example.org/spire/server";
const NOW = new Date(1_700_000_000_000);

describe("fetchAuthorizedEntries", () => {
  let folder: string;
  let datastore: Datastore;

  beforeEach(() => {
    folder = mkdtempSync(join(tmpdir(), "tessera-authorized-"));
    datastore = openDatastore(join(folder, "datastore.sqlite3"));
    datastore.nodes.recordAttestation(
      {
        spiffeId: AGENT,
        attestationType: "join_token",
        certSerialNumber: "1",
        certNotAfter: 0,
        newCertSerialNumber: "",
        newCertNotAfter: 0,
        canReattest: false,
        agentVersion: "",
      },
      [{ type: "cluster", value: "prod" }, { type: "zone", value: "a" }],
    );
  });

  afterEach(() => {
    datastore.close();
    rmSync(folder, { recursive: true, force: true });
  });

  function add(spiffeId: string, parentId: string, extra: Partial<NewRegistrationEntry> = {}): string {
    const selectors = extra.selectors ?? [{ type: "unix", value: `uid:${spiffeId.length}` }];
    return datastore.entries.createOrReturn(newRegistrationEntry({ spiffeId, parentId, ...extra, selectors }), NOW).entry.id;
  }

  function authorizedIds(agentId = AGENT): string[] {
    return fetchAuthorizedEntries(datastore, "example.org", agentId, NOW).map((entry) => entry.spiffeId).sort();
  }

  it("includes direct children of the agent", () => {
    add("spiffe://example.org/web", AGENT);
    add("spiffe://example.org/db", OTHER_AGENT);

    expect(authorizedIds()).toEqual(["spiffe://example.org/web"]);
  });

  it("follows children transitively", () => {
    add("spiffe://example.org/host", AGENT);
    add("spiffe://example.org/host/app", "spiffe://example.org/host");
    add("spiffe://example.org/host/app/sidecar", "spiffe://example.org/host/app");

    expect(authorizedIds()).toEqual([
      "spiffe://example.org/host",
      "spiffe://example.org/host/app",
      "spiffe://example.org/host/app/sidecar",
    ]);
  });

  it("includes workloads under matching node aliases but not the alias", () => {
    add("spiffe://example.org/cluster/prod", SERVER, { selectors: [{ type: "cluster", value: "prod" }] });
    add("spiffe://example.org/cluster/prod-a", SERVER, {
      selectors: [{ type: "cluster", value: "prod" }, { type: "zone", value: "a" }],
    });
    add("spiffe://example.org/cluster/prod-b", SERVER, {
      selectors: [{ type: "cluster", value: "prod" }, { type: "zone", value: "b" }],
    });
    add("spiffe://example.org/api", "spiffe://example.org/cluster/prod");
    add("spiffe://example.org/cache", "spiffe://example.org/cluster/prod-a");
    add("spiffe://example.org/queue", "spiffe://example.org/cluster/prod-b");

    expect(authorizedIds()).toEqual(["spiffe://example.org/api", "spiffe://example.org/cache"]);
  });

  it("leaves out expired entries and what hangs below them", () => {
    const nowSeconds = NOW.getTime() / 1000;
    add("spiffe://example.org/old", AGENT, { expiresAt: nowSeconds - 1 });
    add("spiffe://example.org/old/child", "spiffe://example.org/old");
    add("spiffe://example.org/current", AGENT, { expiresAt: nowSeconds + 60 });

    expect(authorizedIds()).toEqual(["spiffe://example.org/current"]);
  });

  it("stops at cycles", () => {
    add("spiffe://example.org/a", AGENT);
    add("spiffe://example.org/b", "spiffe://example.org/a");
    add("spiffe://example.org/a", "spiffe://example.org/b", { selectors: [{ type: "x", value: "loop" }] });

    expect(authorizedIds()).toEqual(["spiffe://example.org/a", "spiffe://example.org/a", "spiffe://example.org/b"]);
  });

  it("returns nothing to an agent without entries", () => {
    add("spiffe://example.org/web", AGENT);

    expect(authorizedIds(OTHER_AGENT)).toEqual([]);
  });
});
