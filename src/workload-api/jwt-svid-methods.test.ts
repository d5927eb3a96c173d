import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import type { workload } from "../proto/index.js";
import { fromProtobufStruct } from "./protobuf-struct.js";
import { OWN_UID_SELECTOR, securityHeader, startTestJwtEndpoint, testJwtKeys, unary } from "./test-jwt-endpoint.js";
import type { TestJwtEndpoint, TestJwtEndpointOptions } from "./test-jwt-endpoint.js";
import type { TestJwtEntry } from "./test-jwt-source.js";
import { createTestJwtKey, signTestJwt } from "./test-jwt-keys.js";
import { validateJwtSvid, publicKeyFromDer } from "./jwt-svid-validation.js";

let endpoint: TestJwtEndpoint | undefined;

afterEach(async () => {
  await endpoint?.stop();
  endpoint = undefined;
});

async function start(options: TestJwtEndpointOptions = {}): Promise<TestJwtEndpoint> {
  endpoint = await startTestJwtEndpoint(options);
  return endpoint;
}

function entry(entryId: string, path: string, extra: Partial<TestJwtEntry> = {}): TestJwtEntry {
  return { entryId, spiffeId: `spiffe://example.org/${path}`, selectors: [OWN_UID_SELECTOR], ...extra };
}

function fetchJwt(target: TestJwtEndpoint, request: workload.JWTSVIDRequest, metadata = securityHeader()) {
  return unary<workload.JWTSVIDResponse__Output>((callback) => target.client().FetchJWTSVID(request, metadata, callback));
}

function validate(target: TestJwtEndpoint, request: workload.ValidateJWTSVIDRequest, metadata = securityHeader()) {
  return unary<workload.ValidateJWTSVIDResponse__Output>((callback) =>
    target.client().ValidateJWTSVID(request, metadata, callback),
  );
}

function tokenClaims(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { sub: "spiffe://example.org/web", aud: ["api"], exp: Math.floor(Date.now() / 1000) + 300, ...extra };
}

