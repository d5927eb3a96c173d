import { createPrivateKey, createPublicKey } from "node:crypto";
import type { Logger } from "../../common/log.js";
import type { KeyManager } from "../../../plugins/keymanager/key-manager.js";
import type { Datastore } from "../datastore/datastore.js";
import type { JwtAuthority, JwtKeySlot } from "../datastore/types.js";
import { newJwtKeyId, signJwtSvid } from "./jwt-svid.js";
import type { JwtSigningKey, JwtSvidParams, SignedJwtSvid } from "./jwt-svid.js";
import type { AuthorityLifetime } from "./rotation-schedule.js";
import { activationTimeMs, DEFAULT_ROTATION_CHECK_INTERVAL_MS, prepareTimeMs, startRotationTimer } from "./rotation-schedule.js";

/** Settings of {@link createJwtKeyManager}. */
export interface JwtKeyManagerOptions {
  trustDomain: string;
  /** Lifetime of each signing key in seconds; the server passes its `ca_ttl`, as SPIRE does. */
  keyTtlSeconds: number;
  datastore: Datastore;
  keyManager: KeyManager;
  logger: Logger;
  /** Clock, replaceable in tests. */
  now?: () => Date;
}

/** The JWT signing keys: signs JWT-SVIDs with the active key and rotates keys over time. */
export interface JwtKeyManager {
  /** The key that signs now. */
  active(): JwtSigningKey;
  /** The key published ahead of use, if one has been prepared. */
  prepared(): JwtSigningKey | undefined;
  /** Signs a JWT-SVID with the active key. */
  signJwtSvid(params: JwtSvidParams): SignedJwtSvid;
  /**
   * Prepares the next key when half of the active key's lifetime is left and publishes its
   * public key in the bundle, activates it when a sixth is left (rotation-schedule.ts has
   * the caps and exceptions), and drops expired keys from the bundle. Called by the
   * rotation timer; exposed for tests.
   */
  rotate(): Promise<void>;
  /**
   * Starts the rotation timer. It fires at the next preparation, activation or key expiry,
   * and at least every `intervalMs` (10 s by default).
   */
  start(intervalMs?: number): void;
  stop(): void;
}

interface LoadedKey {
  slot: JwtKeySlot["slot"];
  key: JwtSigningKey;
  issuedAt: Date;
}

/**
 * Loads the JWT signing keys, reusing the journaled active key when its private key is
 * still in the KeyManager and it has not expired, or creates a new one. Either way the
 * active (and any prepared) public key ends up in the trust domain's bundle.
 *
 * A key stays in the bundle until its notAfter, and every token it signs expires by then,
 * so a rotated-out key keeps verifying the tokens it signed. With KeyManager "memory" a
 * restart makes a new key, and the tokens signed before it fail verification once agents
 * drop the old bundle; the old public key itself stays published until it expires.
 */
