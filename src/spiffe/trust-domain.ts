import {
  findTrustDomainProblem,
  formatSpiffeId,
  MAX_SPIFFE_ID_LENGTH,
  parseSpiffeId,
  SpiffeIdError,
  spiffeIdFromPath,
} from "./spiffe-id.js";

/**
 * Parses a trust domain given either as a bare name (`example.org`) or as the trust
 * domain's SPIFFE ID (`spiffe://example.org`), and returns the bare name.
 *
 * Unlike go-spiffe's TrustDomainFromString, a SPIFFE ID with a path is rejected: a
 * configuration value such as `spiffe://example.org/web` is more likely a mistake than a
 * way to name the trust domain. Throws {@link SpiffeIdError}.
 */
export function parseTrustDomain(text: string): string {
  if (text.includes("://")) {
    const id = parseSpiffeId(text);
    if (id.path !== "") {
      throw new SpiffeIdError(
        `invalid trust domain ${JSON.stringify(text)}: a trust domain has no path; use ${JSON.stringify(id.trustDomain)}`,
      );
    }
    return id.trustDomain;
  }

  const problem = findTrustDomainProblem(text);
  if (problem !== undefined) {
    throw new SpiffeIdError(`invalid trust domain ${JSON.stringify(text)}: ${problem}`);
  }

  return text;
}

/** Returns the SPIFFE ID of a trust domain itself, e.g. `spiffe://example.org`. */
export function trustDomainId(trustDomain: string): string {
  return formatSpiffeId(spiffeIdFromPath(trustDomain, ""));
}

/** Returns the SPIFFE ID that SPIRE servers use for themselves: `spiffe://<td>/spire/server`. */
export function serverSpiffeId(trustDomain: string): string {
  return formatSpiffeId(spiffeIdFromPath(trustDomain, "/spire/server"));
}

/**
 * Returns the agent SPIFFE ID SPIRE assigns after join token attestation:
 * `spiffe://<td>/spire/agent/join_token/<token>`. Throws {@link SpiffeIdError} when the
 * token is not a valid path segment (SPIRE's tokens are UUIDs). The message leaves the
 * token out because an unused join token is a credential.
 */
export function agentIdForJoinToken(trustDomain: string, token: string): string {
  if (!/^[A-Za-z0-9._-]+$/.test(token) || token === "." || token === "..") {
    throw new SpiffeIdError(
      "invalid join token: it must be non-empty and contain only letters, numbers, dots, dashes and underscores",
    );
  }

  const trustDomainProblem = findTrustDomainProblem(trustDomain);
  if (trustDomainProblem !== undefined) {
    throw new SpiffeIdError(`invalid trust domain ${JSON.stringify(trustDomain)}: ${trustDomainProblem}`);
  }

  const id = formatSpiffeId({ trustDomain, path: `/spire/agent/join_token/${token}` });
  if (Buffer.byteLength(id) > MAX_SPIFFE_ID_LENGTH) {
    throw new SpiffeIdError(`invalid join token: the agent ID would be longer than ${MAX_SPIFFE_ID_LENGTH} bytes`);
  }
  return id;
}