describe("FetchJWTSVID", () => {
  it("rejects a call without the security header", async () => {
    const target = await start({ entries: [entry("entry-1", "web")] });

    const { error } = await fetchJwt(target, { audience: ["api"] }, new grpc.Metadata());

    expect(error?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(error?.details).toBe("security header missing from request");
  });

  it("requires an audience", async () => {
    const target = await start({ entries: [entry("entry-1", "web")] });

    const { error } = await fetchJwt(target, { audience: [] });

    expect(error?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(error?.details).toBe("audience must be specified");
  });

  it("rejects an empty or oversized audience", async () => {
    const target = await start({ entries: [entry("entry-1", "web")] });

    const empty = await fetchJwt(target, { audience: [""] });
    const oversized = await fetchJwt(target, { audience: ["x".repeat(2049)] });

    expect(empty.error?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(empty.error?.details).toBe("audience must not be an empty string");
    expect(oversized.error?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(oversized.error?.details).toBe("audience of 2049 bytes is too long: the maximum is 2048 bytes");
  });

  it("rejects an invalid spiffe_id", async () => {
    const target = await start({ entries: [entry("entry-1", "web")] });

    const { error } = await fetchJwt(target, { audience: ["api"], spiffe_id: "spiffe://Example.org/web" });

    expect(error?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(error?.details).toMatch(/^invalid requested SPIFFE ID: invalid SPIFFE ID "spiffe:\/\/Example.org\/web"/);
  });

  it("denies a caller without identity", async () => {
    const target = await start();

    const { error } = await fetchJwt(target, { audience: ["api"] });

    expect(error?.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(error?.details).toBe("no identity issued");
    expect(target.jwt.fetches).toEqual([]);
  });

  it("returns one token per identity", async () => {
    const target = await start({
      entries: [entry("entry-b", "second", { hint: "internal" }), entry("entry-a", "first")],
    });

    const { error, response } = await fetchJwt(target, { audience: ["api", "db"] });

    expect(error).toBeNull();
    expect(response!.svids.map((svid) => svid.spiffe_id)).toEqual(["spiffe://example.org/first", "spiffe://example.org/second"]);
    expect(response!.svids.map((svid) => svid.hint)).toEqual(["", "internal"]);
    const key = publicKeyFromDer(testJwtKeys().own.authority.publicKeyDer);
    const validated = validateJwtSvid(response!.svids[1]!.svid, "db", () => key);
    expect(validated.claims.sub).toBe("spiffe://example.org/second");
    expect(target.jwt.fetches[0]!.audience).toEqual(["api", "db"]);
  });

  it("returns only the requested spiffe_id", async () => {
    const target = await start({ entries: [entry("entry-a", "first"), entry("entry-b", "second")] });

    const { response } = await fetchJwt(target, { audience: ["api"], spiffe_id: "spiffe://example.org/second" });

    expect(response!.svids.map((svid) => svid.spiffe_id)).toEqual(["spiffe://example.org/second"]);
    expect(target.jwt.fetches.map((fetch) => fetch.spiffeId)).toEqual(["spiffe://example.org/second"]);
  });

  it("denies a spiffe_id the caller lacks", async () => {
    const target = await start({ entries: [entry("entry-a", "first")] });

    const { error } = await fetchJwt(target, { audience: ["api"], spiffe_id: "spiffe://example.org/admin" });

    expect(error?.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(error?.details).toBe("no identity issued");
  });

  it("keeps the oldest entry among equal hints", async () => {
    const target = await start({
      entries: [
        entry("entry-1", "newer", { hint: "db", createdAt: 200 }),
        entry("entry-2", "older", { hint: "db", createdAt: 100 }),
      ],
    });

    const { response } = await fetchJwt(target, { audience: ["api"] });

    expect(response!.svids.map((svid) => svid.spiffe_id)).toEqual(["spiffe://example.org/older"]);
  });

  it("returns Unavailable when a token cannot be had", async () => {
    const target = await start({ entries: [entry("entry-1", "web")] });
    target.jwt.state.fetchError = "server unreachable";

    const { error } = await fetchJwt(target, { audience: ["api"] });

    expect(error?.code).toBe(grpc.status.UNAVAILABLE);
    expect(error?.details).toBe("failed to mint JWT-SVID: server unreachable");
  });

  it("logs a failed fetch without causes", async () => {
    const target = await start({ entries: [entry("entry-1", "web")] });
    target.jwt.source.fetchJwtSvid = async () => {
      throw new Error("the server is unreachable: connect ECONNREFUSED", { cause: new Error("connect ECONNREFUSED") });
    };

    await fetchJwt(target, { audience: ["api"] });

    const line = target.captured.lines.find((candidate) => candidate.msg === "Failed to fetch JWT-SVID");
    expect(line?.error).toBe("the server is unreachable: connect ECONNREFUSED");
    expect(line?.entry_id).toBe("entry-1");
    expect(line?.pid).toBe(process.pid);
    expect(line?.err).toBeUndefined();
  });

  it("logs a cancelled call at debug", async () => {
    const target = await start({ entries: [entry("entry-1", "web")] });
    let fetchStarted!: () => void;
    const started = new Promise<void>((resolve) => (fetchStarted = resolve));
    let fetchSettled!: () => void;
    const settled = new Promise<void>((resolve) => (fetchSettled = resolve));
    target.jwt.source.fetchJwtSvid = (_identity, _audience, signal) => {
      fetchStarted();
      return new Promise((_resolve, reject) => {
        signal.addEventListener("abort", () => {
          reject(signal.reason as Error);
          setImmediate(fetchSettled);
        });
      });
    };

    const call = target.client().FetchJWTSVID({ audience: ["api"] }, securityHeader(), () => undefined);
    await started;
    call.cancel();
    await settled;

    const cancelled = target.captured.lines.filter((line) => line.msg === "Client cancelled the call while its JWT-SVID was fetched");
    expect(cancelled).toHaveLength(1);
    expect(cancelled[0]?.level).toBe(20);
    expect(cancelled[0]?.pid).toBe(process.pid);
    expect(cancelled[0]?.method).toBe("FetchJWTSVID");
    expect(cancelled[0]?.err).toBeUndefined();
    expect(target.captured.lines.filter((line) => (line.level as number) >= 50)).toEqual([]);
  });
});

describe("ValidateJWTSVID", () => {
  it("rejects a call without the security header", async () => {
    const target = await start();

    const { error } = await validate(target, { audience: "api", svid: "x" }, new grpc.Metadata());

    expect(error?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(error?.details).toBe("security header missing from request");
  });

  it("requires audience and svid", async () => {
    const target = await start();

    const noAudience = await validate(target, { audience: "", svid: "x" });
    const noSvid = await validate(target, { audience: "api", svid: "" });

    expect(noAudience.error?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(noAudience.error?.details).toBe("audience must be specified");
    expect(noSvid.error?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(noSvid.error?.details).toBe("svid must be specified");
  });

  it("returns subject and claims to a caller without identity", async () => {
    const target = await start();
    const token = signTestJwt(testJwtKeys().ownRsa, tokenClaims({ aud: "api", team: "blue", nested: { n: 1, ok: true, none: null } }));

    const { error, response } = await validate(target, { audience: "api", svid: token });

    expect(error).toBeNull();
    expect(response!.spiffe_id).toBe("spiffe://example.org/web");
    const claims = fromProtobufStruct(response!.claims);
    expect(claims.aud).toEqual(["api"]);
    expect(claims.team).toBe("blue");
    expect(claims.nested).toEqual({ n: 1, ok: true, none: null });
    expect(response!.claims!.fields.exp!.numberValue).toBe(tokenClaims().exp as number);
  });

  it.each<[string, () => string, RegExp]>([
    ["alg none", () => signTestJwt(testJwtKeys().own, tokenClaims(), { alg: "none" }), /algorithm "none" is not allowed/],
    ["HS256", () => signTestJwt(testJwtKeys().own, tokenClaims(), { alg: "HS256" }), /algorithm "HS256" is not allowed/],
    ["missing kid", () => signTestJwt(testJwtKeys().own, tokenClaims(), { kid: undefined }), /no key ID/],
    ["missing sub", () => signTestJwt(testJwtKeys().own, tokenClaims({ sub: undefined })), /no sub claim/],
    ["invalid sub", () => signTestJwt(testJwtKeys().own, tokenClaims({ sub: "web" })), /sub claim is not a SPIFFE ID/],
    ["missing exp", () => signTestJwt(testJwtKeys().own, tokenClaims({ exp: undefined })), /no exp claim/],
    ["expired", () => signTestJwt(testJwtKeys().own, tokenClaims({ exp: Math.floor(Date.now() / 1000) - 3600 })), /has expired/],
    ["missing aud", () => signTestJwt(testJwtKeys().own, tokenClaims({ aud: undefined })), /no aud claim/],
    ["wrong audience", () => signTestJwt(testJwtKeys().own, tokenClaims({ aud: ["db"] })), /expected audience "api"/],
    ["unknown kid", () => signTestJwt(testJwtKeys().own, tokenClaims(), { kid: "retired" }), /key ID "retired"/],
    ["another key", () => signTestJwt(createTestJwtKey("own-ec"), tokenClaims()), /signature is invalid/],
  ])("rejects %s", async (_case, makeToken, expected) => {
    const target = await start();

    const { error } = await validate(target, { audience: "api", svid: makeToken() });

    expect(error?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(error?.details).toMatch(expected);
  });

  it("rejects a federated token for a caller without that federation", async () => {
    const target = await start({ entries: [entry("entry-1", "web")] });
    const token = signTestJwt(testJwtKeys().partner, tokenClaims({ sub: "spiffe://partner.test/client" }));

    const { error } = await validate(target, { audience: "api", svid: token });

    expect(error?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(error?.details).toMatch(/trust domain "partner.test"/);
  });

  it("filters claims of a foreign trust domain", async () => {
    const target = await start({
      entries: [entry("entry-1", "web", { federatesWith: ["partner.test"] })],
      allowedForeignJwtClaims: ["team"],
    });
    const token = signTestJwt(
      testJwtKeys().partner,
      tokenClaims({ sub: "spiffe://partner.test/client", aud: "api", team: "red", secret: "x", iat: 1 }),
    );

    const { error, response } = await validate(target, { audience: "api", svid: token });

    expect(error).toBeNull();
    expect(response!.spiffe_id).toBe("spiffe://partner.test/client");
    const claims = fromProtobufStruct(response!.claims);
    expect(Object.keys(claims).sort()).toEqual(["aud", "exp", "sub", "team"]);
    expect(claims.aud).toEqual(["api"]);
  });
});