export async function createJwtKeyManager(options: JwtKeyManagerOptions): Promise<JwtKeyManager> {
  const now = options.now ?? (() => new Date());
  const log = options.logger.child({ subsystem: "jwt_key_manager" });
  const journal = options.datastore.jwtKeyJournal;
  let stopTimer: (() => void) | undefined;

  const records = journal.list();
  let active = await loadSlot(records.find((record) => record.status === "active"));
  let prepared = await loadSlot(records.find((record) => record.status === "prepared"));

  if (active === undefined && prepared !== undefined) {
    // The prepared key is already published, so activating it spares peers a bundle refresh.
    active = prepared;
    prepared = undefined;
    journal.put({ ...toRecord(active), status: "active" });
    log.info(describeKey(active), "JWT key activated");
  } else if (active === undefined) {
    active = await createKey("A", "active");
    prepared = undefined;
    log.info(describeKey(active), "JWT key activated");
  } else {
    log.info(describeKey(active), "JWT key loaded from the journal");
  }
  publishKeys();

  async function loadSlot(record: JwtKeySlot | undefined): Promise<LoadedKey | undefined> {
    if (record === undefined) return undefined;

    if (record.notAfter * 1000 <= now().getTime()) {
      log.info({ slot: record.slot, key_id: record.keyId }, "Journaled JWT key has expired");
      return undefined;
    }

    const stored = await options.keyManager.getKey(slotKeyId(record.slot));
    if (stored === undefined) {
      log.warn({ slot: record.slot, key_id: record.keyId }, "JWT key is missing from the KeyManager; a new key will be made");
      return undefined;
    }

    const privateKey = createPrivateKey({ key: stored.privateKeyPkcs8, format: "der", type: "pkcs8" });
    const publicKey = spkiDer(privateKey);
    if (!publicKey.equals(record.publicKey)) {
      log.warn({ slot: record.slot, key_id: record.keyId }, "JWT key in the KeyManager does not match the journal");
      return undefined;
    }
    return {
      slot: record.slot,
      key: { keyId: record.keyId, privateKey, publicKey, notAfter: new Date(record.notAfter * 1000) },
      issuedAt: new Date(record.issuedAt * 1000),
    };
  }

  async function createKey(slot: JwtKeySlot["slot"], status: "active" | "prepared"): Promise<LoadedKey> {
    const stored = await options.keyManager.generateKey(slotKeyId(slot));
    const privateKey = createPrivateKey({ key: stored.privateKeyPkcs8, format: "der", type: "pkcs8" });
    const issuedAt = now();
    const loaded: LoadedKey = {
      slot,
      key: {
        keyId: newJwtKeyId(),
        privateKey,
        publicKey: spkiDer(privateKey),
        notAfter: new Date(issuedAt.getTime() + options.keyTtlSeconds * 1000),
      },
      issuedAt,
    };

    options.datastore.transaction(() => {
      journal.put({ ...toRecord(loaded), status });
      if (status === "active") {
        const other = journal.list().find((record) => record.slot === otherSlot(slot));
        if (other !== undefined) journal.put({ ...other, status: "old" });
      }
    });
    return loaded;
  }

  /** Adds the active and prepared public keys to the bundle and removes expired ones. */
  function publishKeys(): void {
    const bundles = options.datastore.bundles;
    options.datastore.transaction(() => {
      const current = bundles.get(options.trustDomain);
      const keys = new Map<string, JwtAuthority>();
      for (const authority of current?.jwtAuthorities ?? []) keys.set(authority.keyId, authority);
      for (const loaded of [active, prepared]) {
        if (loaded === undefined) continue;
        keys.set(loaded.key.keyId, {
          publicKey: loaded.key.publicKey,
          keyId: loaded.key.keyId,
          expiresAt: Math.floor(loaded.key.notAfter.getTime() / 1000),
          tainted: false,
        });
      }

      const nowSeconds = Math.floor(now().getTime() / 1000);
      const unexpired = [...keys.values()].filter((authority) => authority.expiresAt === 0 || authority.expiresAt > nowSeconds);
      const currentIds = (current?.jwtAuthorities ?? []).map((authority) => authority.keyId);
      const unchanged =
        current !== undefined &&
        currentIds.length === unexpired.length &&
        unexpired.every((authority, index) => authority.keyId === currentIds[index]);
      if (unchanged) return;

      bundles.set({
        trustDomain: options.trustDomain,
        x509Authorities: current?.x509Authorities ?? [],
        jwtAuthorities: unexpired,
        refreshHint: current?.refreshHint ?? 0,
      });
    });
  }

  async function rotate(): Promise<void> {
    const current = active as LoadedKey;
    const lifetime = lifetimeOf(current);
    const nowMs = now().getTime();

    if (prepared === undefined && nowMs >= prepareTimeMs(lifetime)) {
      prepared = await createKey(otherSlot(current.slot), "prepared");
      log.info(describeKey(prepared), "JWT key prepared");
    }

    // A prepared key is published when it is made, so its issuedAt is its publication time.
    if (prepared !== undefined && nowMs >= activationTimeMs(lifetime, prepared.issuedAt.getTime())) {
      const next = prepared;
      options.datastore.transaction(() => {
        journal.put({ ...toRecord(next), status: "active" });
        journal.put({ ...toRecord(current), status: "old" });
      });
      active = next;
      prepared = undefined;
      log.info(describeKey(next), "JWT key activated");
    }

    publishKeys();
  }

  /** Times at which rotate() has something to do: the next step for the active key, and key expiries. */
  function upcomingEvents(): number[] {
    const lifetime = lifetimeOf(active as LoadedKey);
    const events = [prepared === undefined ? prepareTimeMs(lifetime) : activationTimeMs(lifetime, prepared.issuedAt.getTime())];
    for (const authority of options.datastore.bundles.get(options.trustDomain)?.jwtAuthorities ?? []) {
      if (authority.expiresAt > 0) events.push(authority.expiresAt * 1000);
    }
    return events;
  }

  return {
    active: () => (active as LoadedKey).key,
    prepared: () => prepared?.key,
    signJwtSvid: (params) => signJwtSvid((active as LoadedKey).key, { ...params, now: params.now ?? now() }),
    rotate,

    start(intervalMs = DEFAULT_ROTATION_CHECK_INTERVAL_MS) {
      stopTimer?.();
      stopTimer = startRotationTimer({
        rotate,
        upcomingEvents,
        now: () => now().getTime(),
        intervalMs,
        onError: (error) => log.error({ err: error }, "Failed to rotate the JWT key"),
      });
    },

    stop() {
      stopTimer?.();
      stopTimer = undefined;
    },
  };
}

function lifetimeOf(loaded: LoadedKey): AuthorityLifetime {
  return { issuedAtMs: loaded.issuedAt.getTime(), notAfterMs: loaded.key.notAfter.getTime() };
}

function spkiDer(privateKey: ReturnType<typeof createPrivateKey>): Buffer {
  return createPublicKey(privateKey).export({ format: "der", type: "spki" });
}

function toRecord(loaded: LoadedKey): Omit<JwtKeySlot, "status"> {
  return {
    slot: loaded.slot,
    keyId: loaded.key.keyId,
    publicKey: loaded.key.publicKey,
    issuedAt: Math.floor(loaded.issuedAt.getTime() / 1000),
    notAfter: Math.floor(loaded.key.notAfter.getTime() / 1000),
  };
}

function slotKeyId(slot: JwtKeySlot["slot"]): string {
  return `JWT-Signer-${slot}`;
}

function otherSlot(slot: JwtKeySlot["slot"]): JwtKeySlot["slot"] {
  return slot === "A" ? "B" : "A";
}

function describeKey(loaded: LoadedKey): Record<string, string> {
  return { slot: loaded.slot, key_id: loaded.key.keyId, expiration: loaded.key.notAfter.toISOString() };
}
