import { createPublicKey, X509Certificate } from "node:crypto";
import type { KeyObject } from "node:crypto";

import type { Logger } from "../../common/log.js";
import { formatSpiffeId } from "../../spiffe/spiffe-id.js";
import { verifyX509SvidChain } from "../../spiffe/x509-svid.js";
import type { JwtAuthority } from "../../workload-api/jwt-source.js";
import { validateJwtSvid } from "../../workload-api/jwt-svid-validation.js";
import { sameDerList } from "../cache/compare.js";
import type { CachedEntry, CachedX509Svid } from "../cache/cache-types.js";
import type { CachedJwtSvid } from "../cache/jwt-svid-cache.js";
import { certificateMatchesKey } from "../crypto/ec-key.js";
import type { RuntimeCacheContent } from "./runtime-cache-file.js";

/** The running agent, which the runtime cache file must agree with. */
export interface RuntimeCacheExpectations {
  /** Bare name of the configured trust domain. */
  trustDomain: string;
  /** SPIFFE ID of the current agent SVID. */
  agentSpiffeId: string;
  /** Own trust domain roots from data_dir; restored SVIDs must chain to them. */
  ownBundle: Buffer[];
  nowMs: number;
}

/**
 * Checks a decoded runtime cache file against the running agent and returns what may be
 * restored. Returns undefined, with a warning, when the file was written for another trust
 * domain or agent SPIFFE ID. Otherwise every item that fails a check is dropped with a log
 * line, and the rest is returned:
 * - the own bundle is always the one from data_dir, because data_dir is written at once on
 *   every change and so is never older than the runtime file. A different one is logged;
 * - an entry with `store_svid` is dropped;
 * - an X.509-SVID is kept only when its entry exists with the same SPIFFE ID, its chain
 *   verifies against the own bundle now (so it has not expired), it names that SPIFFE ID
 *   and it certifies the stored private key;
 * - a JWT authority is kept only when its public key parses;
 * - a JWT-SVID is kept only when it has not expired, names its SPIFFE ID as `sub`, lists
 *   every stored audience and verifies with a restored JWT authority.
 * Log lines carry entry IDs and SPIFFE IDs, never keys or tokens.
 */
export function checkRuntimeCache(content: RuntimeCacheContent, expected: RuntimeCacheExpectations, logger: Logger): RuntimeCacheContent | undefined {
  if (content.trustDomain !== expected.trustDomain) {
    logger.warn(
      { trust_domain: expected.trustDomain, file_trust_domain: content.trustDomain },
      "Ignored the runtime cache: it was written for another trust domain",
    );
    return undefined;
  }
  if (content.agentSpiffeId !== expected.agentSpiffeId) {
    logger.warn(
      { spiffe_id: expected.agentSpiffeId, file_spiffe_id: content.agentSpiffeId },
      "Ignored the runtime cache: it was written by an agent with another SPIFFE ID",
    );
    return undefined;
  }

  const bundles = checkBundles(content.x509.bundles, expected, logger);
  const entries = checkEntries(content.x509.entries, logger);
  const svids = checkX509Svids(content.x509.svids, entries, expected, logger);
  const jwtBundles = checkJwtBundles(content.jwtBundles, logger);
  const jwtSvids = checkJwtSvids(content.jwtSvids, jwtBundles, expected.nowMs, logger);

  return {
    trustDomain: content.trustDomain,
    agentSpiffeId: content.agentSpiffeId,
    x509: { entries: [...entries.values()], svids, bundles },
    jwtBundles,
    jwtSvids,
  };
}

function checkBundles(bundles: ReadonlyMap<string, Buffer[]>, expected: RuntimeCacheExpectations, logger: Logger): Map<string, Buffer[]> {
  const stored = bundles.get(expected.trustDomain);
  if (stored === undefined || !sameDerList(stored, expected.ownBundle)) {
    logger.info(
      { trust_domain: expected.trustDomain },
      "The runtime cache holds another own trust bundle than data_dir; restored SVIDs are checked against the one in data_dir",
    );
  }

  const checked = new Map(bundles);
  checked.set(expected.trustDomain, expected.ownBundle);
  return checked;
}

function checkEntries(entries: readonly CachedEntry[], logger: Logger): Map<string, CachedEntry> {
  const checked = new Map<string, CachedEntry>();
  for (const entry of entries) {
    if (entry.storeSvid) {
      logger.info({ entry_id: entry.id, spiffe_id: entry.spiffeId }, "Dropped an entry with store_svid from the runtime cache");
      continue;
    }
    checked.set(entry.id, entry);
  }
  return checked;
}

