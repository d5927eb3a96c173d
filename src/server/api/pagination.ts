/** One page of a list and the token for the next one ("" on the last page). */
export interface Page<T> {
  items: T[];
  nextPageToken: string;
}

/**
 * Cuts a page out of an already filtered list. The token is the decimal offset of the next
 * item, so it is only meaningful while the list does not change between calls. A
 * `pageSize` of 0 returns everything, as in SPIRE.
 */
export function paginate<T>(items: readonly T[], pageSize: number, pageToken: string): Page<T> {
  const start = pageToken === "" ? 0 : Number.parseInt(pageToken, 10);
  if (!Number.isSafeInteger(start) || start < 0 || String(start) !== (pageToken === "" ? "0" : pageToken)) {
    throw new Error(`invalid page token ${JSON.stringify(pageToken)}`);
  }
  if (pageSize <= 0) {
    return { items: items.slice(start), nextPageToken: "" };
  }

  const end = start + pageSize;
  return { items: items.slice(start, end), nextPageToken: end < items.length ? String(end) : "" };
}
