import { pino } from "pino";
import { describe, expect, it } from "vitest";

import type { CachedEntry } from "../cache/cache-types.js";
import { testEntry } from "../cache/test-entry.js";
import { createX509Cache } from "../cache/x509-cache.js";
import type { X509Cache } from "../cache/x509-cache.js";
import type { ScheduledRenewal } from "./mint.js";
import { mintPendingSvids } from "./mint.js";
import { createTestSigner } from "./mint-test-signer.js";
import type { Validity } from "./rotation.js";

const logger = pino({ level: "silent" });

function entries(count: number): Map<string, CachedEntry> {
  return new Map(
    Array.from({ length: count }, (_, index) => {
      const entry = testEntry(`e${String(index).padStart(4, "0")}`, [`unix:uid:${5000 + index}`]);
      return [entry.id, entry];
    }),
  );
}

function cacheWith(root: Buffer, synced: Map<string, CachedEntry>): X509Cache {
  const cache = createX509Cache({ trustDomain: "example.org", bundle: [root], logger, maxSvids: 10_000 });
  cache.update(synced, new Map([["example.org", [root]]]));
  return cache;
}

/** Plans every renewal at the middle of the window, so tests know when each SVID falls due. */
function halfLife(validity: Validity): number {
  return validity.notAfterMs - (validity.notAfterMs - validity.notBeforeMs) / 2;
}

async function leafSerials(cache: X509Cache, count: number): Promise<Map<string, string>> {
  const serials = new Map<string, string>();
  for (let index = 0; index < count; index++) {
    const subscription = cache.subscribe([{ type: "unix", value: `uid:${5000 + index}` }]);
    const update = await subscription.ready();
    subscription.close();
    const svid = update.svids[0];
    if (svid !== undefined) serials.set(svid.entryId, svid.certChain[0]?.toString("base64") ?? "");
  }
  return serials;
}

