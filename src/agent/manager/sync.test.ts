import { pino } from "pino";
import { describe, expect, it } from "vitest";

import type { types } from "../../proto/index.js";
import type { CachedEntry } from "../cache/cache-types.js";
import type { ServerClient } from "../client/server-client.js";
import { fetchBundles, federatedTrustDomains } from "./sync.js";

const logger = pino({ level: "silent" });

function bundle(trustDomain: string, roots: string[], keyIds: string[], taintedKeyIds: string[] = []): types.Bundle__Output {
  return {
    trust_domain: trustDomain,
    x509_authorities: roots.map((root) => ({ asn1: Buffer.from(root), tainted: false })),
    jwt_authorities: keyIds.map((keyId) => ({ key_id: keyId, public_key: Buffer.from(`pk-${keyId}`), expires_at: 7, tainted: taintedKeyIds.includes(keyId) })),
    refresh_hint: 0,
    sequence_number: 0,
  } as unknown as types.Bundle__Output;
}

/** A ServerClient that serves bundles from plain data and records concurrency; only the bundle calls work. */
function bundleServer(own: types.Bundle__Output, federated: Map<string, types.Bundle__Output | Error>) {
  const stats = { running: 0, maxRunning: 0, requested: [] as string[] };
  const client = {
    getBundle: async () => own,
    getFederatedBundle: async (name: string) => {
      stats.requested.push(name);
      stats.running++;
      stats.maxRunning = Math.max(stats.maxRunning, stats.running);
      await new Promise((wake) => setTimeout(wake, 5));
      stats.running--;
      const found = federated.get(name);
      if (found instanceof Error) {
        throw found;
      }
      return found;
    },
  } as unknown as ServerClient;
  return { client, stats };
}

describe("federatedTrustDomains", () => {
  it("returns the sorted union without the own trust domain", () => {
    const entries = new Map<string, CachedEntry>([
      ["a", { federatesWith: ["z.org", "b.org"] } as CachedEntry],
      ["b", { federatesWith: ["b.org", "example.org"] } as CachedEntry],
    ]);
    expect(federatedTrustDomains(entries, "example.org")).toEqual(["b.org", "z.org"]);
  });
});

describe("fetchBundles", () => {
  it("keeps X.509 roots and JWT authorities", async () => {
    const { client } = bundleServer(
      bundle("example.org", ["own-root"], ["own-key"]),
      new Map([
        ["other.org", bundle("other.org", ["other-root"], ["other-key"])],
        ["jwt-only.org", bundle("jwt-only.org", [], ["jwt-key"])],
      ]),
    );

    const fetched = await fetchBundles(client, "example.org", ["jwt-only.org", "other.org"], logger);
    expect([...fetched.x509.keys()].sort()).toEqual(["example.org", "other.org"]);
    expect(fetched.x509.get("other.org")).toEqual([Buffer.from("other-root")]);
    expect(fetched.jwt.get("example.org")).toEqual([{ keyId: "own-key", publicKeyDer: Buffer.from("pk-own-key"), expiresAt: 7 }]);
    expect(fetched.jwt.get("other.org")?.map((key) => key.keyId)).toEqual(["other-key"]);
    expect(fetched.jwt.get("jwt-only.org")?.map((key) => key.keyId)).toEqual(["jwt-key"]);
  });

  it("reports tainted own JWT keys", async () => {
    const { client } = bundleServer(
      bundle("example.org", ["own-root"], ["old-key", "new-key"], ["old-key"]),
      new Map([["other.org", bundle("other.org", ["other-root"], ["other-key"], ["other-key"])]]),
    );

    const fetched = await fetchBundles(client, "example.org", ["other.org"], logger);
    expect(fetched.taintedJwtKeyIds).toEqual(["old-key"]);
    expect(fetched.jwt.get("example.org")?.map((key) => key.keyId)).toEqual(["old-key", "new-key"]);
  });

  it("skips missing and mismatched bundles", async () => {
    const { client } = bundleServer(
      bundle("example.org", ["own-root"], []),
      new Map([
        ["wrong.org", bundle("other.org", ["other-root"], [])],
        ["empty.org", bundle("empty.org", [], [])],
      ]),
    );

    const fetched = await fetchBundles(client, "example.org", ["empty.org", "missing.org", "wrong.org"], logger);
    expect([...fetched.x509.keys()]).toEqual(["example.org"]);
    expect([...fetched.jwt.keys()]).toEqual(["example.org"]);
  });

  it("fails on other errors", async () => {
    const { client } = bundleServer(bundle("example.org", ["own-root"], []), new Map([["down.org", new Error("unavailable")]]));
    await expect(fetchBundles(client, "example.org", ["down.org"], logger)).rejects.toThrow("unavailable");
  });

  it("fetches at most ten at once", async () => {
    const names = Array.from({ length: 25 }, (_, index) => `td${String(index).padStart(2, "0")}.org`);
    const { client, stats } = bundleServer(bundle("example.org", ["own-root"], []), new Map(names.map((name) => [name, bundle(name, ["root"], [])])));

    const fetched = await fetchBundles(client, "example.org", names, logger);
    expect(fetched.x509.size).toBe(26);
    expect(stats.maxRunning).toBe(10);
    expect(stats.requested).toEqual(names);
  });

  it("rejects the bundle of another own trust domain", async () => {
    const { client } = bundleServer(bundle("other.org", ["root"], []), new Map());
    await expect(fetchBundles(client, "example.org", [], logger)).rejects.toThrow("expected example.org");
  });
});
