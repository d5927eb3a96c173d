/**
 * Test support: CAs and node certificates for x509pop made by the openssl command line,
 * so tests exercise certificates that no code of this project wrote.
 */
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { parsePemCertificates } from "../../../src/spiffe/bundle.js";

/** Key types openssl is asked to generate. */
export type TestKeyType = "ec-p256" | "ec-p384" | "rsa-2048";

/** A certificate and its key as PEM files, plus the certificate's DER. */
export interface OpensslCredential {
  certPath: string;
  keyPath: string;
  der: Buffer;
}

/** Options of {@link issueOpensslLeaf}. */
export interface LeafOptions {
  keyType?: TestKeyType;
  /** openssl keyUsage value; default "critical,digitalSignature". Null leaves the extension out. */
  keyUsage?: string | null;
  /** URI subject alternative names. */
  uris?: string[];
  /** Serial number, e.g. "0x0a1b2c"; random when unset. */
  serial?: string;
  days?: number;
}

/**
 * Creates a CA with openssl in `folder`: self-signed, or signed by `issuer` when given
 * (an intermediate). Files are `<name>.pem` and `<name>.key`.
 */
export function createOpensslCa(folder: string, name: string, issuer?: OpensslCredential): OpensslCredential {
  const certPath = join(folder, `${name}.pem`);
  const keyPath = join(folder, `${name}.key`);
  const extensions = ["basicConstraints=critical,CA:TRUE", "keyUsage=critical,keyCertSign,cRLSign", "subjectKeyIdentifier=hash"];

  if (issuer === undefined) {
    openssl(["req", "-x509", ...newKeyArgs("ec-p256"), "-nodes", "-keyout", keyPath, "-out", certPath, "-subj", `/CN=${name}`, "-days", "2",
      ...extensions.flatMap((extension) => ["-addext", extension])]);
  } else {
    const extensionsPath = join(folder, `${name}.ext`);
    writeFileSync(extensionsPath, `${[...extensions, "authorityKeyIdentifier=keyid"].join("\n")}\n`);
    signRequest(folder, name, "ec-p256", issuer, extensionsPath, 2);
  }
  return { certPath, keyPath, der: readDer(certPath) };
}

/** Issues a node certificate signed by `issuer` with openssl; files are `<name>.pem` and `<name>.key`. */
export function issueOpensslLeaf(folder: string, name: string, issuer: OpensslCredential, options: LeafOptions = {}): OpensslCredential {
  const lines = ["basicConstraints=CA:FALSE", "authorityKeyIdentifier=keyid"];
  const keyUsage = options.keyUsage === undefined ? "critical,digitalSignature" : options.keyUsage;
  if (keyUsage !== null) {
    lines.push(`keyUsage=${keyUsage}`);
  }
  if (options.uris !== undefined && options.uris.length > 0) {
    lines.push(`subjectAltName=${options.uris.map((uri) => `URI:${uri}`).join(",")}`);
  }
  const extensionsPath = join(folder, `${name}.ext`);
  writeFileSync(extensionsPath, `${lines.join("\n")}\n`);

  signRequest(folder, name, options.keyType ?? "ec-p256", issuer, extensionsPath, options.days ?? 2, options.serial);
  const certPath = join(folder, `${name}.pem`);
  return { certPath, keyPath: join(folder, `${name}.key`), der: readDer(certPath) };
}

function signRequest(folder: string, name: string, keyType: TestKeyType, issuer: OpensslCredential, extensionsPath: string, days: number, serial?: string): void {
  const requestPath = join(folder, `${name}.csr`);
  openssl(["req", "-new", ...newKeyArgs(keyType), "-nodes", "-keyout", join(folder, `${name}.key`), "-out", requestPath, "-subj", `/CN=${name}`]);
  const serialArgs = serial === undefined ? ["-set_serial", `0x${Math.floor(Math.random() * 2 ** 48).toString(16)}`] : ["-set_serial", serial];
  openssl(["x509", "-req", "-in", requestPath, "-CA", issuer.certPath, "-CAkey", issuer.keyPath, ...serialArgs, "-days", String(days),
    "-extfile", extensionsPath, "-out", join(folder, `${name}.pem`)]);
}

function newKeyArgs(keyType: TestKeyType): string[] {
  if (keyType === "rsa-2048") return ["-newkey", "rsa:2048"];
  return ["-newkey", "ec", "-pkeyopt", `ec_paramgen_curve:${keyType === "ec-p384" ? "P-384" : "P-256"}`];
}

function openssl(args: string[]): void {
  execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
}

function readDer(certPath: string): Buffer {
  return parsePemCertificates(readFileSync(certPath, "utf8"))[0] as Buffer;
}
