import { pino } from "pino";
import { describe, expect, it } from "vitest";

import type { ServerJwtSvid } from "../client/server-client.js";
import { status } from "@grpc/grpc-js";

import { toServerRpcError } from "../client/rpc-failure.js";
import { createAgentJwtSource, describeJwtSvidFailure } from "./agent-jwt-source.js";
import type { CachedEntry } from "./cache-types.js";
import { createJwtBundleStore } from "./jwt-bundle-store.js";
import { createJwtSvidCache } from "./jwt-svid-cache.js";
import type { JwtSvidMinter } from "./jwt-svid-cache.js";
import { testEntry } from "./test-entry.js";
import { createX509Cache } from "./x509-cache.js";

const logger = pino({ level: "silent" });
const ROOT = Buffer.from("own-root");

function entry(id: string, selectors: string[], overrides: Partial<CachedEntry> = {}): CachedEntry {
  return testEntry(id, selectors, { disableX509SvidPrefetch: true, ...overrides });
}

function setup(mint: JwtSvidMinter) {
  const cache = createX509Cache({ trustDomain: "example.org", bundle: [ROOT], logger });
  const jwtBundles = createJwtBundleStore(logger);
  const source = createAgentJwtSource({ trustDomain: "example.org", cache, jwtBundles, jwtSvids: createJwtSvidCache({ mint, logger }) });
  return { cache, jwtBundles, source };
}

const workload = [
  { type: "unix", value: "uid:1000" },
  { type: "unix", value: "gid:1000" },
];

function mintFor(spiffeId: string, token: string): ServerJwtSvid {
  const issuedAt = Math.floor(Date.now() / 1000);
  return { token, spiffeId, hint: "", issuedAt, expiresAt: issuedAt + 300 };
}

describe("agent JwtSource", () => {
  it("lists matching entries without SVIDs", () => {
    const { cache, source } = setup(() => Promise.reject(new Error("not called")));
    cache.update(
      new Map([
        ["b", entry("b", ["unix:uid:1000"], { hint: "internal", federatesWith: ["other.org"] })],
        ["a", entry("a", ["unix:uid:1000", "unix:gid:1000"])],
        ["c", entry("c", ["unix:uid:2000"])],
      ]),
      new Map([["example.org", [ROOT]]]),
    );

    const identities = source.matchingIdentities(workload);
    expect(cache.svidCount()).toBe(0);
    expect(identities.map((identity) => identity.entryId)).toEqual(["a", "b"]);
    expect(identities[1]).toEqual({ entryId: "b", spiffeId: "spiffe://example.org/b", hint: "internal", createdAt: 1000, federatesWith: ["other.org"] });
  });

  it("fetches a token for an identity", async () => {
    const calls: string[][] = [];
    const { cache, source } = setup(async (entryId, audience) => {
      calls.push([entryId, ...audience]);
      return mintFor("spiffe://example.org/a", "token-a");
    });
    cache.update(new Map([["a", entry("a", ["unix:uid:1000"], { hint: "h" })]]), new Map([["example.org", [ROOT]]]));
    const [identity] = source.matchingIdentities(workload);

    const svid = await source.fetchJwtSvid(identity!, ["aud"], new AbortController().signal);
    expect(svid.token).toBe("token-a");
    expect(svid.spiffeId).toBe("spiffe://example.org/a");
    expect(svid.hint).toBe("h");
    expect(calls).toEqual([["a", "aud"]]);
  });

  it("stops waiting when aborted", async () => {
    const { cache, source } = setup(() => new Promise(() => undefined));
    cache.update(new Map([["a", entry("a", ["unix:uid:1000"])]]), new Map([["example.org", [ROOT]]]));
    const [identity] = source.matchingIdentities(workload);
    const controller = new AbortController();

    const pending = source.fetchJwtSvid(identity!, ["aud"], controller.signal);
    controller.abort(new Error("workload went away"));
    await expect(pending).rejects.toThrow("workload went away");
  });

  it("names an unreachable server once", async () => {
    const refused = Object.assign(new Error("14 UNAVAILABLE: No connection established"), {
      code: status.UNAVAILABLE,
      details: "No connection established. Last error: connect ECONNREFUSED 127.0.0.1:8081",
    });
    const { cache, source } = setup(async (entryId) => {
      throw toServerRpcError(`failed to mint JWT-SVID for entry ${entryId}`, refused);
    });
    cache.update(new Map([["a", entry("a", ["unix:uid:1000"])]]), new Map([["example.org", [ROOT]]]));
    const [identity] = source.matchingIdentities(workload);

    const pending = source.fetchJwtSvid(identity!, ["aud"], new AbortController().signal);

    await expect(pending).rejects.toThrow(/^the server is unreachable: No connection established. Last error: connect ECONNREFUSED 127.0.0.1:8081$/);
  });

  it("describes other server statuses", () => {
    const denied = Object.assign(new Error("7 PERMISSION_DENIED"), { code: status.PERMISSION_DENIED, details: "entry not authorized" });
    const slow = Object.assign(new Error("4 DEADLINE_EXCEEDED"), { code: status.DEADLINE_EXCEEDED, details: "Deadline exceeded" });

    expect(describeJwtSvidFailure(toServerRpcError("failed to mint", denied)).message).toBe("the server returned PERMISSION_DENIED: entry not authorized (reason UNKNOWN)");
    expect(describeJwtSvidFailure(toServerRpcError("failed to mint", slow)).message).toBe("the server did not respond in time: Deadline exceeded");
    expect(describeJwtSvidFailure(toServerRpcError("failed to mint", new Error("the server returned no JWT-SVID"))).message).toBe("the server returned no JWT-SVID");
    expect(describeJwtSvidFailure(new Error("local failure")).message).toBe("local failure");
  });

  it("returns JWT bundles and notifies on both bundle kinds", () => {
    const { cache, jwtBundles, source } = setup(() => Promise.reject(new Error("not called")));
    let notified = 0;
    const remove = source.onBundleUpdate(() => notified++);

    const authority = { keyId: "k1", publicKeyDer: Buffer.from("der"), expiresAt: 0 };
    jwtBundles.update(new Map([["example.org", [authority]]]));
    expect(notified).toBe(1);
    cache.update(new Map(), new Map([["example.org", [ROOT]], ["other.org", [Buffer.from("other-root")]]]));
    expect(notified).toBe(2);

    const bundles = source.jwtBundles();
    expect(bundles.trustDomain).toBe("example.org");
    expect(bundles.bundles.get("example.org")).toEqual([authority]);

    remove();
    jwtBundles.update(new Map());
    expect(notified).toBe(2);
  });
});
