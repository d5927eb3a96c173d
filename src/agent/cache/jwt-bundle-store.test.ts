import { pino } from "pino";
import { describe, expect, it } from "vitest";

import type { JwtAuthority } from "../../workload-api/jwt-source.js";
import { createJwtBundleStore, sameJwtBundles } from "./jwt-bundle-store.js";

const logger = pino({ level: "silent" });

function key(keyId: string, der = "der", expiresAt = 0): JwtAuthority {
  return { keyId, publicKeyDer: Buffer.from(der), expiresAt };
}

describe("sameJwtBundles", () => {
  it("compares every key field", () => {
    const base = new Map([["example.org", [key("k1")]]]);
    expect(sameJwtBundles(base, new Map([["example.org", [key("k1")]]]))).toBe(true);
    expect(sameJwtBundles(base, new Map([["example.org", [key("k2")]]]))).toBe(false);
    expect(sameJwtBundles(base, new Map([["example.org", [key("k1", "other")]]]))).toBe(false);
    expect(sameJwtBundles(base, new Map([["example.org", [key("k1", "der", 5)]]]))).toBe(false);
    expect(sameJwtBundles(base, new Map([["other.org", [key("k1")]]]))).toBe(false);
    expect(sameJwtBundles(base, new Map())).toBe(false);
  });
});

describe("JwtBundleStore", () => {
  it("notifies listeners only on change", () => {
    const store = createJwtBundleStore(logger);
    let notified = 0;
    const remove = store.onUpdate(() => notified++);

    expect(store.update(new Map([["example.org", [key("k1")]]]))).toBe(true);
    expect(store.update(new Map([["example.org", [key("k1")]]]))).toBe(false);
    expect(notified).toBe(1);

    expect(store.update(new Map([["example.org", [key("k1")]], ["other.org", []]]))).toBe(true);
    expect(notified).toBe(2);
    expect([...store.bundles().keys()]).toEqual(["example.org", "other.org"]);

    remove();
    store.update(new Map());
    expect(notified).toBe(2);
    expect(store.bundles().size).toBe(0);
  });

  it("keeps handed-out snapshots unchanged", () => {
    const store = createJwtBundleStore(logger);
    const input = new Map([["example.org", [key("k1")]]]);
    store.update(input);
    const snapshot = store.bundles();

    input.set("other.org", [key("k2")]);
    store.update(new Map());
    expect(snapshot.size).toBe(1);
  });
});
