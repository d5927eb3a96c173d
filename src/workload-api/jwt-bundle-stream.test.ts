import * as grpc from "@grpc/grpc-js";
import { createPublicKey } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { OWN_UID_SELECTOR, securityHeader, startTestJwtEndpoint, testJwtKeys } from "./test-jwt-endpoint.js";
import type { TestJwtEndpoint, TestJwtEndpointOptions } from "./test-jwt-endpoint.js";
import { createTestJwtKey } from "./test-jwt-keys.js";
import { observe } from "./test-stream-observer.js";

let endpoint: TestJwtEndpoint | undefined;

afterEach(async () => {
  await endpoint?.stop();
  endpoint = undefined;
});

async function start(options: TestJwtEndpointOptions = {}): Promise<TestJwtEndpoint> {
  endpoint = await startTestJwtEndpoint(options);
  return endpoint;
}

const WEB_ENTRY = { entryId: "entry-1", spiffeId: "spiffe://example.org/web", selectors: [OWN_UID_SELECTOR] };

interface Jwks {
  keys: Array<Record<string, string>>;
}

describe("FetchJWTBundles", () => {
  it("sends JWK Sets keyed by trust domain ID", async () => {
    const target = await start({ entries: [{ ...WEB_ENTRY, federatesWith: ["partner.test"] }] });

    const [response] = await observe(target.client().FetchJWTBundles({}, securityHeader())).messageCount(1);
    const bundles = response!.bundles;

    expect(Object.keys(bundles).sort()).toEqual(["spiffe://example.org", "spiffe://partner.test"]);
    const own = JSON.parse(bundles["spiffe://example.org"]!.toString("utf8")) as Jwks;
    expect(own.keys.map((key) => Object.keys(key))).toEqual([
      ["kty", "kid", "crv", "x", "y"],
      ["kty", "kid", "n", "e"],
    ]);
    expect(own.keys[0]!.kid).toBe("own-ec");
    expect(own.keys[0]!.crv).toBe("P-256");
    const reimported = createPublicKey({ key: own.keys[1]!, format: "jwk" }).export({ format: "der", type: "spki" });
    expect(reimported.equals(testJwtKeys().ownRsa.authority.publicKeyDer)).toBe(true);
  });

  it("indents the JSON by four spaces", async () => {
    const target = await start({ entries: [WEB_ENTRY] });

    const [response] = await observe(target.client().FetchJWTBundles({}, securityHeader())).messageCount(1);
    const text = response!.bundles["spiffe://example.org"]!.toString("utf8");

    expect(text.split("\n").slice(0, 4)).toEqual(["{", '    "keys": [', "        {", '            "kty": "EC",']);
  });

  it("leaves out bundles the caller does not federate with", async () => {
    const target = await start({ entries: [WEB_ENTRY] });

    const [response] = await observe(target.client().FetchJWTBundles({}, securityHeader())).messageCount(1);

    expect(Object.keys(response!.bundles)).toEqual(["spiffe://example.org"]);
  });

  it("denies a caller without identity", async () => {
    const target = await start();

    const status = await observe(target.client().FetchJWTBundles({}, securityHeader())).finalStatus();

    expect(status.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(status.details).toBe("no identity issued");
  });

  it("rejects a call without the security header", async () => {
    const target = await start({ entries: [WEB_ENTRY] });

    const status = await observe(target.client().FetchJWTBundles({})).finalStatus();

    expect(status.code).toBe(grpc.status.INVALID_ARGUMENT);
  });

  it("sends the own bundle to unauthenticated verifiers", async () => {
    const target = await start({ allowUnauthenticatedVerifiers: true });

    const [response] = await observe(target.client().FetchJWTBundles({}, securityHeader())).messageCount(1);

    expect(Object.keys(response!.bundles)).toEqual(["spiffe://example.org"]);
  });

  it("resends only changed bundles", async () => {
    const target = await start({ entries: [WEB_ENTRY] });
    const client = target.client();
    const stream = observe(client.FetchJWTBundles({}, securityHeader()));
    await stream.messageCount(1);

    target.jwt.bundlesChanged();
    const added = createTestJwtKey("own-ec-2");
    target.jwt.state.bundles.set("example.org", [testJwtKeys().own.authority, added.authority]);
    target.jwt.bundlesChanged();
    const messages = await stream.messageCount(2);
    target.jwt.bundlesChanged();
    // The server writes synchronously on bundlesChanged(), so a third message would reach
    // this client before the response to a later call on the same connection.
    await new Promise((resolve) => client.FetchJWTSVID({ audience: ["x"] }, securityHeader(), resolve));

    expect(stream.messages).toHaveLength(2);
    const second = JSON.parse(messages[1]!.bundles["spiffe://example.org"]!.toString("utf8")) as Jwks;
    expect(second.keys.map((key) => key.kid)).toEqual(["own-ec", "own-ec-2"]);
  });

  it("resends every bundle on change", async () => {
    const target = await start({ entries: [{ ...WEB_ENTRY, federatesWith: ["partner.test"] }] });
    const stream = observe(target.client().FetchJWTBundles({}, securityHeader()));
    await stream.messageCount(1);

    const added = createTestJwtKey("own-ec-2");
    target.jwt.state.bundles.set("example.org", [testJwtKeys().own.authority, added.authority]);
    target.jwt.bundlesChanged();
    const messages = await stream.messageCount(2);

    expect(Object.keys(messages[1]!.bundles).sort()).toEqual(["spiffe://example.org", "spiffe://partner.test"]);
    const partner = JSON.parse(messages[1]!.bundles["spiffe://partner.test"]!.toString("utf8")) as Jwks;
    expect(partner.keys.map((key) => key.kid)).toEqual(["partner-ec"]);
  });

  it("follows a new federates_with", async () => {
    const target = await start({ entries: [WEB_ENTRY] });
    const stream = observe(target.client().FetchJWTBundles({}, securityHeader()));
    await stream.messageCount(1);

    target.jwt.state.entries = [{ ...WEB_ENTRY, federatesWith: ["partner.test"] }];
    target.identities.changed();
    const messages = await stream.messageCount(2);

    expect(Object.keys(messages[1]!.bundles).sort()).toEqual(["spiffe://example.org", "spiffe://partner.test"]);
  });

  it("closes its entry subscription on cancel", async () => {
    const target = await start({ entries: [WEB_ENTRY] });
    const call = target.client().FetchJWTBundles({}, securityHeader());
    const stream = observe(call);
    await stream.messageCount(1);
    expect(target.identities.openSubscriptions()).toBe(1);

    call.cancel();
    await stream.finalStatus();
    while (target.identities.openSubscriptions() > 0) await new Promise((resolve) => setTimeout(resolve, 5));

    expect(target.identities.openSubscriptions()).toBe(0);
  });

  it("ends the stream when identities drop to zero", async () => {
    const target = await start({ entries: [WEB_ENTRY] });
    const stream = observe(target.client().FetchJWTBundles({}, securityHeader()));
    await stream.messageCount(1);

    target.jwt.state.entries = [];
    target.identities.changed();
    const status = await stream.finalStatus();

    expect(status.code).toBe(grpc.status.PERMISSION_DENIED);
  });

  it("removes its listener when the client cancels", async () => {
    const target = await start({ entries: [WEB_ENTRY] });
    const call = target.client().FetchJWTBundles({}, securityHeader());
    const stream = observe(call);
    await stream.messageCount(1);
    expect(target.jwt.bundleListeners()).toBe(1);

    call.cancel();
    await stream.finalStatus();
    while (target.jwt.bundleListeners() > 0) await new Promise((resolve) => setTimeout(resolve, 5));

    expect(target.jwt.bundleListeners()).toBe(0);
  });
});
