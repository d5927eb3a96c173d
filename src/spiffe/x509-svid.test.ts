import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { webcrypto } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// The server's loader installs the Reflect metadata shim that @peculiar/x509 needs; the
// module under test does not use @peculiar/x509, only these certificate-making helpers do.
import { x509 } from "../common/x509.js";

import { certificatesToPem } from "./bundle.js";
import {
  spiffeIdFromCertificate,
  validateX509SigningCertificate,
  validateX509SvidLeaf,
  verifyX509SvidChain,
  X509SvidError,
} from "./x509-svid.js";

const EC = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
const RSA = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256", publicExponent: new Uint8Array([1, 0, 1]), modulusLength: 2048 };
const HOUR = 3_600_000;
const NOW = new Date();
const { digitalSignature, keyEncipherment, keyAgreement, keyCertSign, cRLSign } = x509.KeyUsageFlags;

interface Issued {
  der: Buffer;
  keys: webcrypto.CryptoKeyPair;
  algorithm: typeof EC | typeof RSA;
  subject: string;
}

interface IssueOptions {
  subject: string;
  issuer?: Issued;
  /** CA flag; null leaves the basic constraints extension out. */
  ca?: boolean | null;
  pathLength?: number;
  /** Key usage flags; null leaves the extension out. */
  usages?: number | null;
  uris?: string[];
  dns?: string[];
  notBefore?: Date;
  notAfter?: Date;
  extra?: x509.Extension[];
  rsa?: boolean;
}

