import { pino } from "pino";
import { describe, expect, it, vi } from "vitest";

import type { WorkloadX509Update } from "../../workload-api/identity-source.js";
import type { CachedEntry, CachedX509Svid } from "./cache-types.js";
import { testEntry } from "./test-entry.js";
import { createX509Cache } from "./x509-cache.js";

const logger = pino({ level: "silent" });
const HOUR = 3_600_000;
const ROOT = Buffer.from("own-root");

const entry = testEntry;

function svidFor(cachedEntry: CachedEntry, notBeforeMs = 0, notAfterMs = 100 * HOUR): CachedX509Svid {
  return {
    certChain: [Buffer.from(`leaf-${cachedEntry.id}-${Math.random()}`)],
    privateKeyPkcs8: Buffer.from("key"),
    spiffeId: cachedEntry.spiffeId,
    entryRevision: cachedEntry.revisionNumber,
    notBeforeMs,
    notAfterMs,
  };
}

function byId(...entries: CachedEntry[]): Map<string, CachedEntry> {
  return new Map(entries.map((e) => [e.id, e]));
}

// A fixed clock at the epoch, so the SVIDs above (valid for 100 hours from the epoch) count as unexpired.
function newCache(maxSvids?: number, now: () => number = () => 0) {
  return createX509Cache({ trustDomain: "example.org", bundle: [ROOT], logger, maxSvids, now });
}

const ownBundles = new Map([["example.org", [ROOT]]]);
const workload = [
  { type: "unix", value: "uid:1000" },
  { type: "unix", value: "gid:1000" },
];

