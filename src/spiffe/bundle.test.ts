import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import {
  certificatesToPem,
  concatDer,
  derToPem,
  EncodingError,
  parsePemBlocks,
  parsePemCertificates,
  splitConcatenatedDer,
} from "./bundle.js";

let folder: string;
let pems: string[];
let ders: Buffer[];

/** Makes a self-signed certificate with openssl and returns its PEM and DER forms. */
function makeCertificate(name: string): { pem: string; der: Buffer } {
  const key = join(folder, `${name}.key`);
  const pemPath = join(folder, `${name}.pem`);
  const derPath = join(folder, `${name}.der`);
  execFileSync("openssl", ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key]);
  execFileSync("openssl", ["req", "-x509", "-new", "-key", key, "-subj", `/CN=${name}`, "-days", "1", "-out", pemPath]);
  execFileSync("openssl", ["x509", "-in", pemPath, "-outform", "DER", "-out", derPath]);
  return { pem: readFileSync(pemPath, "utf8"), der: readFileSync(derPath) };
}

beforeAll(() => {
  folder = mkdtempSync(join(tmpdir(), "bundle-"));
  const certificates = ["root-a", "root-b", "root-c"].map(makeCertificate);
  pems = certificates.map((certificate) => certificate.pem);
  ders = certificates.map((certificate) => certificate.der);
});

afterAll(() => {
  rmSync(folder, { recursive: true, force: true });
});

describe("parsePemCertificates", () => {
  it("decodes openssl PEM to the same DER as openssl", () => {
    expect(parsePemCertificates(pems.join(""))).toEqual(ders);
  });

  it("ignores text between blocks", () => {
    const text = `subject=CN = root-a\nissuer=CN = root-a\n${pems[0]}\n# comment\n${pems[1]}`;
    expect(parsePemCertificates(text)).toEqual(ders.slice(0, 2));
  });

  it("accepts CRLF line endings", () => {
    expect(parsePemCertificates((pems[0] as string).replace(/\n/g, "\r\n"))).toEqual([ders[0]]);
  });

  it("returns nothing for text without blocks", () => {
    expect(parsePemCertificates("")).toEqual([]);
  });

  it("rejects a private key block", () => {
    const key = readFileSync(join(folder, "root-a.key"), "utf8");
    expect(() => parsePemCertificates(`${pems[0]}${key}`)).toThrow(
      'invalid certificate PEM: found a "EC PRIVATE KEY" block where only CERTIFICATE blocks are allowed',
    );
  });

  it("rejects mismatched labels", () => {
    const broken = (pems[0] as string).replace("END CERTIFICATE", "END X509 CRL");
    expect(() => parsePemCertificates(broken)).toThrow('block "BEGIN CERTIFICATE" ends with "END X509 CRL"');
  });

  it("rejects a truncated block", () => {
    const truncated = (pems[0] as string).slice(0, 100);
    expect(() => parsePemCertificates(truncated)).toThrow("found 1 BEGIN lines but 0 complete blocks");
  });

  it("rejects a body that is not base64", () => {
    const broken = (pems[0] as string).replace(/\n(.)/, "\n*$1");
    expect(() => parsePemCertificates(broken)).toThrow(EncodingError);
    expect(() => parsePemCertificates(broken)).toThrow("body of the CERTIFICATE block is not valid base64");
  });
});

describe("PEM encoding", () => {
  it("round-trips certificates", () => {
    expect(parsePemCertificates(certificatesToPem(ders))).toEqual(ders);
  });

  it("writes PEM that openssl reads", () => {
    const der = execFileSync("openssl", ["x509", "-outform", "DER"], { input: certificatesToPem([ders[1] as Buffer]) });
    expect(der.equals(ders[1] as Buffer)).toBe(true);
  });

  it("wraps lines at 64 characters", () => {
    const lines = derToPem(Buffer.alloc(100, 7), "TEST").split("\n");
    expect(lines[0]).toBe("-----BEGIN TEST-----");
    expect(lines[1]?.length).toBe(64);
    expect(lines.at(-2)).toBe("-----END TEST-----");
    expect(lines.at(-1)).toBe("");
  });

  it("parsePemBlocks returns block types", () => {
    const blocks = parsePemBlocks(derToPem(Buffer.from([1, 2, 3]), "PUBLIC KEY"));
    expect(blocks).toEqual([{ type: "PUBLIC KEY", der: Buffer.from([1, 2, 3]) }]);
  });
});

describe("concatenated DER", () => {
  it("splits what concatDer joined", () => {
    const split = splitConcatenatedDer(concatDer(ders));
    expect(split).toEqual(ders);
    expect(split.map((der) => new X509Certificate(der).subject)).toEqual(["CN=root-a", "CN=root-b", "CN=root-c"]);
  });

  it("splits an empty buffer into nothing", () => {
    expect(splitConcatenatedDer(Buffer.alloc(0))).toEqual([]);
  });

  it("reads short and long length forms", () => {
    const short = Buffer.from([0x30, 0x01, 0x05]);
    const long = Buffer.concat([Buffer.from([0x30, 0x81, 0x80]), Buffer.alloc(0x80, 1)]);
    const twoByte = Buffer.concat([Buffer.from([0x30, 0x82, 0x01, 0x00]), Buffer.alloc(0x100, 2)]);
    expect(splitConcatenatedDer(Buffer.concat([short, long, twoByte]))).toEqual([short, long, twoByte]);
  });

  it("handles a subarray with an offset", () => {
    const whole = Buffer.concat([Buffer.from([9, 9]), ders[0] as Buffer]);
    expect(splitConcatenatedDer(whole.subarray(2))).toEqual([ders[0]]);
  });

  const invalid: Array<[string, () => Buffer, string]> = [
    ["trailing garbage", () => Buffer.concat([ders[0] as Buffer, Buffer.from([0x00, 0x01])]), "starts with 0x00, expected a SEQUENCE (0x30)"],
    ["truncated certificate", () => (ders[0] as Buffer).subarray(0, 50), "declares"],
    ["tag without length", () => Buffer.from([0x30]), "is cut off before its length"],
    ["cut inside long length", () => Buffer.from([0x30, 0x82, 0x01]), "is cut off inside its length"],
    ["indefinite length", () => Buffer.from([0x30, 0x80, 0x00, 0x00]), "indefinite length form"],
    ["oversized length field", () => Buffer.from([0x30, 0x85, 1, 1, 1, 1, 1]), "declares a 5-byte length field"],
    ["not a sequence", () => Buffer.from([0x04, 0x01, 0x00]), "starts with 0x04"],
    ["second element truncated", () => Buffer.concat([ders[0] as Buffer, Buffer.from([0x30, 0x05, 0x01])]), "DER element 1 at byte"],
  ];
  for (const [name, build, message] of invalid) {
    it(`rejects ${name}`, () => {
      expect(() => splitConcatenatedDer(build())).toThrow(EncodingError);
      expect(() => splitConcatenatedDer(build())).toThrow(message);
    });
  }
});
