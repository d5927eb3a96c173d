import { X509Certificate } from "node:crypto";

import type { Logger } from "../../common/log.js";
import { formatSpiffeId } from "../../spiffe/spiffe-id.js";
import { verifyX509SvidChain } from "../../spiffe/x509-svid.js";
import type { CachedX509Svid, PendingMint } from "../cache/cache-types.js";
import type { X509Cache } from "../cache/x509-cache.js";
import type { ServerClient, X509SvidResult } from "../client/server-client.js";
import { createCsr } from "../crypto/csr.js";
import { certificateMatchesKey, generateEcP256Pkcs8 } from "../crypto/ec-key.js";
import type { Validity } from "./rotation.js";
import { issuedValidity } from "./rotation.js";

/** Most CSRs in one BatchNewX509SVID call: the server's per-call signing limit. */
export const MAX_CSR_BATCH_SIZE = 500;

/** The renewal time planned for one cached SVID. */
export interface ScheduledRenewal {
  /** Expiry of the SVID the plan was made for; a cached SVID with another expiry is not covered by it. */
  notAfterMs: number;
  renewAtMs: number;
}

/** Settings of one minting pass. */
export interface MintPassOptions {
  /** Maximum CSRs per BatchNewX509SVID call; {@link MAX_CSR_BATCH_SIZE} when unset. */
  batchSize?: number;
  /**
   * Renewal times of the cached SVIDs, by entry ID. The pass renews the SVIDs whose time
   * has come, adds a plan for every SVID it stores and drops plans of SVIDs the cache no
   * longer holds. Keep the same map across passes.
   */
  renewals: Map<string, ScheduledRenewal>;
  /** Draws the renewal time of a new SVID from its validity, counted from the CSR (see issuedValidity). */
  planRenewal: (validity: Validity) => number;
  /** Clock in milliseconds; Date.now when unset. */
  now?: () => number;
}

/** Counts from one minting pass, and when the next one is due. */
export interface MintOutcome {
  minted: number;
  failed: number;
  /** Earliest planned renewal after this pass; undefined when the cache contains no SVID. */
  nextRenewalAtMs?: number;
}

/**
 * Maximum BatchNewX509SVID calls of one pass in flight at once. With two, the agent prepares
 * and checks one batch while the server signs the other, so both processes keep busy.
 */
const MAX_CALLS_IN_FLIGHT = 2;

/**
 * Mints SVIDs for the entries that need one now, in BatchNewX509SVID calls of at most
 * `batchSize` CSRs, two calls at a time. An entry needs one when the cache lists it as
 * missing or changed, or when its SVID is due for renewal (see selectDueMints). Each entry
 * gets its own new EC P-256 key and a CSR whose URI SAN is the entry's SPIFFE ID. A result
 * the server refused, or an SVID that does not verify against the own bundle, name the
 * entry's SPIFFE ID and certify the key, is logged and leaves the entry due for the next
 * pass. SVIDs from finished calls are stored (with their renewal plans) even when another
 * call fails. After a failure no new call starts, and the first failure is thrown.
 */
export async function mintPendingSvids(client: ServerClient, cache: X509Cache, logger: Logger, options: MintPassOptions): Promise<MintOutcome> {
  const now = options.now ?? Date.now;
  const batchSize = options.batchSize ?? MAX_CSR_BATCH_SIZE;
  const { due, nextRenewalAtMs } = selectDueMints(cache, options.renewals, now());
  const outcome: MintOutcome = { minted: 0, failed: 0, nextRenewalAtMs };

  const batches: PendingMint[][] = [];
  for (let start = 0; start < due.length; start += batchSize) {
    batches.push(due.slice(start, start + batchSize));
  }

  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    for (let pending = batches.shift(); pending !== undefined && failure === undefined; pending = batches.shift()) {
      try {
        await mintBatch(client, cache, logger, options, pending, outcome, now);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(MAX_CALLS_IN_FLIGHT, batches.length) }, worker));

  if (failure !== undefined) {
    throw failure.error;
  }
  return outcome;
}

/** Mints one batch with one BatchNewX509SVID call, stores the SVIDs and plans their renewal; adds to `outcome`. */
async function mintBatch(
  client: ServerClient,
  cache: X509Cache,
  logger: Logger,
  options: MintPassOptions,
  pending: PendingMint[],
  outcome: MintOutcome,
  now: () => number,
): Promise<void> {
  const batch = pending.map(prepareRequest);
  for (const request of batch) {
    logMintStart(logger, request.pending);
  }

  const requestedAtMs = now();
  const results = await client.batchNewX509Svid(batch.map((request) => ({ entryId: request.pending.entry.id, csr: request.csr })));
  const minted = new Map<string, CachedX509Svid>();
  results.forEach((result, index) => {
    const request = batch[index] as MintRequest;
    const svid = acceptResult(request, result, cache.bundle(), logger);
    if (svid === undefined) {
      outcome.failed++;
      return;
    }

    minted.set(request.pending.entry.id, svid);
    outcome.minted++;
    const renewAtMs = options.planRenewal(issuedValidity(svid, requestedAtMs));
    options.renewals.set(request.pending.entry.id, { notAfterMs: svid.notAfterMs, renewAtMs });
    outcome.nextRenewalAtMs = Math.min(outcome.nextRenewalAtMs ?? Infinity, renewAtMs);
  });
  cache.storeSvids(minted);
}

