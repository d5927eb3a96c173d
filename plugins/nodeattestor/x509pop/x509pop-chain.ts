import { X509popError } from "./x509pop-protocol.js";
import type { X509popCertificate } from "./x509pop-certificate.js";

/**
 * Critical extensions the chain checks understand. RFC 5280 requires rejecting a
 * certificate with any other critical extension. Name constraints are missing on purpose:
 * they are not enforced here, so a CA that carries them is rejected.
 */
const UNDERSTOOD_CRITICAL_EXTENSIONS = new Set([
  "2.5.29.15", // key usage
  "2.5.29.17", // subject alternative name
  "2.5.29.19", // basic constraints
  "2.5.29.37", // extended key usage
  "2.5.29.32", // certificate policies
  "2.5.29.14", // subject key identifier
  "2.5.29.35", // authority key identifier
]);

/**
 * Builds every chain from `leaf` through `intermediates` to one of `roots` and returns them,
 * each leaf first and ending with the root, as Go's x509.Certificate.Verify does for
 * SPIRE's x509pop server plugin. Any extended key usage is accepted.
 *
 * Every certificate on a chain must be within its validity period at `now`, have no
 * critical extension these checks do not understand, and respect the pathLenConstraint
 * of the CAs above it; intermediates must have basic constraints CA=true. A leaf that is
 * itself one of the roots gives the single chain `[leaf]`.
 *
 * Throws {@link X509popError} when no chain verifies, with the reason for the leaf, or the
 * first reason a candidate issuer was rejected.
 *
 * NOTE: name constraints are not enforced, so a CA with a name constraints extension is
 * rejected rather than trusted for every name.
 */
export function buildVerifiedChains(
  leaf: X509popCertificate,
  intermediates: readonly X509popCertificate[],
  roots: readonly X509popCertificate[],
  now: Date,
): X509popCertificate[][] {
  checkUsable(leaf, now);
  if (roots.some((root) => root.der.equals(leaf.der))) {
    return [[leaf]];
  }

  const rejections: string[] = [];
  const chains: X509popCertificate[][] = [];

  const extend = (chain: X509popCertificate[]): void => {
    const current = chain[chain.length - 1] as X509popCertificate;

    for (const root of roots) {
      if (!isIssuedBy(current, root)) continue;
      const problem = findProblem(() => checkIssuer(root, chain.length - 1, now, false));
      if (problem === undefined) chains.push([...chain, root]);
      else rejections.push(problem);
    }

    for (const intermediate of intermediates) {
      if (chain.some((member) => member.der.equals(intermediate.der)) || !isIssuedBy(current, intermediate)) continue;
      const problem = findProblem(() => checkIssuer(intermediate, chain.length - 1, now, true));
      if (problem === undefined) extend([...chain, intermediate]);
      else rejections.push(problem);
    }
  };
  extend([leaf]);

  if (chains.length === 0) {
    const because = rejections[0] === undefined ? "" : ` (candidate issuer rejected: ${rejections[0]})`;
    throw new X509popError(`certificate signed by unknown authority: the leaf does not chain to the CA bundle${because}`);
  }
  return chains;
}

/**
 * Checks an issuing certificate placed above `intermediatesBelow` intermediates. Roots are
 * trust anchors, so, as in Go, only intermediates need basic constraints CA=true.
 */
function checkIssuer(certificate: X509popCertificate, intermediatesBelow: number, now: Date, intermediate: boolean): void {
  checkUsable(certificate, now);
  if (intermediate && certificate.basicConstraints?.ca !== true) {
    throw new X509popError(`${describe(certificate)} is not a CA (basic constraints CA=true is missing)`);
  }
  const pathLength = certificate.basicConstraints?.pathLength;
  if (pathLength !== undefined && intermediatesBelow > pathLength) {
    throw new X509popError(`${describe(certificate)} allows ${pathLength} intermediates below it, but the chain has ${intermediatesBelow}`);
  }
}

function checkUsable(certificate: X509popCertificate, now: Date): void {
  if (now < certificate.notBefore) {
    throw new X509popError(`${describe(certificate)} is not valid before ${certificate.notBefore.toISOString()} (current time ${now.toISOString()})`);
  }
  if (now > certificate.notAfter) {
    throw new X509popError(`${describe(certificate)} expired at ${certificate.notAfter.toISOString()} (current time ${now.toISOString()})`);
  }
  for (const oid of certificate.criticalExtensions) {
    if (!UNDERSTOOD_CRITICAL_EXTENSIONS.has(oid)) {
      throw new X509popError(`${describe(certificate)} has an unsupported critical extension ${oid}`);
    }
  }
}

function isIssuedBy(child: X509popCertificate, parent: X509popCertificate): boolean {
  // checkIssued compares names and key identifiers; verify checks the signature itself.
  return child.node.checkIssued(parent.node) && child.node.verify(parent.node.publicKey);
}

function describe(certificate: X509popCertificate): string {
  return `${certificate.label} certificate (${certificate.node.subject.replace(/\n/g, ", ")})`;
}

function findProblem(check: () => void): string | undefined {
  try {
    check();
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}
