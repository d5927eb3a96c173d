/**
 * SPIFFE IDs as plain data, with parsing and validation per the SPIFFE-ID specification
 * (spiffe/spiffe, standards/SPIFFE-ID.md) and the character rules that go-spiffe v2 and
 * SPIRE enforce:
 *
 * - the scheme is exactly `spiffe` (lowercase) followed by `://`;
 * - the trust domain is non-empty, at most 255 bytes, and uses only `a-z 0-9 . - _`
 *   (so no uppercase, no port, no userinfo);
 * - the path is empty or a sequence of `/segment`, where a segment is non-empty, is not
 *   `.` or `..`, and uses only `a-z A-Z 0-9 . - _`; there is no trailing slash;
 * - there is no query, fragment or percent-encoding;
 * - the whole URI is at most 2048 bytes.
 */

/** Maximum length of a SPIFFE ID in bytes; the specification requires support up to this size. */
export const MAX_SPIFFE_ID_LENGTH = 2048;

/** Maximum length of a trust domain name in bytes (the RFC 3986 limit for a URI host). */
export const MAX_TRUST_DOMAIN_LENGTH = 255;

const SCHEME_PREFIX = "spiffe://";

/**
 * A parsed SPIFFE ID. `path` is either empty (the trust domain's own ID) or starts with
 * `/`. Build one with {@link parseSpiffeId} or {@link spiffeIdFromPath} so that it is valid.
 */
export interface SpiffeId {
  readonly trustDomain: string;
  readonly path: string;
}

/** Raised for an invalid SPIFFE ID, trust domain or path; the message names the input. */
export class SpiffeIdError extends Error {
  override readonly name = "SpiffeIdError";
}

/**
 * Parses and validates a SPIFFE ID such as `spiffe://example.org/ns/prod/sa/web`.
 *
 * Throws {@link SpiffeIdError} naming the rule that failed and the input. No normalization
 * is done: `SPIFFE://Example.org` is rejected rather than lowercased, as in go-spiffe v2.
 */
export function parseSpiffeId(text: string): SpiffeId {
  const fail = (reason: string): never => {
    throw new SpiffeIdError(`invalid SPIFFE ID ${JSON.stringify(text)}: ${reason}`);
  };

  if (text === "") {
    fail("the ID is empty");
  }

  const length = Buffer.byteLength(text, "utf8");
  if (length > MAX_SPIFFE_ID_LENGTH) {
    fail(`the ID is ${length} bytes long, more than the maximum of ${MAX_SPIFFE_ID_LENGTH}`);
  }

  if (!text.startsWith(SCHEME_PREFIX)) {
    fail(describeSchemeProblem(text));
  }

  const rest = text.slice(SCHEME_PREFIX.length);
  const slash = rest.indexOf("/");
  const trustDomain = slash === -1 ? rest : rest.slice(0, slash);
  const path = slash === -1 ? "" : rest.slice(slash);

  const trustDomainProblem = findTrustDomainProblem(trustDomain);
  if (trustDomainProblem !== undefined) {
    fail(trustDomainProblem);
  }

  const pathProblem = findPathProblem(path);
  if (pathProblem !== undefined) {
    fail(pathProblem);
  }

  return { trustDomain, path };
}

/** Formats a SPIFFE ID as its URI string, e.g. `spiffe://example.org/web`. */
export function formatSpiffeId(id: SpiffeId): string {
  return `${SCHEME_PREFIX}${id.trustDomain}${id.path}`;
}

/**
 * Builds a SPIFFE ID from a trust domain name (bare, e.g. `example.org`) and a path that is
 * empty or starts with `/`. Both parts are validated with the same rules as
 * {@link parseSpiffeId}; the path is not cleaned up, so `a//b` or a missing leading slash
 * are errors rather than being fixed silently.
 */
export function spiffeIdFromPath(trustDomain: string, path: string): SpiffeId {
  const trustDomainProblem = findTrustDomainProblem(trustDomain);
  if (trustDomainProblem !== undefined) {
    throw new SpiffeIdError(`invalid trust domain ${JSON.stringify(trustDomain)}: ${trustDomainProblem}`);
  }

  if (path !== "" && !path.startsWith("/")) {
    throw new SpiffeIdError(`invalid SPIFFE ID path ${JSON.stringify(path)}: the path must start with "/"`);
  }

  const pathProblem = findPathProblem(path);
  if (pathProblem !== undefined) {
    throw new SpiffeIdError(`invalid SPIFFE ID path ${JSON.stringify(path)}: ${pathProblem}`);
  }

  const id = { trustDomain, path };
  const length = Buffer.byteLength(formatSpiffeId(id), "utf8");
  if (length > MAX_SPIFFE_ID_LENGTH) {
    throw new SpiffeIdError(
      `invalid SPIFFE ID ${JSON.stringify(formatSpiffeId(id))}: the ID is ${length} bytes long, ` +
        `more than the maximum of ${MAX_SPIFFE_ID_LENGTH}`,
    );
  }

  return id;
}

