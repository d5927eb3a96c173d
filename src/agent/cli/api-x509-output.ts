import { mkdirSync } from "node:fs";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { join } from "node:path";
import { writeFileAtomic } from "../../common/atomic-write.js";
import { formatDuration } from "../../config/flags.js";
import type { workload } from "../../proto/index.js";
import { certificatesToPem, derToPem, splitConcatenatedDer } from "../../spiffe/bundle.js";
import { formatSpiffeId } from "../../spiffe/spiffe-id.js";
import { verifyX509SvidChain } from "../../spiffe/x509-svid.js";

/** One X.509-SVID from a Workload API response, split into certificates. */
export interface FetchedX509Svid {
  spiffeId: string;
  hint: string;
  /** DER certificates, leaf first. */
  certificates: Buffer[];
  /** PKCS#8 DER private key. */
  privateKeyPkcs8: Buffer;
  /** DER roots of the SVID's own trust domain. */
  bundle: Buffer[];
}

/** A checked `FetchX509SVID` response. */
export interface FetchedX509Response {
  svids: FetchedX509Svid[];
  /** DER roots keyed by trust domain SPIFFE ID, sorted by key. */
  federatedBundles: Array<[string, Buffer[]]>;
}

/**
 * Splits and checks a `FetchX509SVID` response as spire-agent's `api fetch x509` does:
 * at least one SVID, a parsable chain, key and bundle for each, every chain verified
 * against its bundle, and the leaf's SPIFFE ID equal to the one the message names. Throws an error naming the SVID and the problem.
 */
export function checkX509SvidResponse(response: workload.X509SVIDResponse__Output, now = new Date()): FetchedX509Response {
  if (response.svids.length === 0) {
    throw new Error("the Workload API response contains no SVIDs");
  }

  const federatedBundles = Object.keys(response.federated_bundles)
    .sort()
    .map((trustDomainId): [string, Buffer[]] => {
      const roots = splitCertificates(response.federated_bundles[trustDomainId] as Buffer, `federated bundle for ${trustDomainId}`);
      return [trustDomainId, roots];
    });

  const svids = response.svids.map((svid, index) => {
    const label = `SVID #${index} (${svid.spiffe_id})`;
    const certificates = splitCertificates(svid.x509_svid, `certificate chain of ${label}`);
    const bundle = splitCertificates(svid.bundle, `bundle of ${label}`);
    try {
      createPrivateKey({ key: svid.x509_svid_key, format: "der", type: "pkcs8" });
    } catch (error) {
      throw new Error(`invalid private key of ${label}: ${(error as Error).message}`);
    }
    let leafId: string;
    try {
      leafId = formatSpiffeId(verifyX509SvidChain(certificates, bundle, now));
    } catch (error) {
      throw new Error(`${label} failed verification against its bundle: ${(error as Error).message}`);
    }
    if (leafId !== svid.spiffe_id) {
      throw new Error(`${label} has a certificate for ${leafId}, not for the SPIFFE ID the response names`);
    }

    return { spiffeId: svid.spiffe_id, hint: svid.hint, certificates, privateKeyPkcs8: svid.x509_svid_key, bundle };
  });

  return { svids, federatedBundles };
}

function splitCertificates(der: Buffer, label: string): Buffer[] {
  let certificates: Buffer[];
  try {
    certificates = splitConcatenatedDer(der);
  } catch (error) {
    throw new Error(`invalid ${label}: ${(error as Error).message}`);
  }
  if (certificates.length === 0) {
    throw new Error(`invalid ${label}: it contains no certificates`);
  }
  return certificates;
}

/**
 * Formats the response in the layout of spire-agent's pretty output: a count line, then
 * per SVID its SPIFFE ID and the validity of leaf, intermediates, roots and federated
 * roots, with Go's time format (`2006-01-02 15:04:05 +0000 UTC`).
 */
export function formatX509Pretty(fetched: FetchedX509Response, elapsedMs: number): string {
  const count = fetched.svids.length;
  const lines = [`Received ${count} svid${count === 1 ? "" : "s"} after ${formatDuration(elapsedMs)}`];

  for (const svid of fetched.svids) {
    lines.push("");
    lines.push(`SPIFFE ID:\t\t${svid.spiffeId}`);
    const [leaf, ...intermediates] = svid.certificates.map((der) => new X509Certificate(der));
    lines.push(`SVID Valid After:\t${formatGoTime(leaf!.validFrom)}`);
    lines.push(`SVID Valid Until:\t${formatGoTime(leaf!.validTo)}`);
    intermediates.forEach((certificate, index) => {
      lines.push(`Intermediate #${index + 1} Valid After:\t${formatGoTime(certificate.validFrom)}`);
      lines.push(`Intermediate #${index + 1} Valid Until:\t${formatGoTime(certificate.validTo)}`);
    });
    pushRootLines(lines, "", svid.bundle);
    for (const [trustDomainId, roots] of fetched.federatedBundles) {
      pushRootLines(lines, `[${trustDomainId}] `, roots);
    }
  }

  lines.push("");
  return `${lines.join("\n")}\n`;
}

