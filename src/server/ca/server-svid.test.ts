import { X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createLogger } from "../../common/log.js";
import { createMemoryKeyManager } from "../../../plugins/keymanager/memory.js";
import { openDatastore } from "../datastore/datastore.js";
import type { Datastore } from "../datastore/datastore.js";
import { createCaManager } from "./ca-manager.js";
import { issueServerSvid, startServerSvidRotation } from "./server-svid.js";
import type { ServerSvid } from "./server-svid.js";
import { DEFAULT_CA_SUBJECT } from "./x509-ca.js";

const logger = createLogger({ name: "test", level: "silent" });

describe("server SVID", () => {
  const cleanups: (() => void)[] = [];
  afterEach(() => {
    for (const cleanup of cleanups.splice(0).reverse()) cleanup();
  });

  async function startCa() {
    const folder = mkdtempSync(join(tmpdir(), "tessera-server-svid-"));
    const datastore: Datastore = openDatastore(join(folder, "datastore.sqlite3"));
    cleanups.push(() => rmSync(folder, { recursive: true, force: true }));
    cleanups.push(() => datastore.close());
    return createCaManager({
      trustDomain: "example.org",
      caTtlSeconds: 3600,
      caSubject: DEFAULT_CA_SUBJECT,
      datastore,
      keyManager: createMemoryKeyManager(),
      logger,
    });
  }

  it("names the server in its only URI SAN", async () => {
    const ca = await startCa();

    const svid = await issueServerSvid(ca, "example.org", 600);
    const certificate = new X509Certificate(svid.certChainPem);

    expect(certificate.subjectAltName).toBe("URI:spiffe://example.org/spire/server");
    expect(certificate.checkIssued(new X509Certificate(Buffer.from(ca.active().certificate.rawData)))).toBe(true);
    expect(svid.privateKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
  });

  it("renews after half of the lifetime", async () => {
    const ca = await startCa();
    const initial = await issueServerSvid(ca, "example.org", 1);
    const rotated: ServerSvid[] = [];

    const stop = startServerSvidRotation({
      ca,
      trustDomain: "example.org",
      ttlSeconds: 60,
      initial,
      onRotate: (svid) => rotated.push(svid),
      logger,
      checkIntervalMs: 50,
    });
    cleanups.push(stop);
    while (rotated.length === 0) await new Promise((resolve) => setTimeout(resolve, 50));

    expect(rotated[0]?.certChainPem).not.toBe(initial.certChainPem);
    expect(rotated[0]?.notAfter.getTime()).toBeGreaterThan(Date.now() + 50_000);
  });

  it("renews at the half-life between two checks", async () => {
    const ca = await startCa();
    // Backdated by 10 s, a 20 s SVID reaches its half-life 5 s after issue.
    const initial = await issueServerSvid(ca, "example.org", 20);
    const rotatedAt: number[] = [];

    const stop = startServerSvidRotation({
      ca,
      trustDomain: "example.org",
      ttlSeconds: 60,
      initial,
      onRotate: () => rotatedAt.push(Date.now()),
      logger,
      checkIntervalMs: 60_000,
    });
    cleanups.push(stop);
    const deadline = Date.now() + 15_000;
    while (rotatedAt.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));

    const halfLife = (initial.notBefore.getTime() + initial.notAfter.getTime()) / 2;
    expect(rotatedAt).toHaveLength(1);
    expect(rotatedAt[0]).toBeGreaterThanOrEqual(halfLife);
  });
});
