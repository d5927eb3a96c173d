import type { types } from "../../proto/index.js";

/** Formats Unix seconds the way Go prints `time.Unix(s, 0).UTC()`: `2006-01-02 15:04:05 +0000 UTC`. */
export function formatTime(unixSeconds: number): string {
  const iso = new Date(unixSeconds * 1000).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)} +0000 UTC`;
}

/** Formats an API SPIFFE ID as its URI, or "" when missing. */
export function formatProtoId(id: types.SPIFFEID__Output | null): string {
  return id === null ? "" : `spiffe://${id.trust_domain}${id.path}`;
}

/**
 * Formats an entry in spire-server's `entry show` layout: labelled lines padded to 17
 * characters, optional fields only when set, and a blank line after the block.
 */
export function formatEntry(entry: types.Entry__Output): string {
  const lines = [
    `Entry ID         : ${entry.id === "" ? "(none)" : entry.id}`,
    `SPIFFE ID        : ${formatProtoId(entry.spiffe_id)}`,
    `Parent ID        : ${formatProtoId(entry.parent_id)}`,
    `Revision         : ${entry.revision_number}`,
  ];
  if (entry.downstream) lines.push("Downstream       : true");
  lines.push(`X509-SVID TTL    : ${entry.x509_svid_ttl === 0 ? "default" : entry.x509_svid_ttl}`);
  lines.push(`JWT-SVID TTL     : ${entry.jwt_svid_ttl === 0 ? "default" : entry.jwt_svid_ttl}`);
  if (entry.expires_at !== 0) lines.push(`Expiration time  : ${formatTime(entry.expires_at)}`);
  for (const selector of entry.selectors) lines.push(`Selector         : ${selector.type}:${selector.value}`);
  for (const trustDomain of entry.federates_with) lines.push(`FederatesWith    : ${trustDomain}`);
  for (const dnsName of entry.dns_names) lines.push(`DNS name         : ${dnsName}`);
  if (entry.admin) lines.push("Admin            : true");
  if (entry.store_svid) lines.push("StoreSvid        : true");
  if (entry.hint !== "") lines.push(`Hint             : ${entry.hint}`);
  return `${lines.join("\n")}\n\n`;
}

/** Formats an agent in spire-server's `agent list` layout, followed by a blank line. */
export function formatAgent(agent: types.Agent__Output, withSelectors: boolean): string {
  const lines = [
    `SPIFFE ID         : ${formatProtoId(agent.id)}`,
    `Attestation type  : ${agent.attestation_type}`,
    `Expiration time   : ${formatTime(agent.x509svid_expires_at)}`,
    // A banned agent has no serial number, so SPIRE shows the ban instead.
    agent.banned ? "Banned            : true" : `Serial number     : ${agent.x509svid_serial_number}`,
    `Can re-attest     : ${agent.can_reattest}`,
  ];
  if (withSelectors) {
    for (const selector of agent.selectors) lines.push(`Selectors         : ${selector.type}:${selector.value}`);
  }
  return `${lines.join("\n")}\n\n`;
}

/** Returns `singular` for 1 and `plural` otherwise. */
export function pluralize(count: number, singular: string, plural: string): string {
  return count === 1 ? singular : plural;
}
