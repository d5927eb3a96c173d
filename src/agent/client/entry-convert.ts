import type { types } from "../../proto/index.js";
import { validateSelector } from "../../spiffe/selector.js";
import { formatSpiffeId, spiffeIdFromPath } from "../../spiffe/spiffe-id.js";
import { parseTrustDomain } from "../../spiffe/trust-domain.js";
import type { CachedEntry } from "../cache/cache-types.js";

/**
 * Entry fields the agent requests from the server, in both entry RPCs. The same set as SPIRE's
 * agent: parent ID, TTLs, DNS names and expiry stay on the server, which applies them when
 * it signs.
 */
export const ENTRY_OUTPUT_MASK: types.EntryMask = {
  spiffe_id: true,
  selectors: true,
  federates_with: true,
  admin: true,
  downstream: true,
  revision_number: true,
  store_svid: true,
  hint: true,
  additional_attributes: true,
  created_at: true,
};

/**
 * Converts an entry received from the server into the cache's form, checking what SPIRE's
 * agent checks: a non-empty ID, a valid SPIFFE ID, valid federated trust domain names, and
 * at least one selector, each with a non-empty type without `:` and a non-empty value.
 * Throws an Error saying which rule failed; the caller skips the entry with a warning.
 */
export function entryFromProto(entry: types.Entry__Output): CachedEntry {
  if (entry.id === "") {
    throw new Error("the entry has no ID");
  }
  if (entry.spiffe_id === null) {
    throw new Error("the entry has no SPIFFE ID");
  }

  const spiffeId = formatSpiffeId(spiffeIdFromPath(entry.spiffe_id.trust_domain, entry.spiffe_id.path));
  const federatesWith = entry.federates_with.map((trustDomain) => parseTrustDomain(trustDomain));

  if (entry.selectors.length === 0) {
    throw new Error("the entry has no selectors");
  }
  const selectors = entry.selectors.map((selector) => validateSelector({ type: selector.type, value: selector.value }));

  return {
    id: entry.id,
    spiffeId,
    selectors,
    federatesWith,
    admin: entry.admin,
    downstream: entry.downstream,
    revisionNumber: entry.revision_number,
    storeSvid: entry.store_svid,
    hint: entry.hint,
    createdAt: entry.created_at,
    disableX509SvidPrefetch: entry.additional_attributes?.disable_x509_svid_prefetch ?? false,
  };
}
