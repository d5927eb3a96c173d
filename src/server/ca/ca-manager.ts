import { createPrivateKey, X509Certificate as NodeCertificate } from "node:crypto";
import type { Logger } from "../../common/log.js";
import type { KeyManager } from "../../../plugins/keymanager/key-manager.js";
import type { Datastore } from "../datastore/datastore.js";
import type { CaSlot } from "../datastore/types.js";
import { importEcP256Pkcs8 } from "./webcrypto.js";
import { x509 } from "./x509.js";
import { BACKDATE_MS, createRootCa, signX509Svid } from "./x509-ca.js";
import type { CaSubject, X509Authority, X509SvidParams } from "./x509-ca.js";
import { serialNumberToDecimal } from "./serial-number.js";
import type { AuthorityLifetime } from "./rotation-schedule.js";
import { activationTimeMs, DEFAULT_ROTATION_CHECK_INTERVAL_MS, prepareTimeMs, startRotationTimer } from "./rotation-schedule.js";

/** Settings of {@link createCaManager}. */
export interface CaManagerOptions {
  trustDomain: string;
  caTtlSeconds: number;
  caSubject: CaSubject;
  datastore: Datastore;
  keyManager: KeyManager;
  logger: Logger;
  /** Clock, replaceable in tests. */
  now?: () => Date;
}

/** The server CA: signs SVIDs with the active authority and rotates authorities over time. */
export interface CaManager {
  /** The authority that signs now. */
  active(): X509Authority;
  /**
   * Signs an X.509-SVID with the active authority; returns the chain, leaf first. The
   * SVID's notAfter is cut to the authority's, so no SVID outlives the CA that signed it.
   */
  signX509Svid(params: X509SvidParams): Promise<x509.X509Certificate[]>;
  /**
   * Prepares the next authority when half of the active one's lifetime is left (publishing
   * its root in the bundle so that peers learn it ahead of use), activates it when a sixth
   * is left (rotation-schedule.ts has the caps and exceptions), and drops expired roots
   * from the bundle. Called by the rotation timer; exposed for tests.
   */
  rotate(): Promise<void>;
  /** Registers a listener called after a new authority becomes active. */
  onActivate(listener: (authority: X509Authority) => void): void;
  /**
   * Starts the rotation timer. It fires at the next preparation, activation or root
   * expiry, and at least every `intervalMs` (10 s by default).
   */
  start(intervalMs?: number): void;
  stop(): void;
}

interface LoadedSlot {
  slot: CaSlot["slot"];
  authority: X509Authority;
  /** When the root went into the bundle; for a journaled CA, when it was made. */
  publishedAtMs: number;
}

/**
 * Loads the server CA, reusing the journaled authority when its key is still in the
 * KeyManager and its certificate has not expired, or creates a new one. Either way the
 * active root ends up in the trust domain's bundle in the datastore.
 *
 * With KeyManager "memory" the key is gone after a restart, so every start makes a new CA
 * and agents must fetch the new bundle (their old bundle no longer verifies the server).
 */
