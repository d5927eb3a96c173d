import type { CachedEntry } from "./cache-types.js";

/**
 * Builds a cached entry for tests: SPIFFE ID `spiffe://example.org/<id>`, selectors written
 * as `type:value` (the value may contain colons), revision 1, created at 1000.
 */
export function testEntry(id: string, selectors: string[], overrides: Partial<CachedEntry> = {}): CachedEntry {
  return {
    id,
    spiffeId: `spiffe://example.org/${id}`,
    selectors: selectors.map((text) => {
      const [type = "", ...value] = text.split(":");
      return { type, value: value.join(":") };
    }),
    federatesWith: [],
    admin: false,
    downstream: false,
    revisionNumber: 1,
    storeSvid: false,
    hint: "",
    createdAt: 1000,
    disableX509SvidPrefetch: false,
    ...overrides,
  };
}
