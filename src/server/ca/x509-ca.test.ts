import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { generateEcP256KeyPair } from "./webcrypto.js";
import { x509 } from "./x509.js";
import { createRootCa, DEFAULT_CA_SUBJECT, signX509Svid } from "./x509-ca.js";

describe("x509 CA", () => {
  const folders: string[] = [];
  afterEach(() => {
    for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
  });

  function makeFolder(): string {
    const folder = mkdtempSync(join(tmpdir(), "tessera-ca-"));
    folders.push(folder);
    return folder;
  }

  it("issues SVIDs that openssl verifies", async () => {
    const folder = makeFolder();
    const ca = await createRootCa({ trustDomain: "example.org", ttlSeconds: 3600, subject: DEFAULT_CA_SUBJECT });
    const leafKeys = await generateEcP256KeyPair();
    const leaf = await signX509Svid(ca, {
      spiffeId: "spiffe://example.org/workload",
      publicKey: leafKeys.publicKey,
      ttlSeconds: 600,
      dnsNames: ["web.example.org"],
    });
    writeFileSync(join(folder, "root.pem"), ca.certificate.toString("pem"));
    writeFileSync(join(folder, "leaf.pem"), leaf.toString("pem"));

    const verify = execFileSync("openssl", ["verify", "-CAfile", join(folder, "root.pem"), join(folder, "leaf.pem")], {
      encoding: "utf8",
    });
    const text = execFileSync("openssl", ["x509", "-in", join(folder, "leaf.pem"), "-noout", "-text"], {
      encoding: "utf8",
    });

    expect(verify).toContain("leaf.pem: OK");
    expect(text).toContain("URI:spiffe://example.org/workload");
    expect(text).toContain("DNS:web.example.org");
    expect(text).toContain("CA:FALSE");
    expect(text).toContain("Digital Signature, Key Encipherment, Key Agreement");
    expect(text).toContain("TLS Web Server Authentication, TLS Web Client Authentication");
  });

  it("marks the root as a CA with the trust domain URI", async () => {
    const folder = makeFolder();
    const ca = await createRootCa({ trustDomain: "example.org", ttlSeconds: 3600, subject: DEFAULT_CA_SUBJECT });
    writeFileSync(join(folder, "root.pem"), ca.certificate.toString("pem"));

    const text = execFileSync("openssl", ["x509", "-in", join(folder, "root.pem"), "-noout", "-text"], {
      encoding: "utf8",
    });

    expect(text).toContain("CA:TRUE");
    expect(text).toContain("Certificate Sign, CRL Sign");
    expect(text).toContain("URI:spiffe://example.org");
    expect(text).toMatch(/Subject: C\s*=\s*US, O\s*=\s*SPIFFE/);
  });

  it("clamps SVID validity to the CA notAfter", async () => {
    const ca = await createRootCa({ trustDomain: "example.org", ttlSeconds: 60, subject: DEFAULT_CA_SUBJECT });
    const leafKeys = await generateEcP256KeyPair();

    const leaf = await signX509Svid(ca, {
      spiffeId: "spiffe://example.org/long",
      publicKey: leafKeys.publicKey,
      ttlSeconds: 86_400,
    });

    expect(leaf.notAfter.getTime()).toBe(ca.certificate.notAfter.getTime());
  });

  it("gives every SVID a new serial number", async () => {
    const ca = await createRootCa({ trustDomain: "example.org", ttlSeconds: 3600, subject: DEFAULT_CA_SUBJECT });
    const leafKeys = await generateEcP256KeyPair();
    const params = { spiffeId: "spiffe://example.org/a", publicKey: leafKeys.publicKey, ttlSeconds: 60 };

    const first = await signX509Svid(ca, params);
    const second = await signX509Svid(ca, params);

    expect(first.serialNumber).not.toBe(second.serialNumber);
  });

  it("names the CA's key identifier as the authority key", async () => {
    const ca = await createRootCa({ trustDomain: "example.org", ttlSeconds: 3600, subject: DEFAULT_CA_SUBJECT });
    const leafKeys = await generateEcP256KeyPair();
    const computed = await x509.AuthorityKeyIdentifierExtension.create(ca.keys.publicKey as never);

    const leaf = await signX509Svid(ca, { spiffeId: "spiffe://example.org/a", publicKey: leafKeys.publicKey, ttlSeconds: 60 });

    expect(leaf.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId).toBe(computed.keyId);
    expect(leaf.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId).toBe(ca.certificate.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId);
  });
});
