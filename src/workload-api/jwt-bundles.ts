import { trustDomainId } from "../spiffe/trust-domain.js";
import { marshalJwtBundle } from "./jwt-bundle-json.js";
import type { JwtAuthority, JwtIdentity, JwtSource } from "./jwt-source.js";

/**
 * Returns the JWT authorities a caller may see, keyed by bare trust domain name: the
 * agent's own trust domain always, plus each federated trust domain that at least one of
 * `identities` federates with and whose bundle the agent has. A trust domain without a
 * bundle is left out, as SPIRE does.
 */
export function callerJwtBundles(source: JwtSource, identities: readonly JwtIdentity[]): Map<string, JwtAuthority[]> {
  const { trustDomain, bundles } = source.jwtBundles();
  const visible = new Map<string, JwtAuthority[]>();
  visible.set(trustDomain, bundles.get(trustDomain) ?? []);

  for (const identity of identities) {
    for (const federated of identity.federatesWith) {
      const authorities = bundles.get(federated);
      if (authorities !== undefined && !visible.has(federated)) {
        visible.set(federated, authorities);
      }
    }
  }
  return visible;
}

/** Builds the `bundles` map of a `JWTBundlesResponse`: JWK Set JSON keyed by `spiffe://<trust domain>`. */
export function composeJwtBundleMap(bundles: ReadonlyMap<string, readonly JwtAuthority[]>): Record<string, Buffer> {
  const map: Record<string, Buffer> = {};
  for (const [trustDomain, authorities] of bundles) {
    map[trustDomainId(trustDomain)] = marshalJwtBundle(authorities);
  }
  return map;
}