describe("X509Cache subscriptions", () => {
  it("matches entries whose selectors are a subset", async () => {
    const cache = newCache();
    const a = entry("a", ["unix:uid:1000"]);
    const b = entry("b", ["unix:uid:1000", "unix:gid:1000"]);
    const c = entry("c", ["unix:uid:1000", "unix:gid:0"]);
    cache.update(byId(a, b, c), ownBundles);
    cache.storeSvids(new Map([a, b, c].map((e) => [e.id, svidFor(e)])));

    const update = await cache.subscribe(workload).ready();

    expect(update.svids.map((s) => s.entryId)).toEqual(["a", "b"]);
    expect(update.bundle).toEqual([ROOT]);
    expect(update.trustDomain).toBe("example.org");
  });

  it("sorts identities by entry ID", async () => {
    const cache = newCache();
    const entries = ["zeta", "alpha", "mid"].map((id) => entry(id, ["unix:uid:1000"]));
    cache.update(byId(...entries), ownBundles);
    cache.storeSvids(new Map(entries.map((e) => [e.id, svidFor(e)])));

    const update = await cache.subscribe(workload).ready();

    expect(update.svids.map((s) => s.entryId)).toEqual(["alpha", "mid", "zeta"]);
  });

  it("answers at once when nothing matches", async () => {
    const cache = newCache();
    cache.update(byId(entry("a", ["unix:uid:0"])), ownBundles);

    const update = await cache.subscribe(workload).ready();

    expect(update.svids).toEqual([]);
  });

  it("waits for missing SVIDs and asks for a mint", async () => {
    const cache = newCache();
    const mintNeeded = vi.fn();
    cache.onMintNeeded(mintNeeded);
    const a = entry("a", ["unix:uid:1000"]);
    const b = entry("b", ["unix:gid:1000"]);
    cache.update(byId(a, b), ownBundles);
    cache.storeSvids(new Map([["a", svidFor(a)]]));

    let resolved: WorkloadX509Update | undefined;
    const ready = cache.subscribe(workload).ready().then((update) => (resolved = update));
    await Promise.resolve();

    expect(mintNeeded).toHaveBeenCalled();
    expect(resolved).toBeUndefined();

    cache.storeSvids(new Map([["b", svidFor(b)]]));
    await ready;
    expect(resolved?.svids.map((s) => s.entryId)).toEqual(["a", "b"]);
  });

  it("rejects ready when the signal aborts", async () => {
    const cache = newCache();
    cache.update(byId(entry("a", ["unix:uid:1000"])), ownBundles);
    const controller = new AbortController();

    const ready = cache.subscribe(workload).ready(controller.signal);
    controller.abort(new Error("deadline"));

    await expect(ready).rejects.toThrow("deadline");
  });

  it("notifies listeners on re-mint, removal and bundle change", async () => {
    const cache = newCache();
    const a = entry("a", ["unix:uid:1000"]);
    const b = entry("b", ["unix:uid:1000"]);
    cache.update(byId(a, b), ownBundles);
    cache.storeSvids(new Map([a, b].map((e) => [e.id, svidFor(e)])));
    const subscription = cache.subscribe(workload);
    await subscription.ready();
    const updates: WorkloadX509Update[] = [];
    subscription.onUpdate((update) => updates.push(update));

    const remint = svidFor(a);
    cache.storeSvids(new Map([["a", remint]]));
    expect(updates).toHaveLength(1);
    expect(updates[0]?.svids[0]?.certChain).toBe(remint.certChain);

    cache.update(byId(a), ownBundles);
    expect(updates).toHaveLength(2);
    expect(updates[1]?.svids.map((s) => s.entryId)).toEqual(["a"]);

    const newRoot = Buffer.from("new-root");
    cache.update(byId(a), new Map([["example.org", [ROOT, newRoot]]]));
    expect(updates).toHaveLength(3);
    expect(updates[2]?.bundle).toEqual([ROOT, newRoot]);
  });

  it("stays quiet for unrelated changes", async () => {
    const cache = newCache();
    const a = entry("a", ["unix:uid:1000"]);
    const other = entry("other", ["unix:uid:0"]);
    cache.update(byId(a, other), ownBundles);
    cache.storeSvids(new Map([a, other].map((e) => [e.id, svidFor(e)])));
    const subscription = cache.subscribe(workload);
    await subscription.ready();
    const listener = vi.fn();
    subscription.onUpdate(listener);

    cache.storeSvids(new Map([["other", svidFor(other)]]));
    cache.update(byId(a, other, entry("new", ["unix:uid:1000"])), ownBundles);
    cache.update(byId(a), ownBundles);

    expect(listener).not.toHaveBeenCalled();
  });

  it("adds a new entry once its SVID exists", async () => {
    const cache = newCache();
    const a = entry("a", ["unix:uid:1000"]);
    cache.update(byId(a), ownBundles);
    cache.storeSvids(new Map([["a", svidFor(a)]]));
    const subscription = cache.subscribe(workload);
    await subscription.ready();
    const updates: WorkloadX509Update[] = [];
    subscription.onUpdate((update) => updates.push(update));

    const b = entry("b", ["unix:gid:1000"]);
    cache.update(byId(a, b), ownBundles);
    expect(updates).toHaveLength(0);

    cache.storeSvids(new Map([["b", svidFor(b)]]));
    expect(updates.map((u) => u.svids.map((s) => s.entryId))).toEqual([["a", "b"]]);
  });

  it("includes only the federated bundles of matching entries", async () => {
    const cache = newCache();
    const a = entry("a", ["unix:uid:1000"], { federatesWith: ["partner.org", "missing.org"] });
    const b = entry("b", ["unix:uid:0"], { federatesWith: ["other.org"] });
    const partner = [Buffer.from("partner-root")];
    cache.update(
      byId(a, b),
      new Map([
        ["example.org", [ROOT]],
        ["partner.org", partner],
        ["other.org", [Buffer.from("other-root")]],
      ]),
    );
    cache.storeSvids(new Map([a, b].map((e) => [e.id, svidFor(e)])));

    const update = await cache.subscribe(workload).ready();

    expect([...update.federatedBundles.keys()]).toEqual(["partner.org"]);
    expect(update.federatedBundles.get("partner.org")).toEqual(partner);
    expect([...cache.x509Bundles().bundles.keys()].sort()).toEqual(["example.org", "other.org", "partner.org"]);
  });

  it("keeps the own bundle when the server omits it", () => {
    const cache = newCache();
    const listener = vi.fn();
    cache.onBundleUpdate(listener);

    cache.update(new Map(), new Map());

    expect(cache.bundle()).toEqual([ROOT]);
    expect(listener).not.toHaveBeenCalled();
  });
});

