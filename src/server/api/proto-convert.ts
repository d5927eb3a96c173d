import { createPublicKey, X509Certificate } from "node:crypto";
import { formatSpiffeId, parseSpiffeId, spiffeIdFromPath } from "../../spiffe/spiffe-id.js";
import { parseTrustDomain } from "../../spiffe/trust-domain.js";
import { validateSelector } from "../../spiffe/selector.js";
import type { Selector, SelectorMatch } from "../../spiffe/selector.js";
import type { types } from "../../proto/index.js";
import type { AttestedNodeWithSelectors, Bundle, NewRegistrationEntry, RegistrationEntry } from "../datastore/types.js";

/** Converts a SPIFFE ID string to the API's `{trust_domain, path}` form. */
export function idToProto(id: string): types.SPIFFEID__Output {
  const parsed = parseSpiffeId(id);
  return { trust_domain: parsed.trustDomain, path: parsed.path };
}

/**
 * Converts the API's `{trust_domain, path}` form to a SPIFFE ID string, validating both
 * parts. Throws with `what` (e.g. "parent ID") in the message when missing or invalid.
 */
export function idFromProto(id: types.SPIFFEID__Output | null | undefined, what: string): string {
  if (id === null || id === undefined) {
    throw new Error(`${what} is missing`);
  }
  try {
    return formatSpiffeId(spiffeIdFromPath(id.trust_domain, id.path));
  } catch (error) {
    throw new Error(`invalid ${what}: ${(error as Error).message}`, { cause: error });
  }
}

/** Checks that `id` belongs to the server's trust domain; `what` names it in the error. */
export function requireMember(id: string, trustDomain: string, what: string): void {
  const parsed = parseSpiffeId(id);
  if (parsed.trustDomain !== trustDomain) {
    throw new Error(`invalid ${what}: "${id}" is not a member of trust domain "${trustDomain}"`);
  }
}

/**
 * Checks that `id` can name a workload: a member of the trust domain with a path outside
 * the `/spire/` namespace, which SPIRE reserves for servers and agents.
 */
export function requireWorkloadId(id: string, trustDomain: string, what: string): void {
  requireMember(id, trustDomain, what);
  const { path } = parseSpiffeId(id);
  if (path === "") {
    throw new Error(`invalid ${what}: "${id}" has no path, so it names the trust domain, not a workload`);
  }
  if (path === "/spire" || path.startsWith("/spire/")) {
    throw new Error(`invalid ${what}: "${id}" is in the "/spire/" namespace reserved for servers and agents`);
  }
}

/** Validates API selectors (non-empty type without ":", non-empty value). */
export function selectorsFromProto(selectors: readonly types.Selector__Output[]): Selector[] {
  return selectors.map((selector) => validateSelector({ type: selector.type, value: selector.value }));
}

/** Converts a stored entry to its complete API form. */
export function entryToProto(entry: RegistrationEntry): types.Entry__Output {
  return {
    id: entry.id,
    spiffe_id: idToProto(entry.spiffeId),
    parent_id: idToProto(entry.parentId),
    selectors: entry.selectors.map(({ type, value }) => ({ type, value })),
    x509_svid_ttl: entry.x509SvidTtl,
    federates_with: [...entry.federatesWith],
    admin: entry.admin,
    downstream: entry.downstream,
    expires_at: entry.expiresAt,
    dns_names: [...entry.dnsNames],
    revision_number: entry.revisionNumber,
    store_svid: entry.storeSvid,
    jwt_svid_ttl: entry.jwtSvidTtl,
    hint: entry.hint,
    created_at: entry.createdAt,
    additional_attributes: null,
  };
}

/**
 * Clears the fields the mask leaves out, as SPIRE's applyMask does; a null mask keeps
 * every field. The entry ID is always kept.
 */
