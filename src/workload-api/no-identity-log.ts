import type { Logger } from "pino";
import type { Selector } from "../spiffe/selector.js";
import { formatSelector, sortSelectors } from "../spiffe/selector.js";

/** Workload API methods that end with "no identity issued". */
export type NoIdentityMethod = "FetchX509SVID" | "FetchX509Bundles" | "FetchJWTSVID" | "FetchJWTBundles";

/** The caller that got no identity, and what to log about it. */
export interface NoIdentityEvent {
  pid: number;
  selectors: readonly Selector[];
  method: NoIdentityMethod;
  /** `log_selectors` prefixes; selectors that match none of them are left out of the line. */
  logSelectors?: readonly string[];
  /** SPIFFE ID the caller asked for (FetchJWTSVID `spiffe_id`), when it asked for one. */
  requestedSpiffeId?: string;
}

/**
 * Logs one "No identity issued" error line with `pid`, `method`, `service`, `registered`
 * and `selectors`: the caller's selectors, sorted, that `log_selectors` allows. A selector
 * value can carry secrets (a container environment variable, say), so SPIRE logs none
 * unless the operator lists its prefix. `selectors_hidden` counts the ones left out, so an
 * operator can tell an empty list from a filtered one. No token or key is ever passed here.
 */
export function logNoIdentityIssued(logger: Logger, event: NoIdentityEvent): void {
  const sorted = sortSelectors(event.selectors).map(formatSelector);
  const loggable = sorted.filter((selector) => isLoggableSelector(selector, event.logSelectors ?? []));

  const fields: Record<string, unknown> = {
    pid: event.pid,
    method: event.method,
    service: "WorkloadAPI",
    registered: false,
    selectors: loggable,
  };
  if (loggable.length < sorted.length) {
    fields.selectors_hidden = sorted.length - loggable.length;
  }
  if (event.requestedSpiffeId !== undefined && event.requestedSpiffeId !== "") {
    fields.spiffe_id = event.requestedSpiffeId;
  }
  logger.error(fields, "No identity issued");
}

/**
 * Tells whether `selector` (`type:value`) may be logged under `prefixes`. A prefix
 * matches whole `:`-separated parts: `k8s:ns` matches `k8s:ns:default` but not
 * `k8s:ns-extra:x`, and `unix` matches every `unix:` selector. A prefix that ends with
 * `:` matches any selector that starts with it.
 *
 * NOTE: SPIRE's `log_selectors` takes prefixes such as `k8s:ns`; whether SPIRE also matches
 * inside a part (`k8s:n`) was not checked. Matching whole parts never logs more than that.
 */
export function isLoggableSelector(selector: string, prefixes: readonly string[]): boolean {
  return prefixes.some((prefix) => {
    if (prefix.endsWith(":")) {
      return selector.startsWith(prefix);
    }
    return selector === prefix || selector.startsWith(`${prefix}:`);
  });
}