describe("X509Cache entry changes", () => {
  it("drops the SVID when the SPIFFE ID changes", async () => {
    const cache = newCache();
    const a = entry("a", ["unix:uid:1000"]);
    cache.update(byId(a), ownBundles);
    cache.storeSvids(new Map([["a", svidFor(a)]]));

    const renamed = entry("a", ["unix:uid:1000"], { spiffeId: "spiffe://example.org/renamed", revisionNumber: 2 });
    cache.update(byId(renamed), ownBundles);

    expect(cache.svidCount()).toBe(0);
    expect(cache.pendingMints(0).map((p) => [p.entry.id, p.reason])).toEqual([["a", "missing"]]);
  });

  it("ignores an SVID minted for the old SPIFFE ID", () => {
    const cache = newCache();
    const a = entry("a", ["unix:uid:1000"]);
    cache.update(byId(a), ownBundles);
    const staleSvid = svidFor(a);

    cache.update(byId(entry("a", ["unix:uid:1000"], { spiffeId: "spiffe://example.org/b", revisionNumber: 2 })), ownBundles);
    cache.storeSvids(new Map([["a", staleSvid]]));

    expect(cache.svidCount()).toBe(0);
  });

  it("re-mints after a revision change", () => {
    const cache = newCache();
    const a = entry("a", ["unix:uid:1000"]);
    cache.update(byId(a), ownBundles);
    cache.storeSvids(new Map([["a", svidFor(a)]]));
    expect(cache.pendingMints(HOUR, () => 0.5)).toEqual([]);

    const edited = entry("a", ["unix:uid:1000"], { revisionNumber: 2, hint: "internal" });
    cache.update(byId(edited), ownBundles);
    expect(cache.pendingMints(HOUR, () => 0.5).map((p) => p.reason)).toEqual(["entry_changed"]);

    cache.storeSvids(new Map([["a", svidFor(edited)]]));
    expect(cache.pendingMints(HOUR, () => 0.5)).toEqual([]);
  });

  it("lists SVIDs past their jittered half-life", () => {
    const cache = newCache();
    const a = entry("a", ["unix:uid:1000"]);
    cache.update(byId(a), ownBundles);
    cache.storeSvids(new Map([["a", svidFor(a, 0, 10 * HOUR)]]));

    expect(cache.pendingMints(4 * HOUR, () => 0.5)).toEqual([]);
    const pending = cache.pendingMints(6 * HOUR, () => 0.5);
    expect(pending.map((p) => [p.reason, p.currentExpiresAtMs])).toEqual([["expiring", 10 * HOUR]]);
  });
});

describe("X509Cache size limit", () => {
  it("prefetches only up to the limit", () => {
    const cache = newCache(2);
    cache.update(byId(entry("a", ["x:1"]), entry("b", ["x:2"]), entry("c", ["x:3"])), ownBundles);

    expect(cache.pendingMints(0).map((p) => p.entry.id)).toEqual(["a", "b"]);
  });

  it("mints for subscribers beyond the limit", () => {
    const cache = newCache(1);
    const entries = [entry("a", ["x:1"]), entry("b", ["x:2"]), entry("c", ["x:3"], { disableX509SvidPrefetch: true })];
    cache.update(byId(...entries), ownBundles);
    cache.subscribe([{ type: "x", value: "3" }]);

    expect(cache.pendingMints(0).map((p) => p.entry.id)).toEqual(["a", "c"]);
  });

  it("evicts unused SVIDs above the limit", () => {
    const cache = newCache(1);
    const a = entry("a", ["x:1"]);
    const b = entry("b", ["x:2"]);
    cache.update(byId(a, b), ownBundles);
    cache.subscribe([{ type: "x", value: "2" }]);
    cache.storeSvids(new Map([a, b].map((e) => [e.id, svidFor(e)])));

    cache.update(byId(a, b), ownBundles);

    expect(cache.svidCount()).toBe(1);
    expect(cache.pendingMints(0)).toEqual([]);
  });
});

