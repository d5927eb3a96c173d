import type { CallAuthorizationContext } from "./call-authorization.js";
import type { IdentitySource } from "./identity-source.js";
import type { JwtSource } from "./jwt-source.js";

/** Dependencies of the Workload API's JWT methods beyond caller attestation. */
export interface JwtMethodContext extends CallAuthorizationContext {
  jwtSource: JwtSource;
  /**
   * The agent's X.509 cache. FetchJWTBundles subscribes to it to hear about entry changes
   * (a new `federates_with`, a lost identity), which JwtSource does not report.
   */
  identitySource?: IdentitySource;
  /** Lets callers without an identity read the own JWT bundle (`allow_unauthenticated_verifiers`). Default false. */
  allowUnauthenticatedVerifiers?: boolean;
  /**
   * Claim names that ValidateJWTSVID returns for tokens of other trust domains, besides
   * `sub`, `exp` and `aud` (`allowed_foreign_jwt_claims`). Default none.
   */
  allowedForeignJwtClaims?: readonly string[];
}
