import { selectorKey } from "../../spiffe/selector.js";
import type { CachedEntry } from "./cache-types.js";

/** Tells whether two lists of DER certificates hold the same bytes in the same order. */
export function sameDerList(a: readonly Buffer[], b: readonly Buffer[]): boolean {
  return a.length === b.length && a.every((der, index) => der.equals(b[index] as Buffer));
}

/**
 * Tells whether two versions of an entry agree on every field the agent keeps. Selector
 * and federates_with lists compare as sets, since their order carries no meaning.
 */
export function entryFieldsEqual(a: CachedEntry, b: CachedEntry): boolean {
  return (
    a.id === b.id &&
    a.spiffeId === b.spiffeId &&
    a.admin === b.admin &&
    a.downstream === b.downstream &&
    a.storeSvid === b.storeSvid &&
    a.hint === b.hint &&
    a.createdAt === b.createdAt &&
    a.disableX509SvidPrefetch === b.disableX509SvidPrefetch &&
    sameStringSet(a.selectors.map(selectorKey), b.selectors.map(selectorKey)) &&
    sameStringSet(a.federatesWith, b.federatesWith)
  );
}

function sameStringSet(a: readonly string[], b: readonly string[]): boolean {
  const left = new Set(a);
  const right = new Set(b);
  return left.size === right.size && [...left].every((value) => right.has(value));
}