describe("X509Cache expiry", () => {
  it("never hands out an expired SVID", async () => {
    let nowMs = 0;
    const cache = newCache(undefined, () => nowMs);
    const a = entry("a", ["unix:uid:1000"]);
    cache.update(byId(a), ownBundles);
    cache.storeSvids(new Map([["a", svidFor(a, 0, HOUR)]]));

    nowMs = HOUR;
    let resolved: WorkloadX509Update | undefined;
    void cache.subscribe(workload).ready().then((update) => (resolved = update));
    await Promise.resolve();

    expect(resolved).toBeUndefined();
    expect(cache.usableSvidCount()).toBe(0);
    expect(cache.pendingMints(nowMs, () => 0.5).map((p) => p.reason)).toEqual(["expiring"]);
  });

  it("sends subscribers an update without the SVID once it expires", async () => {
    const cache = createX509Cache({ trustDomain: "example.org", bundle: [ROOT], logger });
    const a = entry("a", ["unix:uid:1000"]);
    const b = entry("b", ["unix:uid:1000"]);
    cache.update(byId(a, b), ownBundles);
    const start = Date.now();
    cache.storeSvids(
      new Map([
        ["a", svidFor(a, start - HOUR, start + 150)],
        ["b", svidFor(b, start - HOUR, start + HOUR)],
      ]),
    );
    const subscription = cache.subscribe(workload);
    const first = await subscription.ready();
    const updates: WorkloadX509Update[] = [];
    subscription.onUpdate((update) => updates.push(update));

    await vi.waitFor(() => expect(updates).toHaveLength(1), { timeout: 5_000 });

    expect(first.svids.map((s) => s.entryId)).toEqual(["a", "b"]);
    expect(updates[0]?.svids.map((s) => s.entryId)).toEqual(["b"]);
    expect(cache.svidCount()).toBe(1);
    cache.close();
  });

  it("sends an update without identities when the last SVID expires", async () => {
    const cache = createX509Cache({ trustDomain: "example.org", bundle: [ROOT], logger });
    const a = entry("a", ["unix:uid:1000"]);
    cache.update(byId(a), ownBundles);
    cache.storeSvids(new Map([["a", svidFor(a, Date.now() - HOUR, Date.now() + 100)]]));
    const subscription = cache.subscribe(workload);
    await subscription.ready();
    const changed = vi.fn();
    cache.onChange(changed);
    const updates: WorkloadX509Update[] = [];
    subscription.onUpdate((update) => updates.push(update));

    await vi.waitFor(() => expect(updates).toHaveLength(1), { timeout: 5_000 });

    expect(updates[0]?.svids).toEqual([]);
    expect(changed).toHaveBeenCalledTimes(1);
    cache.close();
  });
});

describe("X509Cache snapshot and restore", () => {
  it("restores entries, SVIDs and federated bundles", async () => {
    const source = newCache();
    const a = entry("a", ["unix:uid:1000"], { federatesWith: ["partner.org"] });
    const partner = [Buffer.from("partner-root")];
    source.update(byId(a), new Map([["example.org", [ROOT]], ["partner.org", partner]]));
    source.storeSvids(new Map([["a", svidFor(a)]]));

    const target = newCache();
    const bundleChanged = vi.fn();
    target.onBundleUpdate(bundleChanged);
    const counts = target.restore(source.snapshot());

    expect(counts).toEqual({ entries: 1, svids: 1 });
    expect(bundleChanged).toHaveBeenCalledTimes(1);
    const update = await target.subscribe(workload).ready();
    expect(update.svids.map((s) => s.entryId)).toEqual(["a"]);
    expect(update.federatedBundles.get("partner.org")).toEqual(partner);
    expect(target.pendingMints(HOUR, () => 0.5)).toEqual([]);
  });

  it("keeps its own bundle on restore", () => {
    const cache = newCache();

    cache.restore({ entries: [], svids: new Map(), bundles: new Map([["example.org", [Buffer.from("other-root")]]]) });

    expect(cache.bundle()).toEqual([ROOT]);
  });

  it("skips SVIDs without a matching entry and re-mints outdated ones", () => {
    const cache = newCache();
    const a = entry("a", ["x:1"], { revisionNumber: 2 });
    const b = entry("b", ["x:2"]);
    const orphan = entry("orphan", ["x:3"]);

    const counts = cache.restore({
      entries: [a, b],
      svids: new Map([
        ["a", { ...svidFor(a), entryRevision: 1 }],
        ["b", { ...svidFor(b), spiffeId: "spiffe://example.org/renamed" }],
        ["orphan", svidFor(orphan)],
      ]),
      bundles: ownBundles,
    });

    expect(counts).toEqual({ entries: 2, svids: 1 });
    expect(cache.pendingMints(HOUR, () => 0.5).map((p) => [p.entry.id, p.reason])).toEqual([
      ["a", "entry_changed"],
      ["b", "missing"],
    ]);
  });

  it("reports changes to listeners", () => {
    const cache = newCache();
    const changed = vi.fn();
    const remove = cache.onChange(changed);
    const a = entry("a", ["x:1"]);

    cache.update(byId(a), ownBundles);
    cache.update(byId(a), ownBundles);
    cache.storeSvids(new Map([["a", svidFor(a)]]));
    remove();
    cache.storeSvids(new Map([["a", svidFor(a)]]));

    expect(changed).toHaveBeenCalledTimes(2);
  });
});
