import type { Selector } from "../spiffe/selector.js";
import { selectorsSatisfy } from "../spiffe/selector.js";
import type { IdentitySource, WorkloadX509Svid, WorkloadX509Update, X509Subscription } from "./identity-source.js";

/** A registration entry with its SVID, as plain test data. */
export interface TestEntry {
  entryId: string;
  spiffeId: string;
  selectors: Selector[];
  certChain: Buffer[];
  privateKeyPkcs8: Buffer;
  hint?: string;
  createdAt?: number;
  /** Bare trust domain names whose bundles callers of this entry receive. */
  federatesWith?: string[];
}

/** The state of a {@link createTestIdentitySource}; replace fields and call `changed()`. */
export interface TestIdentityState {
  trustDomain: string;
  bundle: Buffer[];
  federatedBundles: Map<string, Buffer[]>;
  entries: TestEntry[];
}

/** An in-memory IdentitySource for handler tests, with hooks to change it and inspect it. */
export interface TestIdentitySource {
  source: IdentitySource;
  state: TestIdentityState;
  /** Recomputes every subscriber's update and notifies it, as the agent cache does after a sync. */
  changed(): void;
  /** Number of subscriptions not yet closed. */
  openSubscriptions(): number;
}

/**
 * Creates an IdentitySource from plain data: entries match by subset, the update lists
 * matching entries sorted by entry ID, and federated bundles are those named by the
 * matching entries. The agent's real cache is tested on its own.
 */
export function createTestIdentitySource(state: TestIdentityState): TestIdentitySource {
  const subscriptions = new Set<{ selectors: Selector[]; listeners: Set<(update: WorkloadX509Update) => void> }>();
  const bundleListeners = new Set<() => void>();

  const compute = (selectors: Selector[]): WorkloadX509Update => {
    const matching = state.entries
      .filter((entry) => selectorsSatisfy(entry.selectors, selectors))
      .sort((a, b) => (a.entryId < b.entryId ? -1 : 1));
    const federatedBundles = new Map<string, Buffer[]>();
    for (const entry of matching) {
      for (const trustDomain of entry.federatesWith ?? []) {
        const roots = state.federatedBundles.get(trustDomain);
        if (roots !== undefined) federatedBundles.set(trustDomain, roots);
      }
    }
    return {
      svids: matching.map(toSvid),
      trustDomain: state.trustDomain,
      bundle: state.bundle,
      federatedBundles,
    };
  };

  const source: IdentitySource = {
    subscribe(selectors): X509Subscription {
      const subscription = { selectors, listeners: new Set<(update: WorkloadX509Update) => void>() };
      subscriptions.add(subscription);
      return {
        ready: async () => compute(selectors),
        onUpdate(listener) {
          subscription.listeners.add(listener);
          return () => subscription.listeners.delete(listener);
        },
        close() {
          subscriptions.delete(subscription);
        },
      };
    },
    x509Bundles() {
      const bundles = new Map(state.federatedBundles);
      bundles.set(state.trustDomain, state.bundle);
      return { trustDomain: state.trustDomain, bundles };
    },
    onBundleUpdate(listener) {
      bundleListeners.add(listener);
      return () => bundleListeners.delete(listener);
    },
  };

  return {
    source,
    state,
    changed() {
      for (const subscription of subscriptions) {
        const update = compute(subscription.selectors);
        for (const listener of subscription.listeners) listener(update);
      }
      for (const listener of bundleListeners) listener();
    },
    openSubscriptions: () => subscriptions.size,
  };
}

function toSvid(entry: TestEntry): WorkloadX509Svid {
  return {
    entryId: entry.entryId,
    spiffeId: entry.spiffeId,
    hint: entry.hint ?? "",
    createdAt: entry.createdAt ?? 0,
    certChain: entry.certChain,
    privateKeyPkcs8: entry.privateKeyPkcs8,
    expiresAt: 0,
  };
}
