import { createPublicKey, verify } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createLogger } from "../../common/log.js";
import { createDiskKeyManager } from "../../../plugins/keymanager/disk.js";
import { createMemoryKeyManager } from "../../../plugins/keymanager/memory.js";
import type { KeyManager } from "../../../plugins/keymanager/key-manager.js";
import { openDatastore } from "../datastore/datastore.js";
import type { Datastore } from "../datastore/datastore.js";
import { createJwtKeyManager } from "./jwt-key-manager.js";

const logger = createLogger({ name: "test", level: "silent" });
const KEY_TTL_SECONDS = 600;

describe("createJwtKeyManager", () => {
  const folders: string[] = [];
  const stores: Datastore[] = [];
  afterEach(() => {
    for (const store of stores.splice(0)) store.close();
    for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
  });

  function makeFolder(): string {
    const folder = mkdtempSync(join(tmpdir(), "tessera-jwt-key-manager-"));
    folders.push(folder);
    return folder;
  }

  async function start(folder: string, keyManager: KeyManager, now?: () => Date) {
    const datastore = openDatastore(join(folder, "datastore.sqlite3"));
    stores.push(datastore);
    const manager = await createJwtKeyManager({
      trustDomain: "example.org",
      keyTtlSeconds: KEY_TTL_SECONDS,
      datastore,
      keyManager,
      logger,
      ...(now === undefined ? {} : { now }),
    });
    return { datastore, manager };
  }

  function publishedKeyIds(datastore: Datastore): string[] {
    return (datastore.bundles.get("example.org")?.jwtAuthorities ?? []).map((authority) => authority.keyId);
  }

  it("publishes the active key in the bundle", async () => {
    const { datastore, manager } = await start(makeFolder(), createMemoryKeyManager());
    const authority = datastore.bundles.get("example.org")?.jwtAuthorities[0];

    expect(publishedKeyIds(datastore)).toEqual([manager.active().keyId]);
    expect(authority?.publicKey.equals(manager.active().publicKey)).toBe(true);
    expect(authority?.expiresAt).toBe(Math.floor(manager.active().notAfter.getTime() / 1000));
  });

  it("reuses the key across restarts with the disk KeyManager", async () => {
    const folder = makeFolder();
    const keysFolder = join(folder, "keys");
    const first = await start(folder, createDiskKeyManager(keysFolder));
    const firstKeyId = first.manager.active().keyId;
    first.datastore.close();
    stores.length = 0;

    const second = await start(folder, createDiskKeyManager(keysFolder));

    expect(second.manager.active().keyId).toBe(firstKeyId);
    expect(publishedKeyIds(second.datastore)).toEqual([firstKeyId]);
  });

  it("makes a new key after a restart with the memory KeyManager", async () => {
    const folder = makeFolder();
    const first = await start(folder, createMemoryKeyManager());
    const firstKeyId = first.manager.active().keyId;
    first.datastore.close();
    stores.length = 0;

    const second = await start(folder, createMemoryKeyManager());

    expect(second.manager.active().keyId).not.toBe(firstKeyId);
    // The old key stays published until it expires, so its tokens still verify.
    expect(publishedKeyIds(second.datastore)).toEqual([firstKeyId, second.manager.active().keyId]);
  });

  it("publishes the next key before it signs and drops expired keys", async () => {
    let clock = new Date("2030-01-01T00:00:00Z");
    const { datastore, manager } = await start(makeFolder(), createMemoryKeyManager(), () => clock);
    const first = manager.active().keyId;
    const at = (fraction: number) => new Date(Date.parse("2030-01-01T00:00:00Z") + fraction * KEY_TTL_SECONDS * 1000);

    clock = at(0.4);
    await manager.rotate();
    const beforeHalf = publishedKeyIds(datastore);

    clock = at(0.5);
    await manager.rotate();
    const next = manager.prepared()?.keyId;
    const afterPrepare = publishedKeyIds(datastore);
    const signerAfterPrepare = manager.active().keyId;

    clock = at(0.9);
    await manager.rotate();
    const signerAfterActivate = manager.active().keyId;
    const afterActivate = publishedKeyIds(datastore);

    clock = at(1.01);
    await manager.rotate();

    expect(beforeHalf).toEqual([first]);
    expect(next).toBeDefined();
    expect(afterPrepare).toEqual([first, next]);
    expect(signerAfterPrepare).toBe(first);
    expect(signerAfterActivate).toBe(next);
    expect(afterActivate).toEqual([first, next]);
    // By then the second key is past half its life too, so a third one is published.
    expect(publishedKeyIds(datastore)).toEqual([next, manager.prepared()?.keyId]);
  });

  it("caps token lifetimes at the key's expiry", async () => {
    const clock = new Date("2030-01-01T00:00:00Z");
    const { manager } = await start(makeFolder(), createMemoryKeyManager(), () => clock);
    const keyExpiry = Math.floor(manager.active().notAfter.getTime() / 1000);

    const signed = manager.signJwtSvid({ spiffeId: "spiffe://example.org/web", audience: ["a"], ttlSeconds: 10 * KEY_TTL_SECONDS });
    const [header, claims, signature] = signed.token.split(".");
    const valid = verify(
      "sha256",
      Buffer.from(`${header}.${claims}`),
      { key: createPublicKey({ key: manager.active().publicKey, format: "der", type: "spki" }), dsaEncoding: "ieee-p1363" },
      Buffer.from(signature ?? "", "base64url"),
    );

    expect(signed.expiresAt).toBe(keyExpiry);
    expect(valid).toBe(true);
  });
});
