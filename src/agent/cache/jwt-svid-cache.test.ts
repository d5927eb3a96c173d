import { Writable } from "node:stream";

import { pino } from "pino";
import { describe, expect, it } from "vitest";

import type { ServerJwtSvid } from "../client/server-client.js";
import { createJwtSvidCache, jwtSvidCacheKey } from "./jwt-svid-cache.js";
import type { JwtSvidMinter } from "./jwt-svid-cache.js";

const logger = pino({ level: "silent" });
const ID = "spiffe://example.org/web";

/** Creates a clock in milliseconds that tests move by hand. */
function fakeClock(startMs: number) {
  let nowMs = startMs;
  return {
    now: () => nowMs,
    advance(ms: number) {
      nowMs += ms;
    },
  };
}

/** Creates a minter that issues numbered tokens living `lifetimeS` seconds from the fake clock's time. */
function countingMinter(clock: { now(): number }, lifetimeS = 100) {
  const calls: Array<{ entryId: string; audience: string[]; cacheHit: boolean }> = [];
  let failWith: Error | undefined;
  const mint: JwtSvidMinter = async (entryId, audience, cacheHit) => {
    calls.push({ entryId, audience, cacheHit });
    if (failWith !== undefined) {
      throw failWith;
    }
    const issuedAt = Math.floor(clock.now() / 1000);
    return { token: `token-${calls.length}`, spiffeId: ID, hint: "", issuedAt, expiresAt: issuedAt + lifetimeS };
  };
  return {
    mint,
    calls,
    fail(error: Error | undefined) {
      failWith = error;
    },
  };
}

function captureLogs(): { logger: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      callback();
    },
  });
  return { logger: pino({ level: "warn" }, sink), lines };
}

describe("jwtSvidCacheKey", () => {
  it("keeps audience boundaries apart", () => {
    expect(jwtSvidCacheKey(ID, ["ab", "cd"])).not.toBe(jwtSvidCacheKey(ID, ["a", "bcd"]));
    expect(jwtSvidCacheKey(ID, ["ab", "cd"])).not.toBe(jwtSvidCacheKey(ID, ["abcd"]));
    expect(jwtSvidCacheKey(`${ID}a`, ["b"])).not.toBe(jwtSvidCacheKey(ID, ["ab"]));
  });

  it("ignores audience order", () => {
    expect(jwtSvidCacheKey(ID, ["b", "a"])).toBe(jwtSvidCacheKey(ID, ["a", "b"]));
  });

  it("separates SPIFFE IDs", () => {
    expect(jwtSvidCacheKey(ID, ["a"])).not.toBe(jwtSvidCacheKey("spiffe://example.org/db", ["a"]));
  });
});

