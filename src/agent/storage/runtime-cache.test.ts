import { mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { pino } from "pino";
import { afterEach, beforeAll, describe, expect, it } from "vitest";

import { captureLogger } from "../../workload-api/test-logger.js";
import type { TestJwtKey } from "../../workload-api/test-jwt-keys.js";
import { createTestJwtKey, signTestJwt } from "../../workload-api/test-jwt-keys.js";
import type { TestAuthority, TestSvid } from "../../workload-api/test-pki.js";
import { createTestRootAuthority, createTestSvid } from "../../workload-api/test-pki.js";
import type { CachedEntry, CachedX509Svid } from "../cache/cache-types.js";
import { createJwtBundleStore } from "../cache/jwt-bundle-store.js";
import type { CachedJwtSvid, JwtSvidMinter } from "../cache/jwt-svid-cache.js";
import { createJwtSvidCache } from "../cache/jwt-svid-cache.js";
import { testEntry } from "../cache/test-entry.js";
import { createX509Cache } from "../cache/x509-cache.js";
import { checkRuntimeCache } from "./runtime-cache-check.js";
import type { RuntimeCacheExpectations } from "./runtime-cache-check.js";
import { decodeRuntimeCache, encodeRuntimeCache } from "./runtime-cache-file.js";
import type { RuntimeCacheContent } from "./runtime-cache-file.js";
import { createRuntimeCache } from "./runtime-cache.js";
import type { RuntimeCacheSources } from "./runtime-cache.js";

const TRUST_DOMAIN = "example.org";
const AGENT_ID = "spiffe://example.org/spire/agent/join_token/1234";
const silent = pino({ level: "silent" });

let root: TestAuthority;
let otherRoot: TestAuthority;
let jwtKey: TestJwtKey;
let web: { entry: CachedEntry; svid: TestSvid };
let db: { entry: CachedEntry; svid: TestSvid };

beforeAll(async () => {
  root = await createTestRootAuthority(TRUST_DOMAIN);
  otherRoot = await createTestRootAuthority(TRUST_DOMAIN);
  jwtKey = createTestJwtKey("jwt-key-1");
  const webEntry = testEntry("web", ["unix:uid:1000"], { federatesWith: ["partner.org"] });
  const dbEntry = testEntry("db", ["unix:uid:2000"], { revisionNumber: 3 });
  web = { entry: webEntry, svid: await createTestSvid(root, webEntry.spiffeId) };
  db = { entry: dbEntry, svid: await createTestSvid(root, dbEntry.spiffeId) };
});

function cachedSvid(entry: CachedEntry, svid: TestSvid): CachedX509Svid {
  return {
    certChain: svid.certChain,
    privateKeyPkcs8: svid.privateKeyPkcs8,
    spiffeId: entry.spiffeId,
    entryRevision: entry.revisionNumber,
    notBeforeMs: Date.now() - 60_000,
    notAfterMs: svid.notAfter.getTime(),
  };
}

function jwtSvid(spiffeId: string, audience: string[], key: TestJwtKey = jwtKey, expiresAt = Math.floor(Date.now() / 1000) + 300): CachedJwtSvid {
  const issuedAt = Math.floor(Date.now() / 1000) - 10;
  const token = signTestJwt(key, { sub: spiffeId, aud: audience, exp: expiresAt, iat: issuedAt });
  return { spiffeId, audience, svid: { token, spiffeId, hint: "", issuedAt, expiresAt } };
}

function sampleContent(): RuntimeCacheContent {
  return {
    trustDomain: TRUST_DOMAIN,
    agentSpiffeId: AGENT_ID,
    x509: {
      entries: [web.entry, db.entry],
      svids: new Map([
        ["web", cachedSvid(web.entry, web.svid)],
        ["db", cachedSvid(db.entry, db.svid)],
      ]),
      bundles: new Map([
        [TRUST_DOMAIN, [root.certificateDer]],
        ["partner.org", [otherRoot.certificateDer]],
      ]),
    },
    jwtBundles: new Map([[TRUST_DOMAIN, [jwtKey.authority]]]),
    jwtSvids: [jwtSvid(web.entry.spiffeId, ["api", "billing"])],
  };
}

function expectations(overrides: Partial<RuntimeCacheExpectations> = {}): RuntimeCacheExpectations {
  return { trustDomain: TRUST_DOMAIN, agentSpiffeId: AGENT_ID, ownBundle: [root.certificateDer], nowMs: Date.now(), ...overrides };
}

function newSources(mint: JwtSvidMinter = () => Promise.reject(new Error("the server is down"))): RuntimeCacheSources {
  return {
    x509: createX509Cache({ trustDomain: TRUST_DOMAIN, bundle: [root.certificateDer], logger: silent }),
    jwtBundles: createJwtBundleStore(silent),
    jwtSvids: createJwtSvidCache({ mint, logger: silent }),
    agentSpiffeId: () => AGENT_ID,
  };
}

describe("runtime cache file", () => {
  it("decodes what it encodes", () => {
    const content = sampleContent();

    const decoded = decodeRuntimeCache(encodeRuntimeCache(content));

    expect(decoded.trustDomain).toBe(TRUST_DOMAIN);
    expect(decoded.agentSpiffeId).toBe(AGENT_ID);
    expect(decoded.x509.entries).toEqual(content.x509.entries);
    expect(decoded.x509.bundles).toEqual(content.x509.bundles);
    expect(decoded.jwtBundles).toEqual(content.jwtBundles);
    expect(decoded.jwtSvids).toEqual(content.jwtSvids);
    const svid = decoded.x509.svids.get("db");
    expect(svid?.certChain).toEqual(db.svid.certChain);
    expect(svid?.privateKeyPkcs8.equals(db.svid.privateKeyPkcs8)).toBe(true);
    expect(svid?.entryRevision).toBe(3);
    expect(svid?.notAfterMs).toBe(Math.floor(db.svid.notAfter.getTime() / 1000) * 1000);
  });

  it.each([
    ["empty", "", /the file is empty/],
    ["not JSON", "garbage\u0000", /not valid JSON/],
    ["an old version", '{"version": 0}', /unsupported version 0/],
    ["a missing list", JSON.stringify({ version: 1, trust_domain: "example.org", agent_spiffe_id: AGENT_ID, bundles: {}, jwt_bundles: {} }), /entries must be a list/],
  ])("rejects a file that is %s", (_case, text, problem) => {
    expect(() => decodeRuntimeCache(text)).toThrow(problem);
  });

  it("rejects a file cut short", () => {
    const text = encodeRuntimeCache(sampleContent());

    expect(() => decodeRuntimeCache(text.slice(0, Math.floor(text.length / 2)))).toThrow(/not valid JSON/);
  });

  it("rejects a certificate that is not DER", () => {
    const file = JSON.parse(encodeRuntimeCache(sampleContent())) as { x509_svids: Array<{ cert_chain: string[] }> };
    file.x509_svids[0]!.cert_chain[0] = Buffer.from("not a certificate").toString("base64");

    expect(() => decodeRuntimeCache(JSON.stringify(file))).toThrow("x509_svids[0].cert_chain[0] is not a DER certificate");
  });
});

describe("checkRuntimeCache", () => {
  it("keeps everything that passes", () => {
    const checked = checkRuntimeCache(sampleContent(), expectations(), silent);

    expect([...(checked?.x509.svids.keys() ?? [])].sort()).toEqual(["db", "web"]);
    expect(checked?.jwtSvids).toHaveLength(1);
    expect(checked?.x509.bundles.get("partner.org")).toEqual([otherRoot.certificateDer]);
  });

  it("drops everything written for another agent", () => {
    const captured = captureLogger();

    const checked = checkRuntimeCache(sampleContent(), expectations({ agentSpiffeId: "spiffe://example.org/spire/agent/other" }), captured.logger);

    expect(checked).toBeUndefined();
    expect(captured.lines.map((line) => line.msg)).toContain("Ignored the runtime cache: it was written by an agent with another SPIFFE ID");
  });

  it("drops everything written for another trust domain", () => {
    const checked = checkRuntimeCache(sampleContent(), expectations({ trustDomain: "other.org" }), silent);

    expect(checked).toBeUndefined();
  });

  it("drops expired SVIDs", () => {
    const captured = captureLogger();
    const twoHoursLater = Date.now() + 2 * 3_600_000;

    const checked = checkRuntimeCache(sampleContent(), expectations({ nowMs: twoHoursLater }), captured.logger);

    expect(checked?.x509.svids.size).toBe(0);
    expect(checked?.jwtSvids).toHaveLength(0);
    const messages = captured.lines.map((line) => line.msg);
    expect(messages.filter((msg) => msg === "Dropped an expired X.509-SVID from the runtime cache")).toHaveLength(2);
    expect(messages).toContain("Dropped an expired JWT-SVID from the runtime cache");
  });

  it("drops an SVID that does not chain to the own bundle", async () => {
    const content = sampleContent();
    const foreign = await createTestSvid(otherRoot, web.entry.spiffeId);
    content.x509.svids.set("web", cachedSvid(web.entry, foreign));
    const captured = captureLogger();

    const checked = checkRuntimeCache(content, expectations(), captured.logger);

    expect([...(checked?.x509.svids.keys() ?? [])]).toEqual(["db"]);
    const dropped = captured.lines.find((line) => line.msg === "Dropped an X.509-SVID that failed its checks from the runtime cache");
    expect(dropped?.entry_id).toBe("web");
    expect(String(dropped?.reason)).toContain("was not signed by any of the 1 X.509 authorities");
  });

  it("drops an SVID whose key does not match", () => {
    const content = sampleContent();
    content.x509.svids.set("web", { ...cachedSvid(web.entry, web.svid), privateKeyPkcs8: db.svid.privateKeyPkcs8 });
    const captured = captureLogger();

    const checked = checkRuntimeCache(content, expectations(), captured.logger);

    expect([...(checked?.x509.svids.keys() ?? [])]).toEqual(["db"]);
    expect(captured.lines.find((line) => line.entry_id === "web")?.reason).toBe("the private key does not match the certificate");
    expect(JSON.stringify(captured.lines)).not.toContain(db.svid.privateKeyPkcs8.toString("base64"));
  });

  it("drops an SVID whose certificate names another SPIFFE ID", () => {
    const content = sampleContent();
    content.x509.svids.set("web", { ...cachedSvid(db.entry, db.svid), spiffeId: web.entry.spiffeId });

    const checked = checkRuntimeCache(content, expectations(), silent);

    expect([...(checked?.x509.svids.keys() ?? [])]).toEqual(["db"]);
  });

  it("drops an SVID without its entry", () => {
    const content = sampleContent();
    content.x509.entries = [db.entry];

    const checked = checkRuntimeCache(content, expectations(), silent);

    expect([...(checked?.x509.svids.keys() ?? [])]).toEqual(["db"]);
  });

  it("uses the own bundle from data_dir", () => {
    const content = sampleContent();
    content.x509.bundles.set(TRUST_DOMAIN, [otherRoot.certificateDer]);

    const checked = checkRuntimeCache(content, expectations(), silent);

    expect(checked?.x509.bundles.get(TRUST_DOMAIN)).toEqual([root.certificateDer]);
    expect(checked?.x509.svids.size).toBe(2);
  });

  it("drops JWT-SVIDs that fail validation", () => {
    const content = sampleContent();
    const unknownKey = createTestJwtKey("unknown-key");
    const wrongAudience = jwtSvid(web.entry.spiffeId, ["api"]);
    wrongAudience.audience = ["other"];
    const wrongSubject = jwtSvid(db.entry.spiffeId, ["api"]);
    wrongSubject.spiffeId = web.entry.spiffeId;
    content.jwtSvids.push(jwtSvid(web.entry.spiffeId, ["api"], unknownKey), wrongAudience, wrongSubject);
    const captured = captureLogger();

    const checked = checkRuntimeCache(content, expectations(), captured.logger);

    expect(checked?.jwtSvids.map((item) => item.audience)).toEqual([["api", "billing"]]);
    const reasons = captured.lines.filter((line) => line.msg === "Dropped a JWT-SVID that failed its checks from the runtime cache").map((line) => line.reason);
    expect(reasons).toHaveLength(3);
    expect(reasons[0]).toContain('no JWT authority with key ID "unknown-key"');
    expect(reasons[1]).toContain('expected audience "other"');
    expect(reasons[2]).toBe(`the token names ${db.entry.spiffeId}`);
    expect(JSON.stringify(captured.lines)).not.toContain(content.jwtSvids[0]!.svid.token);
  });

  it("drops an unreadable JWT authority", () => {
    const content = sampleContent();
    content.jwtBundles.set("partner.org", [{ keyId: "broken", publicKeyDer: Buffer.from("not a key"), expiresAt: 0 }]);

    const checked = checkRuntimeCache(content, expectations(), silent);

    expect(checked?.jwtBundles.get("partner.org")).toEqual([]);
  });
});

describe("createRuntimeCache", () => {
  const folders: string[] = [];
  afterEach(() => {
    for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
  });

  function makeFolder(): string {
    const folder = mkdtempSync(join(tmpdir(), "tessera-runtime-cache-"));
    folders.push(folder);
    return folder;
  }

  /** Fills caches as a synced agent has them and writes the runtime cache file. */
  async function writeSample(path: string): Promise<void> {
    let minted = 0;
    const sources = newSources(async () => {
      minted++;
      return jwtSvid(web.entry.spiffeId, ["api"]).svid;
    });
    sources.x509.update(
      new Map([
        ["web", web.entry],
        ["db", db.entry],
      ]),
      new Map([
        [TRUST_DOMAIN, [root.certificateDer]],
        ["partner.org", [otherRoot.certificateDer]],
      ]),
    );
    sources.x509.storeSvids(new Map([["web", cachedSvid(web.entry, web.svid)], ["db", cachedSvid(db.entry, db.svid)]]));
    sources.jwtBundles.update(new Map([[TRUST_DOMAIN, [jwtKey.authority]]]));
    await sources.jwtSvids.fetch("web", web.entry.spiffeId, ["api"]);
    expect(minted).toBe(1);

    const runtimeCache = createRuntimeCache({ path, trustDomain: TRUST_DOMAIN, sources, logger: silent });
    runtimeCache.close();
  }

  it("restores SVIDs, bundles and JWT-SVIDs written before", async () => {
    const path = join(makeFolder(), "cache.json");
    await writeSample(path);
    const sources = newSources();
    const runtimeCache = createRuntimeCache({ path, trustDomain: TRUST_DOMAIN, sources, logger: silent });

    const restored = runtimeCache.restore({ agentSpiffeId: AGENT_ID, ownBundle: [root.certificateDer] });

    expect(restored).toEqual({ entries: 2, x509Svids: 2, jwtSvids: 1, bundles: 2 });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const update = await sources.x509.subscribe([{ type: "unix", value: "uid:1000" }]).ready();
    expect(update.svids.map((svid) => svid.certChain[0])).toEqual([web.svid.certChain[0]]);
    expect(update.federatedBundles.get("partner.org")).toEqual([otherRoot.certificateDer]);
    // The minter of `sources` always fails, so this token can only come from the file.
    const token = await sources.jwtSvids.fetch("web", web.entry.spiffeId, ["api"]);
    expect(token.spiffeId).toBe(web.entry.spiffeId);
    expect(sources.jwtBundles.bundles().get(TRUST_DOMAIN)).toEqual([jwtKey.authority]);
  });

  it("ignores a damaged file and replaces it", async () => {
    const path = join(makeFolder(), "cache.json");
    await writeSample(path);
    const text = readFileSync(path, "utf8");
    writeFileSync(path, text.slice(0, Math.floor(text.length / 2)));
    const captured = captureLogger();
    const sources = newSources();
    const runtimeCache = createRuntimeCache({ path, trustDomain: TRUST_DOMAIN, sources, logger: captured.logger });

    const restored = runtimeCache.restore({ agentSpiffeId: AGENT_ID, ownBundle: [root.certificateDer] });
    runtimeCache.close();

    expect(restored.x509Svids).toBe(0);
    const warning = captured.lines.find((line) => line.msg === "Ignored a damaged runtime cache file; it is replaced on the next write");
    expect(String(warning?.problem)).toContain("not valid JSON");
    expect(() => decodeRuntimeCache(readFileSync(path, "utf8"))).not.toThrow();
  });

  it("ignores a symbolic link", async () => {
    const folder = makeFolder();
    await writeSample(join(folder, "real.json"));
    symlinkSync(join(folder, "real.json"), join(folder, "cache.json"));
    const runtimeCache = createRuntimeCache({ path: join(folder, "cache.json"), trustDomain: TRUST_DOMAIN, sources: newSources(), logger: silent });

    expect(runtimeCache.restore({ agentSpiffeId: AGENT_ID, ownBundle: [root.certificateDer] }).x509Svids).toBe(0);
  });

  it("restores nothing without a file", () => {
    const runtimeCache = createRuntimeCache({ path: join(makeFolder(), "cache.json"), trustDomain: TRUST_DOMAIN, sources: newSources(), logger: silent });

    expect(runtimeCache.restore({ agentSpiffeId: AGENT_ID, ownBundle: [root.certificateDer] })).toEqual({ entries: 0, x509Svids: 0, jwtSvids: 0, bundles: 0 });
  });

  it("writes changes together, at most once per interval", async () => {
    const path = join(makeFolder(), "cache.json");
    const sources = newSources();
    const runtimeCache = createRuntimeCache({ path, trustDomain: TRUST_DOMAIN, sources, logger: silent, writeIntervalMs: 300 });
    runtimeCache.start();

    sources.x509.update(new Map([["web", web.entry]]), new Map([[TRUST_DOMAIN, [root.certificateDer]]]));
    sources.x509.storeSvids(new Map([["web", cachedSvid(web.entry, web.svid)]]));
    expect(() => statSync(path)).toThrow();

    await waitForFile(path);
    const first = readWrittenAt(path);
    expect(decodeRuntimeCache(readFileSync(path, "utf8")).x509.svids.size).toBe(1);

    sources.x509.update(new Map([["web", web.entry], ["db", db.entry]]), new Map([[TRUST_DOMAIN, [root.certificateDer]]]));
    await waitFor(() => readWrittenAt(path) !== first);
    expect(readWrittenAt(path) - first).toBeGreaterThanOrEqual(300);
    runtimeCache.close();
  });

  it("deletes the file when closed with discard", async () => {
    const path = join(makeFolder(), "cache.json");
    await writeSample(path);
    const runtimeCache = createRuntimeCache({ path, trustDomain: TRUST_DOMAIN, sources: newSources(), logger: silent });

    runtimeCache.close({ discard: true });

    expect(() => statSync(path)).toThrow();
  });
});

function readWrittenAt(path: string): number {
  return Date.parse((JSON.parse(readFileSync(path, "utf8")) as { written_at: string }).written_at);
}

async function waitForFile(path: string): Promise<void> {
  await waitFor(() => {
    try {
      statSync(path);
      return true;
    } catch {
      return false;
    }
  });
}

async function waitFor(condition: () => boolean): Promise<void> {
  for (let attempt = 0; attempt < 100 && !condition(); attempt++) {
    await new Promise((wake) => setTimeout(wake, 50));
  }
  expect(condition()).toBe(true);
}