function pushRootLines(lines: string[], prefix: string, roots: readonly Buffer[]): void {
  roots.forEach((der, index) => {
    const certificate = new X509Certificate(der);
    lines.push(`${prefix}CA #${index + 1} Valid After:\t${formatGoTime(certificate.validFrom)}`);
    lines.push(`${prefix}CA #${index + 1} Valid Until:\t${formatGoTime(certificate.validTo)}`);
  });
}

/** Converts OpenSSL's `Dec  4 19:48:33 2026 GMT` to Go's default `2026-12-04 19:48:33 +0000 UTC`. */
function formatGoTime(openSslTime: string): string {
  const iso = new Date(openSslTime).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)} +0000 UTC`;
}

/**
 * Formats the response as spire-agent's `-output json` does (protobuf JSON with field
 * names as in the .proto, every field present, bytes in base64): one line.
 */
export function formatX509Json(response: workload.X509SVIDResponse__Output): string {
  const federated: Record<string, string> = {};
  for (const key of Object.keys(response.federated_bundles).sort()) {
    federated[key] = (response.federated_bundles[key] as Buffer).toString("base64");
  }

  const json = {
    svids: response.svids.map((svid) => ({
      spiffe_id: svid.spiffe_id,
      x509_svid: svid.x509_svid.toString("base64"),
      x509_svid_key: svid.x509_svid_key.toString("base64"),
      bundle: svid.bundle.toString("base64"),
      hint: svid.hint,
    })),
    crl: response.crl.map((crl) => crl.toString("base64")),
    federated_bundles: federated,
  };
  return `${JSON.stringify(json)}\n`;
}

/**
 * Writes each SVID to `folder` with spire-agent's file names: `svid.<i>.pem` (chain,
 * leaf first), `svid.<i>.key` (PKCS#8 PEM, mode 0600), `bundle.<i>.pem` and
 * `federated_bundle.<i>.<j>.pem` (trust domains in sorted order). Files are replaced
 * atomically, and `folder` is created (mode 0700, as it receives private keys) when it
 * does not exist but its parent does. Returns one progress line per file, in the order written.
 */
export function writeX509Files(fetched: FetchedX509Response, folder: string): string[] {
  // Only the last folder is created: a missing parent is more likely a typo than intent,
  // and Node 20's recursive mkdirSync loops forever under /proc.
  try {
    mkdirSync(folder, { mode: 0o700 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") {
      throw new Error(`failed to create ${folder}: ${(error as Error).message}`);
    }
  }

  const progress: string[] = [];
  const write = (line: string, path: string, data: string, mode: number): void => {
    try {
      writeFileAtomic(path, data, mode);
    } catch (error) {
      throw new Error(`failed to write ${path}: ${(error as Error).message}`);
    }
    progress.push(line);
  };

  fetched.svids.forEach((svid, index) => {
    const svidPath = join(folder, `svid.${index}.pem`);
    const keyPath = join(folder, `svid.${index}.key`);
    const bundlePath = join(folder, `bundle.${index}.pem`);

    write(`Writing SVID #${index} to file ${svidPath}.`, svidPath, certificatesToPem(svid.certificates), 0o644);
    write(`Writing key #${index} to file ${keyPath}.`, keyPath, derToPem(svid.privateKeyPkcs8, "PRIVATE KEY"), 0o600);
    write(`Writing bundle #${index} to file ${bundlePath}.`, bundlePath, certificatesToPem(svid.bundle), 0o644);

    fetched.federatedBundles.forEach(([trustDomainId, roots], federatedIndex) => {
      const path = join(folder, `federated_bundle.${index}.${federatedIndex}.pem`);
      write(
        `Writing federated bundle #${federatedIndex} for trust domain ${trustDomainId} to file ${path}.`,
        path,
        certificatesToPem(roots),
        0o644,
      );
    });
  });

  return progress;
}