describe("mintPendingSvids", () => {
  it("mints missing SVIDs in batches and plans their renewal", async () => {
    const signer = await createTestSigner(60);
    const cache = cacheWith(signer.root, entries(7));
    const renewals = new Map<string, ScheduledRenewal>();

    const startedAt = Date.now();
    const outcome = await mintPendingSvids(signer.client, cache, logger, { batchSize: 3, renewals, planRenewal: halfLife });
    const finishedAt = Date.now();

    expect(outcome.minted).toBe(7);
    expect(outcome.failed).toBe(0);
    expect(signer.batchSizes).toEqual([3, 3, 1]);
    expect(cache.svidCount()).toBe(7);
    expect(renewals.size).toBe(7);
    // Counted from the request, a 60 s SVID is due about 30 s later, not 25 s (which the
    // 10 s backdated notBefore would give).
    expect(outcome.nextRenewalAtMs).toBeGreaterThan(startedAt + 28_000);
    expect(outcome.nextRenewalAtMs).toBeLessThanOrEqual(finishedAt + 30_000);
  });

  it("renews only SVIDs whose planned time has come", async () => {
    const signer = await createTestSigner(60);
    const cache = cacheWith(signer.root, entries(4));
    const renewals = new Map<string, ScheduledRenewal>();
    await mintPendingSvids(signer.client, cache, logger, { renewals, planRenewal: halfLife });
    const before = await leafSerials(cache, 4);
    const nowMs = Date.now();
    renewals.set("e0001", { ...(renewals.get("e0001") as ScheduledRenewal), renewAtMs: nowMs - 1 });
    renewals.set("e0003", { ...(renewals.get("e0003") as ScheduledRenewal), renewAtMs: nowMs - 1 });

    const outcome = await mintPendingSvids(signer.client, cache, logger, { renewals, planRenewal: halfLife });
    const after = await leafSerials(cache, 4);

    expect(outcome.minted).toBe(2);
    expect(signer.batchSizes).toEqual([4, 2]);
    expect(after.get("e0000")).toBe(before.get("e0000"));
    expect(after.get("e0001")).not.toBe(before.get("e0001"));
    expect(after.get("e0002")).toBe(before.get("e0002"));
    expect(after.get("e0003")).not.toBe(before.get("e0003"));
  });

  it("mints nothing before any renewal is due", async () => {
    const signer = await createTestSigner(60);
    const cache = cacheWith(signer.root, entries(3));
    const renewals = new Map<string, ScheduledRenewal>();
    const first = await mintPendingSvids(signer.client, cache, logger, { renewals, planRenewal: halfLife });

    const second = await mintPendingSvids(signer.client, cache, logger, { renewals, planRenewal: halfLife });

    expect(second.minted).toBe(0);
    expect(signer.batchSizes).toEqual([3]);
    expect(second.nextRenewalAtMs).toBe(first.nextRenewalAtMs);
  });

  it("applies the half-life rule to SVIDs without a plan", async () => {
    const longLived = await createTestSigner(60);
    const longCache = cacheWith(longLived.root, entries(2));
    await mintPendingSvids(longLived.client, longCache, logger, { renewals: new Map(), planRenewal: halfLife });
    // With the 10 s backdate, a 2 s SVID spans 12 s and is past its half-life when it arrives.
    const shortLived = await createTestSigner(2);
    const shortCache = cacheWith(shortLived.root, entries(2));
    await mintPendingSvids(shortLived.client, shortCache, logger, { renewals: new Map(), planRenewal: halfLife });

    const young = await mintPendingSvids(longLived.client, longCache, logger, { renewals: new Map(), planRenewal: halfLife });
    const old = await mintPendingSvids(shortLived.client, shortCache, logger, { renewals: new Map(), planRenewal: halfLife });

    expect(young.minted).toBe(0);
    expect(old.minted).toBe(2);
  });

  it("drops plans of SVIDs the cache no longer holds", async () => {
    const signer = await createTestSigner(60);
    const synced = entries(3);
    const cache = cacheWith(signer.root, synced);
    const renewals = new Map<string, ScheduledRenewal>();
    await mintPendingSvids(signer.client, cache, logger, { renewals, planRenewal: halfLife });
    synced.delete("e0001");
    cache.update(synced, new Map([["example.org", [signer.root]]]));

    await mintPendingSvids(signer.client, cache, logger, { renewals, planRenewal: halfLife });

    expect([...renewals.keys()].sort()).toEqual(["e0000", "e0002"]);
  });

  it("leaves refused entries due and counts them", async () => {
    const signer = await createTestSigner(60);
    const cache = cacheWith(signer.root, entries(3));
    signer.refused.add("e0002");

    const renewals = new Map<string, ScheduledRenewal>();
    const first = await mintPendingSvids(signer.client, cache, logger, { renewals, planRenewal: halfLife });
    signer.refused.clear();
    const second = await mintPendingSvids(signer.client, cache, logger, { renewals, planRenewal: halfLife });

    expect(first.minted).toBe(2);
    expect(first.failed).toBe(1);
    expect(second.minted).toBe(1);
    expect(second.failed).toBe(0);
    expect(cache.svidCount()).toBe(3);
  });

  it("keeps finished batches when a call fails", async () => {
    const signer = await createTestSigner(60);
    const cache = cacheWith(signer.root, entries(6));
    signer.failingCalls.add(1);
    const renewals = new Map<string, ScheduledRenewal>();

    const pass = mintPendingSvids(signer.client, cache, logger, { batchSize: 2, renewals, planRenewal: halfLife });

    await expect(pass).rejects.toThrow("call 1 failed");
    expect(cache.svidCount()).toBeGreaterThanOrEqual(2);
    expect(renewals.has("e0000")).toBe(true);
    expect(renewals.has("e0002")).toBe(false);
    expect(renewals.has("e0003")).toBe(false);
  });
});