export function applyEntryMask(entry: types.Entry__Output, mask: types.EntryMask__Output | null): types.Entry__Output {
  if (mask === null) return entry;
  return {
    id: entry.id,
    spiffe_id: mask.spiffe_id ? entry.spiffe_id : null,
    parent_id: mask.parent_id ? entry.parent_id : null,
    selectors: mask.selectors ? entry.selectors : [],
    x509_svid_ttl: mask.x509_svid_ttl ? entry.x509_svid_ttl : 0,
    federates_with: mask.federates_with ? entry.federates_with : [],
    admin: mask.admin ? entry.admin : false,
    downstream: mask.downstream ? entry.downstream : false,
    expires_at: mask.expires_at ? entry.expires_at : 0,
    dns_names: mask.dns_names ? entry.dns_names : [],
    revision_number: mask.revision_number ? entry.revision_number : 0,
    store_svid: mask.store_svid ? entry.store_svid : false,
    jwt_svid_ttl: mask.jwt_svid_ttl ? entry.jwt_svid_ttl : 0,
    hint: mask.hint ? entry.hint : "",
    created_at: mask.created_at ? entry.created_at : 0,
    additional_attributes: mask.additional_attributes ? entry.additional_attributes : null,
  };
}

/**
 * Validates an API entry for creation and converts it to the stored form. The parent ID
 * may be any member of the trust domain: an agent, the server (for node aliases) or another
 * workload. The SPIFFE ID must be a workload ID. Throws an Error naming the bad field.
 */
export function entryFromProto(entry: types.Entry__Output, trustDomain: string): NewRegistrationEntry {
  const parentId = idFromProto(entry.parent_id, "parent ID");
  requireMember(parentId, trustDomain, "parent ID");
  const spiffeId = idFromProto(entry.spiffe_id, "SPIFFE ID");
  requireWorkloadId(spiffeId, trustDomain, "SPIFFE ID");

  if (entry.selectors.length === 0) {
    throw new Error("selector list is empty");
  }
  const selectors = selectorsFromProto(entry.selectors);

  if (entry.id !== "" && !/^[A-Za-z0-9._-]{1,255}$/.test(entry.id)) {
    throw new Error(`invalid entry ID ${JSON.stringify(entry.id)}: use 1 to 255 letters, digits, ".", "_" or "-"`);
  }
  for (const [name, ttl] of [["X509-SVID TTL", entry.x509_svid_ttl], ["JWT-SVID TTL", entry.jwt_svid_ttl]] as const) {
    if (ttl < 0) throw new Error(`invalid ${name} ${ttl}: it must not be negative`);
  }
  if (entry.expires_at < 0) {
    throw new Error(`invalid expiry ${entry.expires_at}: it must not be negative`);
  }
  for (const dnsName of entry.dns_names) validateDnsName(dnsName);

  return {
    id: entry.id,
    spiffeId,
    parentId,
    selectors,
    x509SvidTtl: entry.x509_svid_ttl,
    jwtSvidTtl: entry.jwt_svid_ttl,
    federatesWith: entry.federates_with.map((name) => {
      try {
        return parseTrustDomain(name);
      } catch (error) {
        throw new Error(`invalid federated trust domain: ${(error as Error).message}`, { cause: error });
      }
    }),
    admin: entry.admin,
    downstream: entry.downstream,
    expiresAt: entry.expires_at,
    dnsNames: [...entry.dns_names],
    storeSvid: entry.store_svid,
    hint: entry.hint,
  };
}

/**
 * Checks a DNS SAN: 1 to 253 characters in dot-separated labels of letters, digits and
 * hyphens, 1 to 63 each and without a leading or trailing hyphen. A leading `*.` is allowed.
 */
export function validateDnsName(name: string): void {
  const host = name.startsWith("*.") ? name.slice(2) : name;
  const labelPattern = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
  if (name.length === 0 || name.length > 253 || !host.split(".").every((label) => labelPattern.test(label))) {
    throw new Error(`invalid DNS name ${JSON.stringify(name)}: expected labels of letters, digits and "-" separated by "."`);
  }
}

