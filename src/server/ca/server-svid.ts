import type { Logger } from "../../common/log.js";
import { serverSpiffeId } from "../../spiffe/trust-domain.js";
import { derToPem } from "../../spiffe/bundle.js";
import type { CaManager } from "./ca-manager.js";
import { exportPkcs8, generateEcP256KeyPair } from "./webcrypto.js";

/** The server's own X.509-SVID (`spiffe://<td>/spire/server`) in the PEM form TLS takes. */
export interface ServerSvid {
  certChainPem: string;
  /** PKCS#8 PEM. Never log it. */
  privateKeyPem: string;
  notBefore: Date;
  notAfter: Date;
}

/** Issues a fresh server SVID with a new EC P-256 key, signed by the active CA. */
export async function issueServerSvid(ca: CaManager, trustDomain: string, ttlSeconds: number): Promise<ServerSvid> {
  const keys = await generateEcP256KeyPair();
  const chain = await ca.signX509Svid({ spiffeId: serverSpiffeId(trustDomain), publicKey: keys.publicKey, ttlSeconds });
  const leaf = chain[0];
  if (leaf === undefined) throw new Error("failed to issue the server SVID: the CA returned an empty chain");

  const pkcs8 = await exportPkcs8(keys.privateKey);
  return {
    certChainPem: chain.map((certificate) => certificate.toString("pem")).join("\n"),
    privateKeyPem: derToPem(pkcs8, "PRIVATE KEY"),
    notBefore: leaf.notBefore,
    notAfter: leaf.notAfter,
  };
}

/** Settings of {@link startServerSvidRotation}. */
export interface ServerSvidRotationOptions {
  ca: CaManager;
  trustDomain: string;
  ttlSeconds: number;
  initial: ServerSvid;
  /** Receives each new SVID; the TLS listener swaps its certificate here. */
  onRotate: (svid: ServerSvid) => void;
  logger: Logger;
  /** How often to check whether rotation is due; 5 s by default. */
  checkIntervalMs?: number;
}

/** Shortest wait between two checks, so that a clock behind the plan cannot spin the timer. */
const MIN_CHECK_INTERVAL_MS = 100;

/**
 * Renews the server SVID when half of its lifetime has passed, and at once when the CA
 * activates a new authority (so the presented chain always leads to the signing root).
 * Checks at the half-life and at least every `checkIntervalMs`; after a failed renewal,
 * retries after `checkIntervalMs`. Returns a function that stops the rotation.
 */
export function startServerSvidRotation(options: ServerSvidRotationOptions): () => void {
  const log = options.logger.child({ subsystem: "svid_rotator" });
  const checkIntervalMs = options.checkIntervalMs ?? 5000;
  let current = options.initial;
  let rotating = false;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;

  async function rotate(reason: string): Promise<boolean> {
    if (rotating) return true;
    rotating = true;
    try {
      current = await issueServerSvid(options.ca, options.trustDomain, options.ttlSeconds);
      options.onRotate(current);
      log.debug({ reason, expiration: current.notAfter.toISOString() }, "Server SVID rotated");
      return true;
    } catch (error) {
      log.error({ err: error }, "Failed to rotate the server SVID");
      return false;
    } finally {
      rotating = false;
    }
  }

  function halfLifeMs(): number {
    return (current.notBefore.getTime() + current.notAfter.getTime()) / 2;
  }

  function scheduleCheck(delayMs = Math.min(checkIntervalMs, halfLifeMs() - Date.now())): void {
    if (stopped) return;
    timer = setTimeout(() => {
      if (Date.now() < halfLifeMs()) {
        scheduleCheck();
        return;
      }
      void rotate("half of the lifetime passed").then((renewed) => scheduleCheck(renewed ? undefined : checkIntervalMs));
    }, Math.max(MIN_CHECK_INTERVAL_MS, delayMs));
    timer.unref();
  }

  options.ca.onActivate(() => void rotate("CA activated"));
  scheduleCheck();

  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
