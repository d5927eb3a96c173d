/**
 * Limits on the audience list of a JWT-SVID request.
 *
 * The JWT-SVID specification sets none, and SPIRE checks none, but every audience ends up
 * in the signed token and in the agent's JWT-SVID cache, whose limit counts tokens, not
 * bytes. Without these limits one workload could make the agent cache gigabytes. The
 * numbers are generous estimates for real audiences (service names and URLs), not taken
 * from any standard.
 */
export const MAX_JWT_AUDIENCES = 64;

/** Maximum length of one audience, in UTF-8 bytes. */
export const MAX_JWT_AUDIENCE_BYTES = 2048;

/**
 * Returns why `audience` is not acceptable for a JWT-SVID, or undefined when it is.
 * An empty list, an empty string, too many audiences or a too-long one are rejected.
 */
export function findJwtAudienceProblem(audience: readonly string[]): string | undefined {
  if (audience.length === 0) {
    return "audience must be specified";
  }
  if (audience.length > MAX_JWT_AUDIENCES) {
    return `too many audiences: ${audience.length}, the maximum is ${MAX_JWT_AUDIENCES}`;
  }
  for (const value of audience) {
    if (value === "") {
      return "audience must not be an empty string";
    }
    const bytes = Buffer.byteLength(value, "utf8");
    if (bytes > MAX_JWT_AUDIENCE_BYTES) {
      return `audience of ${bytes} bytes is too long: the maximum is ${MAX_JWT_AUDIENCE_BYTES} bytes`;
    }
  }
  return undefined;
}