describe("JwtSvidCache", () => {
  it("reuses a token before its half-life", async () => {
    const clock = fakeClock(1_000_000);
    const minter = countingMinter(clock);
    const cache = createJwtSvidCache({ mint: minter.mint, logger, now: clock.now, random: () => 0.5 });

    const first = await cache.fetch("e1", ID, ["b", "a"]);
    clock.advance(40_000);
    const second = await cache.fetch("e1", ID, ["a", "b"]);

    expect(second.token).toBe(first.token);
    expect(minter.calls).toHaveLength(1);
    expect(minter.calls[0]).toEqual({ entryId: "e1", audience: ["b", "a"], cacheHit: false });
  });

  it("mints again past the half-life", async () => {
    const clock = fakeClock(1_000_000);
    const minter = countingMinter(clock);
    // random 0.5 puts the jittered half-life at exactly 50 % of the 100 s lifetime.
    const cache = createJwtSvidCache({ mint: minter.mint, logger, now: clock.now, random: () => 0.5 });

    const first = await cache.fetch("e1", ID, ["a"]);
    clock.advance(50_000);
    const second = await cache.fetch("e1", ID, ["a"]);

    expect(second.token).not.toBe(first.token);
    expect(minter.calls).toHaveLength(2);
    expect(minter.calls[1]?.cacheHit).toBe(true);
  });

  it("applies the jitter to the half-life", async () => {
    const clock = fakeClock(1_000_000);
    const minter = countingMinter(clock);
    // random 0 puts the threshold at 45 % left, so 50 % left is still fresh.
    const cache = createJwtSvidCache({ mint: minter.mint, logger, now: clock.now, random: () => 0 });

    await cache.fetch("e1", ID, ["a"]);
    clock.advance(50_000);
    await cache.fetch("e1", ID, ["a"]);
    expect(minter.calls).toHaveLength(1);

    clock.advance(5_000);
    await cache.fetch("e1", ID, ["a"]);
    expect(minter.calls).toHaveLength(2);
  });

  it("returns the stale token when minting fails", async () => {
    const clock = fakeClock(1_000_000);
    const minter = countingMinter(clock);
    const logs = captureLogs();
    const cache = createJwtSvidCache({ mint: minter.mint, logger: logs.logger, now: clock.now, random: () => 0.5 });

    const first = await cache.fetch("e1", ID, ["a"]);
    clock.advance(80_000);
    minter.fail(new Error("server unavailable"));
    const second = await cache.fetch("e1", ID, ["a"]);

    expect(second.token).toBe(first.token);
    expect(minter.calls).toHaveLength(2);
    expect(logs.lines).toHaveLength(1);
    expect(logs.lines[0]?.msg).toBe("Failed to renew JWT-SVID; returning the cached token");
    expect(logs.lines[0]?.spiffe_id).toBe(ID);
    expect(JSON.stringify(logs.lines[0])).not.toContain(first.token);
  });

  it("fails once the cached token expired", async () => {
    const clock = fakeClock(1_000_000);
    const minter = countingMinter(clock);
    const cache = createJwtSvidCache({ mint: minter.mint, logger, now: clock.now, random: () => 0.5 });

    await cache.fetch("e1", ID, ["a"]);
    clock.advance(100_000);
    minter.fail(new Error("server unavailable"));

    await expect(cache.fetch("e1", ID, ["a"])).rejects.toThrow(`failed to fetch JWT-SVID for ${ID}: server unavailable`);
    expect(minter.calls[1]?.cacheHit).toBe(false);
  });

  it("fails without a cached token", async () => {
    const clock = fakeClock(1_000_000);
    const minter = countingMinter(clock);
    minter.fail(new Error("permission denied"));
    const cache = createJwtSvidCache({ mint: minter.mint, logger, now: clock.now });

    await expect(cache.fetch("e1", ID, ["a"])).rejects.toThrow("permission denied");
    expect(cache.size()).toBe(0);
  });

  it("rejects a token for another SPIFFE ID", async () => {
    const clock = fakeClock(1_000_000);
    const minter = countingMinter(clock);
    const cache = createJwtSvidCache({ mint: minter.mint, logger, now: clock.now });

    await expect(cache.fetch("e1", "spiffe://example.org/db", ["a"])).rejects.toThrow(`the server returned a token for ${ID}`);
  });

  it("evicts the least recently used token", async () => {
    const clock = fakeClock(1_000_000);
    const minter = countingMinter(clock);
    const cache = createJwtSvidCache({ mint: minter.mint, logger, now: clock.now, random: () => 0.5, maxSize: 2 });

    await cache.fetch("e1", ID, ["a"]);
    await cache.fetch("e1", ID, ["b"]);
    // Using "a" again makes "b" the least recently used.
    await cache.fetch("e1", ID, ["a"]);
    await cache.fetch("e1", ID, ["c"]);
    expect(cache.size()).toBe(2);
    expect(minter.calls).toHaveLength(3);

    await cache.fetch("e1", ID, ["a"]);
    expect(minter.calls).toHaveLength(3);
    await cache.fetch("e1", ID, ["b"]);
    expect(minter.calls).toHaveLength(4);
    expect(cache.size()).toBe(2);
  });

  it("shares one call between concurrent requests", async () => {
    const clock = fakeClock(1_000_000);
    const pending: Array<(svid: ServerJwtSvid) => void> = [];
    const mint: JwtSvidMinter = () =>
      new Promise((resolve) => {
        pending.push(resolve);
      });
    const cache = createJwtSvidCache({ mint, logger, now: clock.now });

    const first = cache.fetch("e1", ID, ["a", "b"]);
    const second = cache.fetch("e1", ID, ["b", "a"]);
    const other = cache.fetch("e1", ID, ["c"]);
    expect(pending).toHaveLength(2);

    pending[0]?.({ token: "shared", spiffeId: ID, hint: "", issuedAt: 1000, expiresAt: 1100 });
    expect((await first).token).toBe("shared");
    expect((await second).token).toBe("shared");
    pending[1]?.({ token: "other", spiffeId: ID, hint: "", issuedAt: 1000, expiresAt: 1100 });
    expect((await other).token).toBe("other");
  });

  it("drops tokens signed with tainted keys", async () => {
    const clock = fakeClock(1_000_000);
    const tokenWithKid = (kid: string): string => `${Buffer.from(JSON.stringify({ alg: "ES256", kid })).toString("base64url")}.e30.sig`;
    let next = "old-key";
    const mint: JwtSvidMinter = async () => ({ token: tokenWithKid(next), spiffeId: ID, hint: "", issuedAt: 1000, expiresAt: 1300 });
    const cache = createJwtSvidCache({ mint, logger, now: clock.now, random: () => 0.5 });

    await cache.fetch("e1", ID, ["a"]);
    next = "other-key";
    await cache.fetch("e1", ID, ["b"]);
    expect(cache.removeSignedBy([])).toBe(0);
    expect(cache.removeSignedBy(["old-key"])).toBe(1);
    expect(cache.size()).toBe(1);

    next = "new-key";
    const renewed = await cache.fetch("e1", ID, ["a"]);
    expect(renewed.token).toBe(tokenWithKid("new-key"));
  });

  it("skips the server while it is unreachable", async () => {
    const clock = fakeClock(1_000_000);
    const minter = countingMinter(clock);
    let unreachable = false;
    const cache = createJwtSvidCache({ mint: minter.mint, logger, now: clock.now, random: () => 0.5, serverUnreachable: () => unreachable });

    const first = await cache.fetch("e1", ID, ["a"]);
    clock.advance(80_000);
    unreachable = true;
    const second = await cache.fetch("e1", ID, ["a"]);

    expect(second.token).toBe(first.token);
    expect(minter.calls).toHaveLength(1);
  });

  it("calls the server for an expired token even when unreachable", async () => {
    const clock = fakeClock(1_000_000);
    const minter = countingMinter(clock);
    const cache = createJwtSvidCache({ mint: minter.mint, logger, now: clock.now, random: () => 0.5, serverUnreachable: () => true });

    await cache.fetch("e1", ID, ["a"]);
    clock.advance(100_000);
    minter.fail(new Error("server unavailable"));

    await expect(cache.fetch("e1", ID, ["a"])).rejects.toThrow("server unavailable");
    expect(minter.calls).toHaveLength(2);
  });
});