export async function createCaManager(options: CaManagerOptions): Promise<CaManager> {
  const now = options.now ?? (() => new Date());
  const log = options.logger.child({ subsystem: "ca_manager" });
  const listeners: ((authority: X509Authority) => void)[] = [];
  let stopTimer: (() => void) | undefined;

  const journal = options.datastore.caJournal.list();
  let active = await loadSlot(journal.find((slot) => slot.status === "active"));
  let prepared = await loadSlot(journal.find((slot) => slot.status === "prepared"));

  if (active === undefined && prepared !== undefined) {
    // The active CA expired or lost its key while the server was down, but the next one
    // was already published: activate it rather than making a third.
    active = prepared;
    prepared = undefined;
    options.datastore.caJournal.put({ slot: active.slot, certificate: certificateDer(active), status: "active" });
    log.info({ slot: active.slot, ...describeAuthority(active.authority) }, "X509 CA activated");
  } else if (active === undefined) {
    active = await createAuthority("A", "active");
    prepared = undefined;
    log.info({ slot: active.slot, ...describeAuthority(active.authority) }, "X509 CA activated");
  } else {
    log.info({ slot: active.slot, ...describeAuthority(active.authority) }, "X509 CA loaded from the journal");
  }
  publishRoots();

  async function loadSlot(record: CaSlot | undefined): Promise<LoadedSlot | undefined> {
    if (record === undefined) return undefined;

    const key = await options.keyManager.getKey(slotKeyId(record.slot));
    if (key === undefined) {
      log.warn({ slot: record.slot }, "CA key is missing from the KeyManager; a new CA will be made");
      return undefined;
    }

    const certificate = new x509.X509Certificate(record.certificate);
    if (certificate.notAfter.getTime() <= now().getTime()) {
      log.info({ slot: record.slot, expiration: certificate.notAfter.toISOString() }, "Journaled CA has expired");
      return undefined;
    }

    if (!publicKeyMatches(record.certificate, key.privateKeyPkcs8)) {
      log.warn({ slot: record.slot }, "CA key in the KeyManager does not match the journaled certificate");
      return undefined;
    }
    const keys = await importEcP256Pkcs8(key.privateKeyPkcs8);
    return { slot: record.slot, authority: { certificate, keys }, publishedAtMs: issuedAtMs(certificate) };
  }

  async function createAuthority(slot: CaSlot["slot"], status: "active" | "prepared"): Promise<LoadedSlot> {
    const key = await options.keyManager.generateKey(slotKeyId(slot));
    const keys = await importEcP256Pkcs8(key.privateKeyPkcs8);
    const authority = await createRootCa({
      trustDomain: options.trustDomain,
      ttlSeconds: options.caTtlSeconds,
      subject: options.caSubject,
      now: now(),
      keys,
    });

    options.datastore.transaction(() => {
      options.datastore.caJournal.put({ slot, certificate: Buffer.from(authority.certificate.rawData), status });
      if (status === "active") {
        const other = otherSlot(slot);
        const otherRecord = options.datastore.caJournal.list().find((record) => record.slot === other);
        if (otherRecord !== undefined) options.datastore.caJournal.put({ ...otherRecord, status: "old" });
      }
    });
    return { slot, authority, publishedAtMs: now().getTime() };
  }

  /** Writes the active and prepared roots into the bundle and removes expired roots. */
  function publishRoots(): void {
    const bundles = options.datastore.bundles;
    options.datastore.transaction(() => {
      const current = bundles.get(options.trustDomain);
      const roots = new Map<string, Buffer>();
      for (const der of current?.x509Authorities ?? []) roots.set(der.toString("base64"), der);
      for (const loaded of [active, prepared]) {
        if (loaded === undefined) continue;
        const der = certificateDer(loaded);
        roots.set(der.toString("base64"), der);
      }

      const nowMs = now().getTime();
      const unexpired = [...roots.values()].filter((der) => new x509.X509Certificate(der).notAfter.getTime() > nowMs);
      const unchanged =
        current !== undefined &&
        current.x509Authorities.length === unexpired.length &&
        current.x509Authorities.every((der, index) => unexpired[index]?.equals(der));
      if (unchanged) return;

      bundles.set({
        trustDomain: options.trustDomain,
        x509Authorities: unexpired,
        jwtAuthorities: current?.jwtAuthorities ?? [],
        refreshHint: current?.refreshHint ?? 0,
      });
    });
  }

  async function rotate(): Promise<void> {
    const current = active as LoadedSlot;
    const lifetime = lifetimeOf(current);
    const nowMs = now().getTime();

    if (prepared === undefined && nowMs >= prepareTimeMs(lifetime)) {
      prepared = await createAuthority(otherSlot(current.slot), "prepared");
      log.info({ slot: prepared.slot, ...describeAuthority(prepared.authority) }, "X509 CA prepared");
    }

    if (prepared !== undefined && nowMs >= activationTimeMs(lifetime, prepared.publishedAtMs)) {
      const next = prepared;
      options.datastore.transaction(() => {
        options.datastore.caJournal.put({ slot: next.slot, certificate: certificateDer(next), status: "active" });
        options.datastore.caJournal.put({ slot: current.slot, certificate: certificateDer(current), status: "old" });
      });
      active = next;
      prepared = undefined;
      log.info(
        { slot: next.slot, ...describeAuthority(next.authority), published_for: `${Math.round((nowMs - next.publishedAtMs) / 1000)}s` },
        "X509 CA activated",
      );
      for (const listener of listeners) listener(next.authority);
    }

    publishRoots();
  }

  /** Times at which rotate() has something to do: the next step for the active CA, and root expiries. */
  function upcomingEvents(): number[] {
    const current = active as LoadedSlot;
    const lifetime = lifetimeOf(current);
    const events = [prepared === undefined ? prepareTimeMs(lifetime) : activationTimeMs(lifetime, prepared.publishedAtMs)];
    for (const der of options.datastore.bundles.get(options.trustDomain)?.x509Authorities ?? []) {
      events.push(new x509.X509Certificate(der).notAfter.getTime());
    }
    return events;
  }

  return {
    active: () => (active as LoadedSlot).authority,

    async signX509Svid(params) {
      const leaf = await signX509Svid((active as LoadedSlot).authority, { ...params, now: params.now ?? now() });
      return [leaf];
    },

    rotate,

    onActivate(listener) {
      listeners.push(listener);
    },

    start(intervalMs = DEFAULT_ROTATION_CHECK_INTERVAL_MS) {
      stopTimer?.();
      stopTimer = startRotationTimer({
        rotate,
        upcomingEvents,
        now: () => now().getTime(),
        intervalMs,
        onError: (error) => log.error({ err: error }, "Failed to rotate the X509 CA"),
      });
    },

    stop() {
      stopTimer?.();
      stopTimer = undefined;
    },
  };
}

/** Returns the CA's lifetime from when it was made, because notBefore is backdated by {@link BACKDATE_MS}. */
function lifetimeOf(loaded: LoadedSlot): AuthorityLifetime {
  return { issuedAtMs: issuedAtMs(loaded.authority.certificate), notAfterMs: loaded.authority.certificate.notAfter.getTime() };
}

function issuedAtMs(certificate: x509.X509Certificate): number {
  return certificate.notBefore.getTime() + BACKDATE_MS;
}

function certificateDer(loaded: LoadedSlot): Buffer {
  return Buffer.from(loaded.authority.certificate.rawData);
}

function slotKeyId(slot: CaSlot["slot"]): string {
  return `x509-CA-${slot}`;
}

function otherSlot(slot: CaSlot["slot"]): CaSlot["slot"] {
  return slot === "A" ? "B" : "A";
}

function publicKeyMatches(certificateDer: Buffer, privateKeyPkcs8: Buffer): boolean {
  const certificate = new NodeCertificate(certificateDer);
  return certificate.checkPrivateKey(createPrivateKey({ key: privateKeyPkcs8, format: "der", type: "pkcs8" }));
}

function describeAuthority(authority: X509Authority): Record<string, string> {
  return {
    serial_number: serialNumberToDecimal(authority.certificate.serialNumber),
    issued_at: authority.certificate.notBefore.toISOString(),
    expiration: authority.certificate.notAfter.toISOString(),
  };
}
