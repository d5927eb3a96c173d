import type { Selector } from "../spiffe/selector.js";
import { selectorsSatisfy } from "../spiffe/selector.js";
import type { JwtAuthority, JwtIdentity, JwtSource } from "./jwt-source.js";
import { signTestJwt } from "./test-jwt-keys.js";
import type { TestJwtKey } from "./test-jwt-keys.js";

/** A registration entry as plain test data, for JWT-SVIDs. */
export interface TestJwtEntry {
  entryId: string;
  spiffeId: string;
  selectors: Selector[];
  hint?: string;
  createdAt?: number;
  federatesWith?: string[];
}

/** The state of a {@link createTestJwtSource}; replace fields and call `bundlesChanged()`. */
export interface TestJwtState {
  trustDomain: string;
  /** JWT authorities keyed by bare trust domain name, the own one included. */
  bundles: Map<string, JwtAuthority[]>;
  entries: TestJwtEntry[];
  /** Key that signs the tokens `fetchJwtSvid` returns. */
  signingKey: TestJwtKey;
  /** When set, `fetchJwtSvid` throws an error with this message, as when the server is unreachable. */
  fetchError?: string;
}

/** An in-memory JwtSource for handler tests, with hooks to change it and inspect it. */
export interface TestJwtSource {
  source: JwtSource;
  state: TestJwtState;
  /** Notifies bundle listeners, as the agent does after a bundle or entry change. */
  bundlesChanged(): void;
  /** Every `fetchJwtSvid` call so far. */
  fetches: Array<{ spiffeId: string; audience: string[] }>;
  /** Number of bundle listeners not yet removed. */
  bundleListeners(): number;
}

/**
 * Creates a JwtSource from plain data: entries match by subset and are sorted by entry
 * ID, and each fetch signs a fresh token (one hour) with `state.signingKey`.
 */
export function createTestJwtSource(state: TestJwtState): TestJwtSource {
  const listeners = new Set<() => void>();
  const fetches: Array<{ spiffeId: string; audience: string[] }> = [];

  const source: JwtSource = {
    matchingIdentities(selectors) {
      return state.entries
        .filter((entry) => selectorsSatisfy(entry.selectors, selectors))
        .sort((a, b) => (a.entryId < b.entryId ? -1 : 1))
        .map(
          (entry): JwtIdentity => ({
            entryId: entry.entryId,
            spiffeId: entry.spiffeId,
            hint: entry.hint ?? "",
            createdAt: entry.createdAt ?? 0,
            federatesWith: entry.federatesWith ?? [],
          }),
        );
    },
    async fetchJwtSvid(identity, audience) {
      fetches.push({ spiffeId: identity.spiffeId, audience });
      if (state.fetchError !== undefined) {
        throw new Error(state.fetchError);
      }
      const expiresAt = Math.floor(Date.now() / 1000) + 3600;
      const token = signTestJwt(state.signingKey, {
        sub: identity.spiffeId,
        aud: audience,
        exp: expiresAt,
        iat: expiresAt - 3600,
      });
      return { spiffeId: identity.spiffeId, token, hint: identity.hint, expiresAt };
    },
    jwtBundles() {
      return { trustDomain: state.trustDomain, bundles: state.bundles };
    },
    onBundleUpdate(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };

  return {
    source,
    state,
    fetches,
    bundlesChanged() {
      for (const listener of [...listeners]) listener();
    },
    bundleListeners: () => listeners.size,
  };
}