describe("JwtSvidCache snapshot and restore", () => {
  it("restores tokens under the same key", async () => {
    const clock = fakeClock(1_000_000);
    const minter = countingMinter(clock);
    const source = createJwtSvidCache({ mint: minter.mint, logger, now: clock.now, random: () => 0.5 });
    const first = await source.fetch("e1", ID, ["b", "a"]);

    const target = createJwtSvidCache({ mint: minter.mint, logger, now: clock.now, random: () => 0.5 });
    const restored = target.restore(source.snapshot());
    const fetched = await target.fetch("e1", ID, ["a", "b"]);

    expect(restored).toBe(1);
    expect(fetched.token).toBe(first.token);
    expect(minter.calls).toHaveLength(1);
    expect(source.snapshot()).toEqual([{ spiffeId: ID, audience: ["b", "a"], svid: first }]);
  });

  it("skips expired tokens on restore", async () => {
    const clock = fakeClock(1_000_000);
    const minter = countingMinter(clock);
    const source = createJwtSvidCache({ mint: minter.mint, logger, now: clock.now });
    await source.fetch("e1", ID, ["a"]);
    clock.advance(100_000);

    const target = createJwtSvidCache({ mint: minter.mint, logger, now: clock.now });

    expect(target.restore(source.snapshot())).toBe(0);
    expect(target.size()).toBe(0);
  });

  it("reports stored and removed tokens", async () => {
    const clock = fakeClock(1_000_000);
    const minter = countingMinter(clock);
    const cache = createJwtSvidCache({ mint: minter.mint, logger, now: clock.now, random: () => 0.5 });
    let changes = 0;
    cache.onChange(() => changes++);

    await cache.fetch("e1", ID, ["a"]);
    await cache.fetch("e1", ID, ["a"]);

    expect(changes).toBe(1);
  });
});