/**
 * Tells whether `id` belongs to `trustDomain` (a bare name such as `example.org`). The
 * comparison is exact because valid trust domain names are lowercase.
 */
export function isMemberOf(id: SpiffeId, trustDomain: string): boolean {
  return id.trustDomain === trustDomain;
}

/** Tells whether two SPIFFE IDs are the same identity. */
export function spiffeIdsEqual(a: SpiffeId, b: SpiffeId): boolean {
  return a.trustDomain === b.trustDomain && a.path === b.path;
}

/**
 * Returns why `name` is not a valid trust domain name, or undefined when it is valid.
 * Exported for trust-domain.ts; other callers should use parseTrustDomain.
 */
export function findTrustDomainProblem(name: string): string | undefined {
  if (name === "") {
    return "the trust domain is missing";
  }

  if (name.includes("://")) {
    return `expected a bare trust domain name such as "example.org", not a URI`;
  }

  if (name.length > MAX_TRUST_DOMAIN_LENGTH) {
    return `the trust domain is ${name.length} bytes long, more than the maximum of ${MAX_TRUST_DOMAIN_LENGTH}`;
  }

  for (const char of name) {
    if (isTrustDomainChar(char)) {
      continue;
    }
    return describeTrustDomainChar(char);
  }

  return undefined;
}

function findPathProblem(path: string): string | undefined {
  if (path === "") {
    return undefined;
  }

  if (path === "/" || path.endsWith("/")) {
    return "the path has a trailing slash";
  }

  // The first element is the empty text before the leading slash.
  const segments = path.split("/").slice(1);
  for (const segment of segments) {
    if (segment === "") {
      return "the path contains an empty segment (two slashes in a row)";
    }

    if (segment === "." || segment === "..") {
      return `the path contains the dot segment ${JSON.stringify(segment)}`;
    }

    for (const char of segment) {
      if (isPathChar(char)) {
        continue;
      }
      return describePathChar(char, segment);
    }
  }

  return undefined;
}

function describeSchemeProblem(text: string): string {
  const separator = text.indexOf("://");
  if (separator === -1) {
    return 'the scheme is missing: a SPIFFE ID starts with "spiffe://"';
  }

  const scheme = text.slice(0, separator);
  if (scheme.toLowerCase() === "spiffe") {
    return `the scheme ${JSON.stringify(scheme)} must be lowercase "spiffe"`;
  }

  return `the scheme ${JSON.stringify(scheme)} is not "spiffe"`;
}

function describeTrustDomainChar(char: string): string {
  switch (char) {
    case ":":
      return 'the trust domain contains ":" (a port is not allowed)';
    case "@":
      return 'the trust domain contains "@" (userinfo is not allowed)';
    case "?":
      return 'a query ("?") is not allowed';
    case "#":
      return 'a fragment ("#") is not allowed';
    case "%":
      return 'the trust domain contains "%" (percent-encoding is not allowed)';
  }

  if (char >= "A" && char <= "Z") {
    return `the trust domain contains the uppercase letter ${JSON.stringify(char)}; use lowercase letters, numbers, dots, dashes and underscores only`;
  }

  return `the trust domain contains the character ${JSON.stringify(char)}; use lowercase letters, numbers, dots, dashes and underscores only`;
}

function describePathChar(char: string, segment: string): string {
  switch (char) {
    case "?":
      return 'a query ("?") is not allowed';
    case "#":
      return 'a fragment ("#") is not allowed';
    case "%":
      return `the path segment ${JSON.stringify(segment)} contains "%" (percent-encoding is not allowed)`;
  }

  return `the path segment ${JSON.stringify(segment)} contains the character ${JSON.stringify(char)}; use letters, numbers, dots, dashes and underscores only`;
}

function isTrustDomainChar(char: string): boolean {
  return (char >= "a" && char <= "z") || (char >= "0" && char <= "9") || char === "." || char === "-" || char === "_";
}

function isPathChar(char: string): boolean {
  return (
    (char >= "a" && char <= "z") ||
    (char >= "A" && char <= "Z") ||
    (char >= "0" && char <= "9") ||
    char === "." ||
    char === "-" ||
    char === "_"
  );
}