async function issue(options: IssueOptions): Promise<Issued> {
  const algorithm = options.rsa === true ? RSA : EC;
  const keys = (await webcrypto.subtle.generateKey(algorithm, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const issuer = options.issuer;
  const ca = options.ca === undefined ? false : options.ca;

  const extensions: x509.Extension[] = [await x509.SubjectKeyIdentifierExtension.create(keys.publicKey)];
  if (issuer !== undefined) {
    extensions.push(await x509.AuthorityKeyIdentifierExtension.create(issuer.keys.publicKey));
  }
  if (ca !== null) {
    extensions.push(new x509.BasicConstraintsExtension(ca, options.pathLength, true));
  }
  let usages = options.usages;
  if (usages === undefined) {
    usages = ca === true ? keyCertSign | cRLSign : digitalSignature;
  }
  if (usages !== null) {
    extensions.push(new x509.KeyUsagesExtension(usages, true));
  }
  const names = [
    ...(options.uris ?? []).map((value) => ({ type: "url" as const, value })),
    ...(options.dns ?? []).map((value) => ({ type: "dns" as const, value })),
  ];
  if (names.length > 0) {
    extensions.push(new x509.SubjectAlternativeNameExtension(names, false));
  }
  extensions.push(...(options.extra ?? []));

  const certificate = await x509.X509CertificateGenerator.create({
    subject: options.subject,
    issuer: issuer?.subject ?? options.subject,
    notBefore: options.notBefore ?? new Date(NOW.getTime() - HOUR),
    notAfter: options.notAfter ?? new Date(NOW.getTime() + HOUR),
    signingAlgorithm: issuer?.algorithm ?? algorithm,
    publicKey: keys.publicKey,
    signingKey: issuer?.keys.privateKey ?? keys.privateKey,
    extensions,
  });

  return { der: Buffer.from(certificate.rawData), keys, algorithm, subject: options.subject };
}

const leafOptions = (issuer: Issued, overrides: Partial<IssueOptions> = {}): IssueOptions => ({
  subject: "O=SPIRE, CN=workload",
  issuer,
  uris: ["spiffe://example.org/workload"],
  ...overrides,
});

let root: Issued;
let otherRoot: Issued;
let intermediate: Issued;

beforeAll(async () => {
  root = await issue({ subject: "O=SPIFFE, CN=root", ca: true, uris: ["spiffe://example.org"] });
  // Same subject name as root but another key, as after a CA rotation gone wrong.
  otherRoot = await issue({ subject: "O=SPIFFE, CN=root", ca: true, uris: ["spiffe://example.org"] });
  intermediate = await issue({ subject: "O=SPIFFE, CN=intermediate", issuer: root, ca: true, uris: ["spiffe://example.org"] });
});

describe("verifyX509SvidChain accepts", () => {
  it("leaf signed by a root", async () => {
    const leaf = await issue(leafOptions(root));
    expect(verifyX509SvidChain([leaf.der], [root.der], NOW)).toEqual({ trustDomain: "example.org", path: "/workload" });
  });

  it("leaf through an intermediate", async () => {
    const leaf = await issue(leafOptions(intermediate));
    expect(verifyX509SvidChain([leaf.der, intermediate.der], [root.der], NOW).path).toBe("/workload");
  });

  it("chain ending with the root itself", async () => {
    const leaf = await issue(leafOptions(intermediate));
    expect(verifyX509SvidChain([leaf.der, intermediate.der, root.der], [root.der], NOW).path).toBe("/workload");
  });

  it("root found among several authorities", async () => {
    const leaf = await issue(leafOptions(root));
    expect(verifyX509SvidChain([leaf.der], [otherRoot.der, root.der], NOW).path).toBe("/workload");
  });

  it("leaf with DNS names and extra key usages", async () => {
    const leaf = await issue(leafOptions(root, { dns: ["web.example.org"], usages: digitalSignature | keyEncipherment | keyAgreement }));
    expect(verifyX509SvidChain([leaf.der], [root.der], NOW).path).toBe("/workload");
  });

  it("leaf without basic constraints", async () => {
    const leaf = await issue(leafOptions(root, { ca: null }));
    expect(verifyX509SvidChain([leaf.der], [root.der], NOW).path).toBe("/workload");
  });

  it("RSA root signing an EC leaf", async () => {
    const rsaRoot = await issue({ subject: "CN=rsa root", ca: true, rsa: true });
    const leaf = await issue(leafOptions(rsaRoot));
    expect(verifyX509SvidChain([leaf.der], [rsaRoot.der], NOW).path).toBe("/workload");
  });

  it("root with pathLen 1 above one intermediate", async () => {
    const limitedRoot = await issue({ subject: "CN=limited root", ca: true, pathLength: 1 });
    const limitedIntermediate = await issue({ subject: "CN=limited intermediate", issuer: limitedRoot, ca: true, pathLength: 0 });
    const leaf = await issue(leafOptions(limitedIntermediate));
    expect(verifyX509SvidChain([leaf.der, limitedIntermediate.der], [limitedRoot.der], NOW).path).toBe("/workload");
  });

  it("the current time by default", async () => {
    const leaf = await issue(leafOptions(root));
    expect(verifyX509SvidChain([leaf.der], [root.der]).trustDomain).toBe("example.org");
  });
});

describe("verifyX509SvidChain rejects", () => {
  const cases: Array<[string, () => Promise<{ chain: Buffer[]; roots: Buffer[] }>, string | RegExp]> = [
    [
      "two URI SANs",
      async () => ({ chain: [(await issue(leafOptions(root, { uris: ["spiffe://example.org/a", "spiffe://example.org/b"] }))).der], roots: [root.der] }),
      "certificate 0 (leaf): an X.509-SVID must have exactly one URI subject alternative name, found 2: spiffe://example.org/a, spiffe://example.org/b",
    ],
    [
      "missing URI SAN",
      async () => ({ chain: [(await issue(leafOptions(root, { uris: [], dns: ["a.example.org"] }))).der], roots: [root.der] }),
      "certificate 0 (leaf): there is no URI subject alternative name holding a SPIFFE ID",
    ],
    [
      "invalid SPIFFE ID",
      async () => ({ chain: [(await issue(leafOptions(root, { uris: ["spiffe://Example.org/a"] }))).der], roots: [root.der] }),
      /certificate 0 \(leaf\): invalid SPIFFE ID "spiffe:\/\/Example.org\/a": the trust domain contains the uppercase letter "E"/,
    ],
    [
      "non-SPIFFE URI",
      async () => ({ chain: [(await issue(leafOptions(root, { uris: ["https://example.org/a"] }))).der], roots: [root.der] }),
      /certificate 0 \(leaf\): invalid SPIFFE ID "https:\/\/example.org\/a"/,
    ],
    [
      "leaf ID without path",
      async () => ({ chain: [(await issue(leafOptions(root, { uris: ["spiffe://example.org"] }))).der], roots: [root.der] }),
      "certificate 0 (leaf): the SPIFFE ID spiffe://example.org has no path, which a leaf X.509-SVID requires",
    ],
    [
      "CA leaf",
      async () => ({ chain: [(await issue(leafOptions(root, { ca: true, usages: digitalSignature }))).der], roots: [root.der] }),
      "certificate 0 (leaf): a leaf X.509-SVID must have basic constraints CA=false, but CA=true",
    ],
    [
      "missing digitalSignature",
      async () => ({ chain: [(await issue(leafOptions(root, { usages: keyEncipherment }))).der], roots: [root.der] }),
      "certificate 0 (leaf): the key usage lacks digitalSignature, which a leaf X.509-SVID requires",
    ],
    [
      "missing key usage",
      async () => ({ chain: [(await issue(leafOptions(root, { usages: null }))).der], roots: [root.der] }),
      "certificate 0 (leaf): the key usage extension is missing; a leaf X.509-SVID needs digitalSignature",
    ],
    [
      "leaf with keyCertSign",
      async () => ({ chain: [(await issue(leafOptions(root, { usages: digitalSignature | keyCertSign }))).der], roots: [root.der] }),
      "certificate 0 (leaf): the key usage has keyCertSign, which a leaf X.509-SVID must not have",
    ],
    [
      "leaf with cRLSign",
      async () => ({ chain: [(await issue(leafOptions(root, { usages: digitalSignature | cRLSign }))).der], roots: [root.der] }),
      "certificate 0 (leaf): the key usage has cRLSign, which a leaf X.509-SVID must not have",
    ],
    [
      "expired leaf",
      async () => ({
        chain: [(await issue(leafOptions(root, { notBefore: new Date(NOW.getTime() - 2 * HOUR), notAfter: new Date(NOW.getTime() - HOUR) }))).der],
        roots: [root.der],
      }),
      /failed to verify X.509-SVID spiffe:\/\/example.org\/workload: certificate 0 \(leaf\) expired at /,
    ],
    [
      "leaf not yet valid",
      async () => ({
        chain: [(await issue(leafOptions(root, { notBefore: new Date(NOW.getTime() + HOUR), notAfter: new Date(NOW.getTime() + 2 * HOUR) }))).der],
        roots: [root.der],
      }),
      /certificate 0 \(leaf\) is not valid before /,
    ],
    [
      "wrong root",
      async () => ({ chain: [(await issue(leafOptions(root))).der], roots: [otherRoot.der] }),
      /certificate 0 \(leaf\) \(issuer O=SPIFFE, CN=root\) was not signed by any of the 1 X.509 authorities in the bundle/,
    ],
    [
      "missing intermediate",
      async () => ({ chain: [(await issue(leafOptions(intermediate))).der], roots: [root.der] }),
      /certificate 0 \(leaf\) \(issuer .*CN=intermediate\) was not signed by any of the 1 X.509 authorities/,
    ],
    [
      "out-of-order chain",
      async () => {
        const leaf = await issue(leafOptions(intermediate));
        return { chain: [leaf.der, root.der, intermediate.der], roots: [root.der] };
      },
      /certificate 0 \(leaf\) was not signed by certificate 1 \(intermediate\)/,
    ],
    [
      "expired root",
      async () => {
        const oldRoot = await issue({ subject: "CN=old root", ca: true, notBefore: new Date(NOW.getTime() - 3 * HOUR), notAfter: new Date(NOW.getTime() - HOUR) });
        return { chain: [(await issue(leafOptions(oldRoot))).der], roots: [oldRoot.der] };
      },
      /bundle authority 0 expired at /,
    ],
    [
      "expired intermediate",
      async () => {
        const old = await issue({ subject: "CN=old intermediate", issuer: root, ca: true, notAfter: new Date(NOW.getTime() - 1000) });
        return { chain: [(await issue(leafOptions(old))).der, old.der], roots: [root.der] };
      },
      /certificate 1 \(intermediate\) expired at /,
    ],
    [
      "intermediate without CA",
      async () => {
        const notCa = await issue({ subject: "CN=not a ca", issuer: root, ca: false, usages: keyCertSign });
        return { chain: [(await issue(leafOptions(notCa))).der, notCa.der], roots: [root.der] };
      },
      "certificate 1 (intermediate): a signing certificate must have basic constraints CA=true",
    ],
    [
      "intermediate without keyCertSign",
      async () => {
        const noSign = await issue({ subject: "CN=no sign", issuer: root, ca: true, usages: cRLSign });
        return { chain: [(await issue(leafOptions(noSign))).der, noSign.der], roots: [root.der] };
      },
      "certificate 1 (intermediate): a signing certificate must have keyCertSign in its key usage",
    ],
    [
      "intermediate ID with path",
      async () => {
        const withPath = await issue({ subject: "CN=with path", issuer: root, ca: true, uris: ["spiffe://example.org/ca"] });
        return { chain: [(await issue(leafOptions(withPath))).der, withPath.der], roots: [root.der] };
      },
      "certificate 1 (intermediate): the signing certificate's SPIFFE ID spiffe://example.org/ca has a path, which is not allowed",
    ],
    [
      "root that is not a CA",
      async () => {
        const plain = await issue({ subject: "CN=plain", ca: false, usages: keyCertSign | digitalSignature });
        return { chain: [(await issue(leafOptions(plain))).der], roots: [plain.der] };
      },
      "bundle authority 0: a signing certificate must have basic constraints CA=true",
    ],
    [
      "root pathLen exceeded",
      async () => {
        const limitedRoot = await issue({ subject: "CN=limited", ca: true, pathLength: 0 });
        const below = await issue({ subject: "CN=below", issuer: limitedRoot, ca: true });
        return { chain: [(await issue(leafOptions(below))).der, below.der], roots: [limitedRoot.der] };
      },
      "bundle authority 0 allows 0 intermediate CAs below it (pathLenConstraint) but the chain has 1",
    ],
    [
      "unknown critical extension",
      async () => ({
        chain: [(await issue(leafOptions(root, { extra: [new x509.Extension("1.3.6.1.4.1.99999.1", true, new Uint8Array([5, 0]))] }))).der],
        roots: [root.der],
      }),
      "certificate 0 (leaf): unsupported critical extension 1.3.6.1.4.1.99999.1",
    ],
    [
      "name constraints",
      async () => {
        const constrained = await issue({ subject: "CN=constrained", issuer: root, ca: true, extra: [new x509.Extension("2.5.29.30", true, new Uint8Array([0x30, 0]))] });
        return { chain: [(await issue(leafOptions(constrained))).der, constrained.der], roots: [root.der] };
      },
      "certificate 1 (intermediate): name constraints are not supported by this verifier",
    ],
    ["empty chain", async () => ({ chain: [], roots: [root.der] }), "failed to verify X.509-SVID: the certificate chain is empty"],
    [
      "empty bundle",
      async () => ({ chain: [(await issue(leafOptions(root))).der], roots: [] }),
      "failed to verify X.509-SVID: the bundle has no X.509 authorities",
    ],
    [
      "garbage certificate",
      async () => ({ chain: [Buffer.from("30030201ff", "hex")], roots: [root.der] }),
      /^failed to parse certificate 0 \(leaf\) as an X.509 certificate: /,
    ],
    [
      "garbage root",
      async () => ({ chain: [(await issue(leafOptions(root))).der], roots: [Buffer.from("not a certificate")] }),
      /^failed to parse bundle authority 0 as an X.509 certificate: /,
    ],
  ];

  for (const [name, build, message] of cases) {
    it(name, async () => {
      const { chain, roots } = await build();
      expect(() => verifyX509SvidChain(chain, roots, NOW)).toThrow(X509SvidError);
      expect(() => verifyX509SvidChain(chain, roots, NOW)).toThrow(message);
    });
  }
});

describe("single certificate checks", () => {
  it("validateX509SvidLeaf returns the ID without checking the signature", async () => {
    const leaf = await issue(leafOptions(otherRoot, { uris: ["spiffe://example.org/a/b"] }));
    expect(validateX509SvidLeaf(leaf.der)).toEqual({ trustDomain: "example.org", path: "/a/b" });
  });

  it("validateX509SvidLeaf rejects a CA", async () => {
    const caLeaf = await issue(leafOptions(root, { ca: true, usages: digitalSignature }));
    expect(() => validateX509SvidLeaf(caLeaf.der)).toThrow(/CA=true/);
  });

  it("validateX509SvidLeaf rejects a signing certificate", () => {
    expect(() => validateX509SvidLeaf(intermediate.der)).toThrow(X509SvidError);
  });

  it("validateX509SigningCertificate accepts a CA", () => {
    expect(() => validateX509SigningCertificate(intermediate.der)).not.toThrow();
  });

  it("validateX509SigningCertificate names the label", async () => {
    const leaf = await issue(leafOptions(root));
    expect(() => validateX509SigningCertificate(leaf.der, "upstream CA")).toThrow("upstream CA: a signing certificate must have basic constraints CA=true");
  });

  it("spiffeIdFromCertificate reads a root's ID", () => {
    expect(spiffeIdFromCertificate(root.der)).toEqual({ trustDomain: "example.org", path: "" });
  });
});

describe("agreement with openssl verify", () => {
  let folder: string;
  beforeAll(() => {
    folder = mkdtempSync(join(tmpdir(), "x509-svid-"));
  });
  afterAll(() => {
    rmSync(folder, { recursive: true, force: true });
  });

  it("openssl accepts a chain this module accepts", async () => {
    const leaf = await issue(leafOptions(intermediate));
    expect(verifyX509SvidChain([leaf.der, intermediate.der], [root.der], NOW).path).toBe("/workload");

    writeFileSync(join(folder, "leaf.pem"), certificatesToPem([leaf.der]));
    writeFileSync(join(folder, "chain.pem"), certificatesToPem([intermediate.der]));
    writeFileSync(join(folder, "bundle.pem"), certificatesToPem([root.der]));
    const output = execFileSync("openssl", [
      "verify",
      "-CAfile",
      join(folder, "bundle.pem"),
      "-untrusted",
      join(folder, "chain.pem"),
      join(folder, "leaf.pem"),
    ]).toString();
    expect(output.trim()).toBe(`${join(folder, "leaf.pem")}: OK`);
  });

  it("openssl rejects the wrong root too", async () => {
    const leaf = await issue(leafOptions(root));
    writeFileSync(join(folder, "leaf2.pem"), certificatesToPem([leaf.der]));
    writeFileSync(join(folder, "other.pem"), certificatesToPem([otherRoot.der]));
    expect(() =>
      execFileSync("openssl", ["verify", "-CAfile", join(folder, "other.pem"), join(folder, "leaf2.pem")], { stdio: "pipe" }),
    ).toThrow();
    expect(() => verifyX509SvidChain([leaf.der], [otherRoot.der], NOW)).toThrow(X509SvidError);
  });
});