/** Converts an attested node to the API's Agent form. */
export function agentToProto(node: AttestedNodeWithSelectors): types.Agent__Output {
  return {
    id: idToProto(node.spiffeId),
    attestation_type: node.attestationType,
    x509svid_serial_number: node.certSerialNumber,
    x509svid_expires_at: node.certNotAfter,
    selectors: node.selectors.map(({ type, value }) => ({ type, value })),
    banned: node.banned,
    can_reattest: node.canReattest,
  };
}

/** Clears the Agent fields the mask leaves out; a null mask keeps every field. */
export function applyAgentMask(agent: types.Agent__Output, mask: types.AgentMask__Output | null): types.Agent__Output {
  if (mask === null) return agent;
  return {
    id: agent.id,
    attestation_type: mask.attestation_type ? agent.attestation_type : "",
    x509svid_serial_number: mask.x509svid_serial_number ? agent.x509svid_serial_number : "",
    x509svid_expires_at: mask.x509svid_expires_at ? agent.x509svid_expires_at : 0,
    selectors: mask.selectors ? agent.selectors : [],
    banned: mask.banned ? agent.banned : false,
    can_reattest: mask.can_reattest ? agent.can_reattest : false,
  };
}

/** Converts a stored bundle to the API form. */
export function bundleToProto(bundle: Bundle): types.Bundle__Output {
  return {
    trust_domain: bundle.trustDomain,
    x509_authorities: bundle.x509Authorities.map((der) => ({ asn1: der, tainted: false })),
    jwt_authorities: bundle.jwtAuthorities.map((authority) => ({
      public_key: authority.publicKey,
      key_id: authority.keyId,
      expires_at: authority.expiresAt,
      tainted: authority.tainted,
    })),
    refresh_hint: bundle.refreshHint,
    sequence_number: bundle.sequenceNumber,
    wit_authorities: [],
  };
}

/**
 * Validates an API bundle and converts it to the stored form, without a sequence number
 * (the store assigns one). Each X.509 authority must parse as a DER certificate and each
 * JWT authority must have a key ID and a PKIX public key. Throws an Error naming the bad item.
 */
export function bundleFromProto(bundle: types.Bundle__Output): Omit<Bundle, "sequenceNumber"> {
  const trustDomain = parseTrustDomain(bundle.trust_domain);

  const x509Authorities = bundle.x509_authorities.map((authority, index) => {
    try {
      new X509Certificate(authority.asn1);
    } catch (error) {
      throw new Error(`invalid X.509 authority ${index}: ${(error as Error).message}`, { cause: error });
    }
    return Buffer.from(authority.asn1);
  });

  const jwtAuthorities = bundle.jwt_authorities.map((authority, index) => {
    if (authority.key_id === "") throw new Error(`invalid JWT authority ${index}: missing key ID`);
    try {
      createPublicKey({ key: Buffer.from(authority.public_key), format: "der", type: "spki" });
    } catch (error) {
      throw new Error(`invalid JWT authority ${authority.key_id}: ${(error as Error).message}`, { cause: error });
    }
    return {
      publicKey: Buffer.from(authority.public_key),
      keyId: authority.key_id,
      expiresAt: Number(authority.expires_at),
      tainted: authority.tainted,
    };
  });

  if (bundle.refresh_hint < 0) throw new Error(`invalid refresh hint ${bundle.refresh_hint}: it must not be negative`);
  return { trustDomain, x509Authorities, jwtAuthorities, refreshHint: Number(bundle.refresh_hint) };
}

/** Converts the API's selector match behaviour to the store's name for it. */
export function selectorMatchFromProto(match: types.SelectorMatchBehavior__Output): SelectorMatch {
  switch (match) {
    case "MATCH_EXACT":
      return "exact";
    case "MATCH_SUBSET":
      return "subset";
    case "MATCH_SUPERSET":
      return "superset";
    case "MATCH_ANY":
      return "any";
  }
}
