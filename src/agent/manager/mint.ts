import { X509Certificate } from "node:crypto";

import type { Logger } from "../../common/log.js";
import { formatSpiffeId } from "../../spiffe/spiffe-id.js";
import { verifyX509SvidChain } from "../../spiffe/x509-svid.js";
import type { CachedX509Svid, PendingMint } from "../cache/cache-types.js";
import type { X509Cache } from "../cache/x509-cache.js";
import type { ServerClient, X509SvidResult } from "../client/server-client.js";
import { createCsr } from "../crypto/csr.js";
import { certificateMatchesKey, generateEcP256Pkcs8 } from "../crypto/ec-key.js";

/** Most CSRs in one BatchNewX509SVID call: the server's per-call signing limit. */
export const MAX_CSR_BATCH_SIZE = 500;

/** Counts from one minting pass. */
export interface MintOutcome {
  minted: number;
  failed: number;
}

/**
 * Mints SVIDs for every entry the cache lists as pending, in BatchNewX509SVID calls of at
 * most `batchSize` CSRs. Each entry gets its own new EC P-256 key and a CSR whose URI SAN
 * is the entry's SPIFFE ID. A result the server refused, or an SVID that does not verify
 * against the own bundle, name the entry's SPIFFE ID and certify the key, is logged and
 * leaves the entry pending for the next pass. SVIDs from finished calls are stored even
 * when a later call fails; the failure is then thrown.
 */
export async function mintPendingSvids(
  client: ServerClient,
  cache: X509Cache,
  logger: Logger,
  batchSize = MAX_CSR_BATCH_SIZE,
): Promise<MintOutcome> {
  const pending = cache.pendingMints(Date.now());
  const outcome: MintOutcome = { minted: 0, failed: 0 };

  for (let start = 0; start < pending.length; start += batchSize) {
    const batch = pending.slice(start, start + batchSize).map(prepareRequest);
    for (const request of batch) {
      logMintStart(logger, request.pending);
    }

    const results = await client.batchNewX509Svid(batch.map((request) => ({ entryId: request.pending.entry.id, csr: request.csr })));
    const minted = new Map<string, CachedX509Svid>();
    results.forEach((result, index) => {
      const request = batch[index] as MintRequest;
      const svid = acceptResult(request, result, cache.bundle(), logger);
      if (svid === undefined) {
        outcome.failed++;
      } else {
        minted.set(request.pending.entry.id, svid);
        outcome.minted++;
      }
    });
    cache.storeSvids(minted);
  }

  return outcome;
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
