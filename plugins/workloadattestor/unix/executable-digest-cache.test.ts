import type { BigIntStats } from "node:fs";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createExecutableDigestCache } from "./executable-digest-cache.js";

describe("executable digest cache", () => {
  let folder: string;

  beforeEach(() => {
    folder = mkdtempSync(join(tmpdir(), "tessera-digest-cache-"));
  });

  afterEach(() => {
    rmSync(folder, { recursive: true, force: true });
  });

  function fileIdentity(name: string): BigIntStats {
    const path = join(folder, name);
    writeFileSync(path, name);
    return statSync(path, { bigint: true });
  }

  it("does not keep a failed digest", async () => {
    const cache = createExecutableDigestCache();
    const identity = fileIdentity("a");

    await expect(cache.digest(identity, () => Promise.reject(new Error("read failed")))).rejects.toThrow("read failed");
    const retried = await cache.digest(identity, () => Promise.resolve("abc"));

    expect(retried).toBe("abc");
    expect(cache.counters).toEqual({ hits: 0, misses: 2 });
  });

  it("drops the least recently used entry", async () => {
    const cache = createExecutableDigestCache(2);
    const [a, b, c] = [fileIdentity("a"), fileIdentity("b"), fileIdentity("c")];

    await cache.digest(a, () => Promise.resolve("a"));
    await cache.digest(b, () => Promise.resolve("b"));
    await cache.digest(a, () => Promise.resolve("unused"));
    await cache.digest(c, () => Promise.resolve("c"));
    const aAgain = await cache.digest(a, () => Promise.resolve("unused"));
    const bAgain = await cache.digest(b, () => Promise.resolve("b2"));

    expect(bAgain).toBe("b2");
    expect(aAgain).toBe("a");
    expect(cache.counters).toEqual({ hits: 2, misses: 4 });
  });
});
