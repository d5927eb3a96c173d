import { selectorsSatisfy } from "../../spiffe/selector.js";
import { serverSpiffeId } from "../../spiffe/trust-domain.js";
import type { Datastore } from "../datastore/datastore.js";
import type { RegistrationEntry } from "../datastore/types.js";

/**
 * Returns the registration entries an agent may obtain SVIDs for, as SPIRE computes them.
 * These are the entries whose parent is the agent or one of the agent's node aliases, and
 * then, transitively, the children of those entries' SPIFFE IDs.
 *
 * A node alias is an entry parented by the server (`spiffe://<td>/spire/server`) whose
 * selectors are all among the agent's node selectors; the alias entry itself is not
 * returned, only the entries below its SPIFFE ID. Entries whose `expiresAt` has passed are
 * left out, and so are their descendants when reachable only through them. Each entry is
 * returned once, in crawl order.
 */
export function fetchAuthorizedEntries(
  datastore: Datastore,
  trustDomain: string,
  agentId: string,
  now: Date,
): RegistrationEntry[] {
  const nowSeconds = Math.floor(now.getTime() / 1000);
  const isLive = (entry: RegistrationEntry): boolean => entry.expiresAt === 0 || entry.expiresAt > nowSeconds;
  const serverId = serverSpiffeId(trustDomain);

  const nodeSelectors = datastore.nodes.getSelectors(agentId);
  const aliasIds = datastore.entries
    .list({ byParentId: serverId })
    .filter((alias) => isLive(alias) && selectorsSatisfy(alias.selectors, nodeSelectors))
    .map((alias) => alias.spiffeId);

  const visitedParents = new Set<string>([serverId]);
  const seenEntries = new Set<string>();
  const authorized: RegistrationEntry[] = [];
  let frontier = [agentId, ...aliasIds].filter((id) => !visitedParents.has(id));

  while (frontier.length > 0) {
    for (const parentId of frontier) visitedParents.add(parentId);

    const next: string[] = [];
    for (const entry of datastore.entries.listByParentIds(frontier)) {
      if (!isLive(entry) || seenEntries.has(entry.id)) continue;
      seenEntries.add(entry.id);
      authorized.push(entry);
      if (!visitedParents.has(entry.spiffeId)) next.push(entry.spiffeId);
    }
    frontier = [...new Set(next)];
  }

  return authorized;
}
