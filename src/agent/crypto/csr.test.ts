import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";

import { createCsr } from "./csr.js";
import { generateEcP256Pkcs8 } from "./ec-key.js";

describe("createCsr", () => {
  const folders: string[] = [];
  afterEach(() => {
    for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
  });

  function inspectWithOpenssl(der: Buffer): string {
    const folder = mkdtempSync(join(tmpdir(), "tessera-csr-"));
    folders.push(folder);
    const path = join(folder, "request.der");
    writeFileSync(path, der);
    const result = spawnSync("openssl", ["req", "-inform", "DER", "-in", path, "-noout", "-text", "-verify"], {
      encoding: "utf8",
    });
    expect(result.status).toBe(0);
    return result.stdout + result.stderr;
  }

  it("puts the SPIFFE ID in the URI SAN", () => {
    const text = inspectWithOpenssl(createCsr(generateEcP256Pkcs8(), "spiffe://example.org/web"));

    expect(text).toContain("URI:spiffe://example.org/web");
    expect(text).toContain("C = US, O = SPIRE");
    expect(text).toContain("ecdsa-with-SHA256");
    expect(text).toContain("P-256");
    expect(text).toMatch(/verify OK/i);
  });

  it("omits the SAN for agent requests", () => {
    const text = inspectWithOpenssl(createCsr(generateEcP256Pkcs8()));

    expect(text).not.toContain("Subject Alternative Name");
    expect(text).toContain("C = US, O = SPIRE");
  });
});
