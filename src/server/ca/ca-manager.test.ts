import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createLogger } from "../../common/log.js";
import { createDiskKeyManager } from "../../../plugins/keymanager/disk.js";
import { createMemoryKeyManager } from "../../../plugins/keymanager/memory.js";
import type { KeyManager } from "../../../plugins/keymanager/key-manager.js";
import { openDatastore } from "../datastore/datastore.js";
import type { Datastore } from "../datastore/datastore.js";
import { createCaManager } from "./ca-manager.js";
import { DEFAULT_CA_SUBJECT, type X509Authority } from "./x509-ca.js";

const logger = createLogger({ name: "test", level: "silent" });

describe("createCaManager", () => {
  const folders: string[] = [];
  const stores: Datastore[] = [];
  afterEach(() => {
    for (const store of stores.splice(0)) store.close();
    for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
  });

  function makeFolder(): string {
    const folder = mkdtempSync(join(tmpdir(), "tessera-ca-manager-"));
    folders.push(folder);
    return folder;
  }

  function open(folder: string): Datastore {
    const store = openDatastore(join(folder, "datastore.sqlite3"));
    stores.push(store);
    return store;
  }

  async function start(folder: string, keyManager: KeyManager, now?: () => Date) {
    const datastore = open(folder);
    const manager = await createCaManager({
      trustDomain: "example.org",
      caTtlSeconds: 600,
      caSubject: DEFAULT_CA_SUBJECT,
      datastore,
      keyManager,
      logger,
      ...(now === undefined ? {} : { now }),
    });
    return { datastore, manager };
  }

  it("reuses the CA across restarts with the disk KeyManager", async () => {
    const folder = makeFolder();
    const keysFolder = join(folder, "keys");
    const first = await start(folder, createDiskKeyManager(keysFolder));
    const firstSerial = first.manager.active().certificate.serialNumber;
    first.datastore.close();
    stores.length = 0;

    const second = await start(folder, createDiskKeyManager(keysFolder));

    expect(second.manager.active().certificate.serialNumber).toBe(firstSerial);
    expect(second.datastore.bundles.get("example.org")?.x509Authorities).toHaveLength(1);
    expect(statSync(join(keysFolder, "keys.json")).mode & 0o777).toBe(0o600);
  });

  it("makes a new CA on restart with the memory KeyManager", async () => {
    const folder = makeFolder();
    const first = await start(folder, createMemoryKeyManager());
    const firstSerial = first.manager.active().certificate.serialNumber;
    first.datastore.close();
    stores.length = 0;

    const second = await start(folder, createMemoryKeyManager());

    expect(second.manager.active().certificate.serialNumber).not.toBe(firstSerial);
    // The old root stays published until it expires, so SVIDs it signed still verify.
    expect(second.datastore.bundles.get("example.org")?.x509Authorities).toHaveLength(2);
  });

  it("prepares, activates and prunes authorities over time", async () => {
    const folder = makeFolder();
    let clock = Date.now();
    const { datastore, manager } = await start(folder, createMemoryKeyManager(), () => new Date(clock));
    const activated: X509Authority[] = [];
    manager.onActivate((authority) => activated.push(authority));
    const firstSerial = manager.active().certificate.serialNumber;
    const firstRoot = Buffer.from(manager.active().certificate.rawData);

    clock += 310_000;
    await manager.rotate();
    const rootsAfterPrepare = datastore.bundles.get("example.org")?.x509Authorities.length;
    const serialAfterPrepare = manager.active().certificate.serialNumber;

    clock += 200_000;
    await manager.rotate();
    const serialAfterActivate = manager.active().certificate.serialNumber;

    clock += 100_000;
    await manager.rotate();
    const rootsAfterExpiry = datastore.bundles.get("example.org")?.x509Authorities ?? [];

    expect(rootsAfterPrepare).toBe(2);
    expect(serialAfterPrepare).toBe(firstSerial);
    expect(serialAfterActivate).not.toBe(firstSerial);
    expect(activated.map((authority) => authority.certificate.serialNumber)).toEqual([serialAfterActivate]);
    expect(rootsAfterExpiry.some((der) => der.equals(firstRoot))).toBe(false);
  });

  it("signs SVIDs with the active authority", async () => {
    const { manager } = await start(makeFolder(), createMemoryKeyManager());
    const issuer = manager.active();

    const [leaf] = await manager.signX509Svid({
      spiffeId: "spiffe://example.org/w",
      publicKey: issuer.keys.publicKey,
      ttlSeconds: 60,
    });

    expect(await leaf?.verify({ publicKey: issuer.certificate.publicKey, signatureOnly: true })).toBe(true);
  });

  it("activates the prepared CA when the active one expired during downtime", async () => {
    const folder = makeFolder();
    const keysFolder = join(folder, "keys");
    let clock = Date.now();
    const first = await start(folder, createDiskKeyManager(keysFolder), () => new Date(clock));
    clock += 310_000;
    await first.manager.rotate();
    const preparedSlot = first.datastore.caJournal.list().find((slot) => slot.status === "prepared");
    first.datastore.close();
    stores.length = 0;

    clock += 300_000;
    const second = await start(folder, createDiskKeyManager(keysFolder), () => new Date(clock));

    expect(preparedSlot).toBeDefined();
    expect(Buffer.from(second.manager.active().certificate.rawData).equals(preparedSlot?.certificate as Buffer)).toBe(true);
  });

  it("delays activating a CA prepared late", async () => {
    const folder = makeFolder();
    let clock = Date.now();
    const { datastore, manager } = await start(folder, createMemoryKeyManager(), () => new Date(clock));
    const firstSerial = manager.active().certificate.serialNumber;

    // Past five sixths of the 600 s lifetime with nothing prepared, as after downtime.
    clock += 550_000;
    await manager.rotate();
    const preparedAfterDowntime = datastore.caJournal.list().some((slot) => slot.status === "prepared");
    const serialRightAfterPreparing = manager.active().certificate.serialNumber;

    clock += 40_000;
    await manager.rotate();
    const serialBeforeExpiry = manager.active().certificate.serialNumber;

    clock += 15_000;
    await manager.rotate();

    expect(preparedAfterDowntime).toBe(true);
    expect(serialRightAfterPreparing).toBe(firstSerial);
    expect(serialBeforeExpiry).toBe(firstSerial);
    expect(manager.active().certificate.serialNumber).not.toBe(firstSerial);
  });

  it("rotates short-lived CAs on its own timer", async () => {
    const datastore = open(makeFolder());
    const manager = await createCaManager({
      trustDomain: "example.org",
      caTtlSeconds: 4,
      caSubject: DEFAULT_CA_SUBJECT,
      datastore,
      keyManager: createMemoryKeyManager(),
      logger,
    });
    const firstPublished = new Map<string, number>();
    const activations: { root: string; atMs: number; bundle: string[] }[] = [];
    const bundleRoots = (): string[] => (datastore.bundles.get("example.org")?.x509Authorities ?? []).map((der) => der.toString("base64"));
    manager.onActivate((authority) => {
      activations.push({ root: Buffer.from(authority.certificate.rawData).toString("base64"), atMs: Date.now(), bundle: bundleRoots() });
    });
    const firstRoot = Buffer.from(manager.active().certificate.rawData).toString("base64");

    manager.start();
    try {
      const deadline = Date.now() + 15_000;
      while (activations.length < 2 && Date.now() < deadline) {
        for (const root of bundleRoots()) if (!firstPublished.has(root)) firstPublished.set(root, Date.now());
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    } finally {
      manager.stop();
    }

    expect(activations).toHaveLength(2);
    for (const activation of activations) {
      // A third of a lifetime of 3 to 5 s: the certificate times are cut to whole seconds.
      expect(activation.atMs - (firstPublished.get(activation.root) ?? activation.atMs)).toBeGreaterThan(900);
    }
    expect(activations[0]?.bundle).toContain(firstRoot);
  });
});
