import { webcrypto } from "node:crypto";

import { beforeAll, describe, expect, it } from "vitest";

import { x509 } from "../../common/x509.js";
import { formatCertificateSubject } from "./certificate-subject.js";

let keys: webcrypto.CryptoKeyPair;

beforeAll(async () => {
  keys = await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"]);
});

async function certificateNamed(name: string): Promise<Buffer> {
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    name,
    keys: keys as never,
    signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 3_600_000),
  });
  return Buffer.from(certificate.rawData);
}

// Expected strings follow Go's crypto/x509/pkix Name.String, which SPIRE uses for `subject`.
describe("formatCertificateSubject", () => {
  it.each([
    ["C=US, O=SPIRE", "O=SPIRE,C=US"],
    ["O=SPIRE, C=US", "O=SPIRE,C=US"],
    ["CN=example.org root, O=Tessera test", "CN=example.org root,O=Tessera test"],
    ["C=US, ST=CA, L=SF, O=Org, OU=Unit, CN=leaf, 2.5.4.5=42", "SERIALNUMBER=42,CN=leaf,OU=Unit,O=Org,L=SF,ST=CA,C=US"],
  ])("orders %s as Go does", async (name, expected) => {
    expect(formatCertificateSubject(await certificateNamed(name))).toBe(expected);
  });

  it("joins repeated attributes with +", async () => {
    expect(formatCertificateSubject(await certificateNamed("O=A, O=B, CN=x"))).toBe("CN=x,O=A+O=B");
  });

  it("keeps the last common name", async () => {
    expect(formatCertificateSubject(await certificateNamed("CN=first, CN=second"))).toBe("CN=second");
  });

  it("escapes special characters", async () => {
    expect(formatCertificateSubject(await certificateNamed("CN=\\#lead\\, comma\\+plus\\;semi , OU=u"))).toBe("CN=\\#lead\\, comma\\+plus\\;semi\\ ,OU=u");
  });

  it("puts other attributes last as hex", async () => {
    // E is an IA5String in the certificate; Go re-encodes "a@b.c" as UTF8String (0x0c)
    // because @ is not a PrintableString character, and "example" as PrintableString (0x13).
    expect(formatCertificateSubject(await certificateNamed("E=a@b.c, CN=x, DC=example"))).toBe(
      "CN=x,0.9.2342.19200300.100.1.25=#13076578616d706c65,1.2.840.113549.1.9.1=#0c056140622e63",
    );
  });

  it("formats an empty subject", async () => {
    expect(formatCertificateSubject(await certificateNamed(""))).toBe("");
  });
});
