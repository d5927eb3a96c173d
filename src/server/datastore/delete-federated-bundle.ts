import type { Datastore } from "./datastore.js";

/**
 * Treatment of entries that federate with a deleted bundle, as in SPIRE: `restrict`
 * rejects the deletion, `delete` deletes those entries, and `dissociate` removes the trust
 * domain from their `federatesWith`.
 */
export type FederatedBundleDeleteMode = "restrict" | "delete" | "dissociate";

/** Raised when the bundle to delete does not exist. */
export class BundleNotFoundError extends Error {
  override readonly name = "BundleNotFoundError";
}

/** Raised in `restrict` mode when entries still federate with the bundle's trust domain. */
export class BundleInUseError extends Error {
  override readonly name = "BundleInUseError";
}

/**
 * Deletes a trust domain's bundle in one transaction and applies `mode` to the entries that
 * federate with it. Returns the IDs of the entries deleted or changed.
 *
 * Dissociated entries get a new revision number, so agents that sync by revision pick up the
 * shorter `federatesWith` list. NOTE: SPIRE's SQL store removes the association without
 * touching the entry's revision.
 */
export function deleteFederatedBundle(datastore: Datastore, trustDomain: string, mode: FederatedBundleDeleteMode): string[] {
  return datastore.transaction(() => {
    if (datastore.bundles.get(trustDomain) === undefined) {
      throw new BundleNotFoundError(`no bundle for trust domain "${trustDomain}"`);
    }

    // Every entry is read because federatesWith is a JSON column; deletions are rare admin calls.
    const federating = datastore.entries.list().filter((entry) => entry.federatesWith.includes(trustDomain));
    if (mode === "restrict" && federating.length > 0) {
      const noun = federating.length === 1 ? "registration entry" : "registration entries";
      throw new BundleInUseError(`cannot delete bundle: ${federating.length} ${noun} federate with "${trustDomain}"`);
    }

    for (const entry of federating) {
      if (mode === "delete") {
        datastore.entries.delete(entry.id);
      } else {
        const federatesWith = entry.federatesWith.filter((name) => name !== trustDomain);
        datastore.entries.update(entry.id, { ...entry, federatesWith }, { federatesWith: true });
      }
    }

    datastore.bundles.delete(trustDomain);
    return federating.map((entry) => entry.id);
  });
}
