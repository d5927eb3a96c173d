/**
 * A SPIRE selector: a property of a node or workload, such as `unix:uid:1000`. `type` names
 * the attestor that produces it (`unix`, `k8s`, `docker`, ...) and `value` is everything
 * after the first colon, so the value may itself contain colons (`k8s:ns:default`).
 */
export interface Selector {
  type: string;
  value: string;
}

/**
 * Comparison mode between a query's selectors and an entry's selectors, named as in
 * SPIRE's `BySelectors.match` filter:
 * - `exact`: the entry has exactly the query's selectors;
 * - `subset`: the entry's selectors are all in the query (the workload attestation rule);
 * - `superset`: the entry has all the query's selectors, maybe more;
 * - `any`: the entry shares at least one selector with the query.
 */
export type SelectorMatch = "exact" | "subset" | "superset" | "any";

/** Raised for a selector string that is not `type:value`. */
export class SelectorError extends Error {
  override readonly name = "SelectorError";
}

/**
 * Parses `type:value`, splitting on the first colon only. The type must be non-empty and
 * the value non-empty; throws {@link SelectorError} naming the input otherwise.
 */
export function parseSelector(text: string): Selector {
  const colon = text.indexOf(":");
  if (colon === -1) {
    throw new SelectorError(`invalid selector ${JSON.stringify(text)}: expected the form type:value, e.g. unix:uid:1000`);
  }

  const type = text.slice(0, colon);
  const value = text.slice(colon + 1);
  if (type === "") {
    throw new SelectorError(`invalid selector ${JSON.stringify(text)}: the type before the first ":" is empty`);
  }
  if (value === "") {
    throw new SelectorError(`invalid selector ${JSON.stringify(text)}: the value after the first ":" is empty`);
  }

  return { type, value };
}

/**
 * Checks that a selector built from separate fields (e.g. from a protobuf message) can
 * round-trip through `type:value`: the type is non-empty with no colon and the value is
 * non-empty. Throws {@link SelectorError}.
 */
export function validateSelector(selector: Selector): Selector {
  if (selector.type === "" || selector.type.includes(":")) {
    throw new SelectorError(
      `invalid selector type ${JSON.stringify(selector.type)}: it must be non-empty and contain no ":"`,
    );
  }
  if (selector.value === "") {
    throw new SelectorError(`invalid selector of type ${JSON.stringify(selector.type)}: the value is empty`);
  }
  return selector;
}

/** Formats a selector as `type:value`. */
export function formatSelector(selector: Selector): string {
  return `${selector.type}:${selector.value}`;
}

/**
 * Returns a string that identifies the selector, for use in Sets and Maps. Because the type
 * cannot contain a colon, two different selectors never share a key.
 */
export function selectorKey(selector: Selector): string {
  return formatSelector(selector);
}

/** Returns a copy sorted by type, then value (code unit order, as SPIRE's Go sort does bytes). */
export function sortSelectors(selectors: readonly Selector[]): Selector[] {
  return [...selectors].sort(compareSelectors);
}

/** Orders selectors by type, then value. */
export function compareSelectors(a: Selector, b: Selector): number {
  if (a.type !== b.type) {
    return a.type < b.type ? -1 : 1;
  }
  if (a.value !== b.value) {
    return a.value < b.value ? -1 : 1;
  }
  return 0;
}

/** Returns a copy without repeated selectors, keeping the first of each, in input order. */
export function dedupeSelectors(selectors: readonly Selector[]): Selector[] {
  const seen = new Set<string>();
  const unique: Selector[] = [];
  for (const selector of selectors) {
    const key = selectorKey(selector);
    if (!seen.has(key)) {
      seen.add(key);
      unique.push(selector);
    }
  }
  return unique;
}

/**
 * Tells whether a workload or node with the `available` selectors satisfies an entry that
 * requires the `required` selectors: every required selector must be available (subset
 * match, as SPIRE does for registration entries).
 *
 * An empty `required` list returns false, although it is mathematically a subset: SPIRE
 * never stores an entry without selectors, and failing closed keeps a bad entry from
 * matching every caller.
 */
export function selectorsSatisfy(required: readonly Selector[], available: readonly Selector[]): boolean {
  if (required.length === 0) {
    return false;
  }

  const availableKeys = new Set(available.map(selectorKey));
  return required.every((selector) => availableKeys.has(selectorKey(selector)));
}

/**
 * Compares an entry's selectors with a query's selectors under `match` (see
 * {@link SelectorMatch}). Both lists are treated as sets, so repeats do not matter. With
 * `subset`, an entry without selectors never matches, as in {@link selectorsSatisfy}.
 */
export function selectorSetMatches(
  entrySelectors: readonly Selector[],
  querySelectors: readonly Selector[],
  match: SelectorMatch,
): boolean {
  const entryKeys = new Set(entrySelectors.map(selectorKey));
  const queryKeys = new Set(querySelectors.map(selectorKey));

  switch (match) {
    case "exact":
      return entryKeys.size === queryKeys.size && isSubsetOf(entryKeys, queryKeys);
    case "subset":
      return entryKeys.size > 0 && isSubsetOf(entryKeys, queryKeys);
    case "superset":
      return isSubsetOf(queryKeys, entryKeys);
    case "any":
      return [...queryKeys].some((key) => entryKeys.has(key));
  }
}

function isSubsetOf(small: ReadonlySet<string>, large: ReadonlySet<string>): boolean {
  for (const key of small) {
    if (!large.has(key)) {
      return false;
    }
  }
  return true;
}