function checkX509Svids(
  svids: ReadonlyMap<string, CachedX509Svid>,
  entries: ReadonlyMap<string, CachedEntry>,
  expected: RuntimeCacheExpectations,
  logger: Logger,
): Map<string, CachedX509Svid> {
  const checked = new Map<string, CachedX509Svid>();
  const now = new Date(expected.nowMs);

  for (const [entryId, svid] of svids) {
    const fields = { entry_id: entryId, spiffe_id: svid.spiffeId };
    const problem = findX509SvidProblem(entryId, svid, entries, expected.ownBundle, now);
    if (problem !== undefined) {
      const expired = svid.notAfterMs <= expected.nowMs;
      const fieldsWithReason = { ...fields, reason: problem };
      if (expired) {
        logger.info({ ...fieldsWithReason, expired_at: new Date(svid.notAfterMs).toISOString() }, "Dropped an expired X.509-SVID from the runtime cache");
      } else {
        logger.warn(fieldsWithReason, "Dropped an X.509-SVID that failed its checks from the runtime cache");
      }
      continue;
    }
    checked.set(entryId, svid);
  }
  return checked;
}

function findX509SvidProblem(
  entryId: string,
  svid: CachedX509Svid,
  entries: ReadonlyMap<string, CachedEntry>,
  ownBundle: Buffer[],
  now: Date,
): string | undefined {
  const entry = entries.get(entryId);
  if (entry === undefined) {
    return "its entry is not in the runtime cache";
  }
  if (entry.spiffeId !== svid.spiffeId) {
    return `its entry now names ${entry.spiffeId}`;
  }

  try {
    const spiffeId = formatSpiffeId(verifyX509SvidChain(svid.certChain, ownBundle, now));
    if (spiffeId !== svid.spiffeId) {
      return `the certificate names ${spiffeId}`;
    }
    if (!certificateMatchesKey(new X509Certificate(svid.certChain[0] as Buffer), svid.privateKeyPkcs8)) {
      return "the private key does not match the certificate";
    }
  } catch (error) {
    return (error as Error).message;
  }
  return undefined;
}

function checkJwtBundles(bundles: ReadonlyMap<string, JwtAuthority[]>, logger: Logger): Map<string, JwtAuthority[]> {
  const checked = new Map<string, JwtAuthority[]>();
  for (const [trustDomain, authorities] of bundles) {
    checked.set(
      trustDomain,
      authorities.filter((authority) => {
        try {
          publicKey(authority);
          return true;
        } catch (error) {
          logger.warn({ trust_domain: trustDomain, key_id: authority.keyId, error: (error as Error).message }, "Dropped an unreadable JWT authority from the runtime cache");
          return false;
        }
      }),
    );
  }
  return checked;
}

function checkJwtSvids(items: readonly CachedJwtSvid[], jwtBundles: ReadonlyMap<string, JwtAuthority[]>, nowMs: number, logger: Logger): CachedJwtSvid[] {
  const lookupKey = (trustDomain: string, keyId: string): KeyObject | undefined => {
    const authority = jwtBundles.get(trustDomain)?.find((candidate) => candidate.keyId === keyId);
    return authority === undefined ? undefined : publicKey(authority);
  };

  return items.filter((item) => {
    const fields = { spiffe_id: item.spiffeId, audience: item.audience };
    if (item.svid.expiresAt * 1000 <= nowMs) {
      logger.info({ ...fields, expired_at: new Date(item.svid.expiresAt * 1000).toISOString() }, "Dropped an expired JWT-SVID from the runtime cache");
      return false;
    }

    try {
      for (const audience of item.audience) {
        const validated = validateJwtSvid(item.svid.token, audience, lookupKey, nowMs / 1000);
        if (formatSpiffeId(validated.spiffeId) !== item.spiffeId) {
          throw new Error(`the token names ${formatSpiffeId(validated.spiffeId)}`);
        }
      }
    } catch (error) {
      logger.warn({ ...fields, reason: (error as Error).message }, "Dropped a JWT-SVID that failed its checks from the runtime cache");
      return false;
    }
    return true;
  });
}

function publicKey(authority: JwtAuthority): KeyObject {
  return createPublicKey({ key: authority.publicKeyDer, format: "der", type: "spki" });
}