/**
 * Picks the entries to mint at `nowMs` and the earliest planned renewal after it. Asking
 * the cache for its pending mints at +Infinity lists every cached SVID as expiring, with
 * its expiry: the cache exposes SVID expiries no other way. Missing and changed entries
 * are due at once, and a planned SVID when its renewal time has come. An SVID without a
 * plan (one stored before this minter ran, such as an SVID restored at start-up) is due
 * when the cache's own rule reports it at `nowMs`. That rule is the half-life with a fresh
 * jitter draw on every pass, as SPIRE's agent checks at every sync.
 */
function selectDueMints(cache: X509Cache, renewals: Map<string, ScheduledRenewal>, nowMs: number): { due: PendingMint[]; nextRenewalAtMs?: number } {
  const due: PendingMint[] = [];
  const unplanned: PendingMint[] = [];
  const cachedSvids = new Set<string>();
  let nextRenewalAtMs: number | undefined;

  for (const candidate of cache.pendingMints(Number.POSITIVE_INFINITY)) {
    const id = candidate.entry.id;
    if (candidate.currentExpiresAtMs !== undefined) {
      cachedSvids.add(id);
    }
    if (candidate.reason !== "expiring") {
      due.push(candidate);
      continue;
    }

    const plan = renewals.get(id);
    if (plan === undefined || plan.notAfterMs !== candidate.currentExpiresAtMs) {
      unplanned.push(candidate);
    } else if (nowMs >= plan.renewAtMs) {
      due.push(candidate);
    } else {
      nextRenewalAtMs = Math.min(nextRenewalAtMs ?? Infinity, plan.renewAtMs);
    }
  }

  if (unplanned.length > 0) {
    const expiringNow = new Set(cache.pendingMints(nowMs).filter((pending) => pending.reason === "expiring").map((pending) => pending.entry.id));
    due.push(...unplanned.filter((candidate) => expiringNow.has(candidate.entry.id)));
  }

  // Plans of SVIDs the cache dropped (entry removed, SVID evicted) would wake the minter for nothing.
  for (const id of [...renewals.keys()]) {
    if (!cachedSvids.has(id)) {
      renewals.delete(id);
    }
  }
  return { due, nextRenewalAtMs };
}

interface MintRequest {
  pending: PendingMint;
  privateKeyPkcs8: Buffer;
  csr: Buffer;
}

function prepareRequest(pending: PendingMint): MintRequest {
  const privateKeyPkcs8 = generateEcP256Pkcs8();
  return { pending, privateKeyPkcs8, csr: createCsr(privateKeyPkcs8, pending.entry.spiffeId) };
}

function logMintStart(logger: Logger, pending: PendingMint): void {
  const fields: Record<string, unknown> = { entry_id: pending.entry.id, spiffe_id: pending.entry.spiffeId };
  if (pending.currentExpiresAtMs === undefined) {
    logger.info(fields, "Creating X509-SVID");
    return;
  }
  fields.expires_at = new Date(pending.currentExpiresAtMs).toISOString();
  fields.reason = pending.reason;
  logger.info(fields, "Renewing X509-SVID");
}

function acceptResult(request: MintRequest, result: X509SvidResult, bundle: Buffer[], logger: Logger): CachedX509Svid | undefined {
  const { entry } = request.pending;
  const fields = { entry_id: entry.id, spiffe_id: entry.spiffeId };

  if (result.certChain === undefined) {
    logger.warn({ ...fields, status_code: result.error?.code, status_message: result.error?.message }, "Failed to mint X509-SVID");
    return undefined;
  }

  try {
    const spiffeId = formatSpiffeId(verifyX509SvidChain(result.certChain, bundle));
    if (spiffeId !== entry.spiffeId) {
      throw new Error(`the SVID names ${spiffeId}`);
    }

    const leaf = new X509Certificate(result.certChain[0] as Buffer);
    if (!certificateMatchesKey(leaf, request.privateKeyPkcs8)) {
      throw new Error("the SVID does not certify the key of the CSR");
    }

    return {
      certChain: result.certChain,
      privateKeyPkcs8: request.privateKeyPkcs8,
      spiffeId: entry.spiffeId,
      entryRevision: entry.revisionNumber,
      notBeforeMs: Date.parse(leaf.validFrom),
      notAfterMs: Date.parse(leaf.validTo),
    };
  } catch (error) {
    logger.warn({ ...fields, error: (error as Error).message }, "Received an unusable X509-SVID from the server");
    return undefined;
  }
}
