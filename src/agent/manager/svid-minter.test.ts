import { X509Certificate } from "node:crypto";
import { Writable } from "node:stream";

import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";

import type { CachedEntry } from "../cache/cache-types.js";
import { testEntry } from "../cache/test-entry.js";
import { createX509Cache } from "../cache/x509-cache.js";
import type { X509Cache } from "../cache/x509-cache.js";
import { createTestSigner } from "./mint-test-signer.js";
import type { SvidMinter } from "./svid-minter.js";
import { createSvidMinter } from "./svid-minter.js";

const silent = pino({ level: "silent" });

function cacheFor(root: Buffer, count: number): X509Cache {
  const entries = new Map<string, CachedEntry>();
  for (let index = 0; index < count; index++) {
    const entry = testEntry(`e${String(index).padStart(4, "0")}`, ["unix:uid:1000"]);
    entries.set(entry.id, entry);
  }
  const cache = createX509Cache({ trustDomain: "example.org", bundle: [root], logger: silent, maxSvids: 10_000 });
  cache.update(entries, new Map([["example.org", [root]]]));
  return cache;
}

/** Records every update a workload with uid 1000 receives, and whether any held an expired SVID. */
async function watchWorkload(cache: X509Cache) {
  const subscription = cache.subscribe([{ type: "unix", value: "uid:1000" }]);
  const seen = { updates: 0, expiredHeld: 0, leaves: new Map<string, Set<string>>() };
  const record = (update: Awaited<ReturnType<typeof subscription.ready>>): void => {
    seen.updates++;
    for (const svid of update.svids) {
      const leaf = new X509Certificate(svid.certChain[0] as Buffer);
      if (Date.parse(leaf.validTo) <= Date.now()) seen.expiredHeld++;
      const leaves = seen.leaves.get(svid.entryId) ?? new Set<string>();
      leaves.add(leaf.serialNumber);
      seen.leaves.set(svid.entryId, leaves);
    }
  };
  record(await subscription.ready());
  subscription.onUpdate(record);
  return { seen, close: () => subscription.close() };
}

function sleep(ms: number): Promise<void> {
  return new Promise((wake) => setTimeout(wake, ms));
}

describe("createSvidMinter", () => {
  const minters: SvidMinter[] = [];
  afterEach(async () => {
    for (const minter of minters.splice(0)) await minter.stop();
  });

  function start(options: Parameters<typeof createSvidMinter>[0]): SvidMinter {
    const minter = createSvidMinter(options);
    minters.push(minter);
    return minter;
  }

  it("renews short-lived SVIDs without further requests", async () => {
    const signer = await createTestSigner(3);
    const cache = cacheFor(signer.root, 5);
    const minter = start({ client: signer.client, cache, logger: silent, onRejected: () => {} });
    await minter.request();
    const workload = await watchWorkload(cache);

    await sleep(4_500);
    workload.close();

    const renewalsPerEntry = [...workload.seen.leaves.values()].map((leaves) => leaves.size - 1);
    expect(renewalsPerEntry).toHaveLength(5);
    expect(Math.min(...renewalsPerEntry)).toBeGreaterThanOrEqual(2);
    expect(workload.seen.expiredHeld).toBe(0);
  });

  it("spreads renewals of SVIDs minted together", async () => {
    const signer = await createTestSigner(10);
    const cache = cacheFor(signer.root, 200);
    const minter = start({ client: signer.client, cache, logger: silent, onRejected: () => {} });
    await minter.request();

    const deadline = Date.now() + 15_000;
    const renewed = (): number => signer.batchSizes.slice(1).reduce((sum, size) => sum + size, 0);
    while (renewed() < 200 && Date.now() < deadline) await sleep(100);

    const renewalBatches = signer.batchSizes.slice(1);
    expect(renewed()).toBeGreaterThanOrEqual(200);
    // Renewal times are drawn over a 1 s window and passes are at least 500 ms apart.
    expect(renewalBatches.length).toBeGreaterThanOrEqual(2);
    expect(Math.max(...renewalBatches)).toBeLessThan(200);
  });

  it("retries refused entries with backoff", async () => {
    const signer = await createTestSigner(60);
    const cache = cacheFor(signer.root, 2);
    signer.refused.add("e0001");
    const minter = start({ client: signer.client, cache, logger: silent, onRejected: () => {} });

    await minter.request();
    signer.refused.clear();
    const deadline = Date.now() + 5_000;
    while (cache.svidCount() < 2 && Date.now() < deadline) await sleep(50);

    expect(cache.svidCount()).toBe(2);
    expect(signer.batchSizes).toEqual([2, 1]);
  });

  it("warns once when the availability target cannot be met", async () => {
    const lines: Array<{ msg: string; availability_target?: string }> = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString("utf8")) as { msg: string });
        done();
      },
    });
    const signer = await createTestSigner(60);
    const cache = cacheFor(signer.root, 3);
    const minter = start({ client: signer.client, cache, logger: pino({ level: "warn" }, sink), onRejected: () => {}, availabilityTargetMs: 24 * 3_600_000 });

    await minter.request();

    const warnings = lines.filter((line) => line.msg.includes("availability_target"));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.availability_target).toBe("24h0m0s");
  });

  it("stops scheduling passes after stop", async () => {
    const signer = await createTestSigner(2);
    const cache = cacheFor(signer.root, 1);
    const minter = start({ client: signer.client, cache, logger: silent, onRejected: () => {} });
    await minter.request();

    await minter.stop();
    const callsAtStop = signer.batchSizes.length;
    await sleep(2_500);

    expect(signer.batchSizes.length).toBe(callsAtStop);
  });
});
