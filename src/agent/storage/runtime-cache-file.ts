import { X509Certificate } from "node:crypto";

import { parseSpiffeId, formatSpiffeId } from "../../spiffe/spiffe-id.js";
import { validateSelector } from "../../spiffe/selector.js";
import { parseTrustDomain } from "../../spiffe/trust-domain.js";
import type { JwtAuthority } from "../../workload-api/jwt-source.js";
import type { CachedEntry, CachedX509Svid, X509CacheSnapshot } from "../cache/cache-types.js";
import type { CachedJwtSvid } from "../cache/jwt-svid-cache.js";

/**
 * The runtime cache file: a Tessera addition with no SPIRE counterpart. It contains what the
 * agent needs to serve workloads right after a restart while the server is down, and is
 * meant for tmpfs because it contains workload private keys.
 *
 * Layout (JSON, binary values in standard base64):
 * `{"version":1, "written_at":RFC 3339, "trust_domain", "agent_spiffe_id",
 *   "bundles":{td:[DER]}, "jwt_bundles":{td:[{"key_id","public_key":SPKI DER,"expires_at"}]},
 *   "entries":[{"id","spiffe_id","selectors":[{"type","value"}],"federates_with","admin",
 *   "downstream","revision_number","store_svid","hint","created_at","disable_x509_svid_prefetch"}],
 *   "x509_svids":[{"entry_id","spiffe_id","entry_revision","cert_chain":[DER],"private_key":PKCS#8 DER}],
 *   "jwt_svids":[{"spiffe_id","audience","token","hint","issued_at","expires_at"}]}`
 */
export const RUNTIME_CACHE_VERSION = 1;

/** Everything the runtime cache file holds, decoded. */
export interface RuntimeCacheContent {
  /** Bare trust domain name of the agent that wrote the file. */
  trustDomain: string;
  /** SPIFFE ID of the agent that wrote the file. */
  agentSpiffeId: string;
  x509: X509CacheSnapshot;
  /** JWT authorities keyed by bare trust domain name. */
  jwtBundles: Map<string, JwtAuthority[]>;
  jwtSvids: CachedJwtSvid[];
}

/** Encodes `content` as the file's JSON text. Contains private keys and tokens: never log the result. */
export function encodeRuntimeCache(content: RuntimeCacheContent, writtenAt: Date = new Date()): string {
  const file = {
    version: RUNTIME_CACHE_VERSION,
    written_at: writtenAt.toISOString(),
    trust_domain: content.trustDomain,
    agent_spiffe_id: content.agentSpiffeId,
    bundles: Object.fromEntries([...content.x509.bundles].map(([trustDomain, roots]) => [trustDomain, roots.map(base64)])),
    jwt_bundles: Object.fromEntries(
      [...content.jwtBundles].map(([trustDomain, authorities]) => [
        trustDomain,
        authorities.map((authority) => ({ key_id: authority.keyId, public_key: base64(authority.publicKeyDer), expires_at: authority.expiresAt })),
      ]),
    ),
    entries: content.x509.entries.map((entry) => ({
      id: entry.id,
      spiffe_id: entry.spiffeId,
      selectors: entry.selectors.map((selector) => ({ type: selector.type, value: selector.value })),
      federates_with: entry.federatesWith,
      admin: entry.admin,
      downstream: entry.downstream,
      revision_number: entry.revisionNumber,
      store_svid: entry.storeSvid,
      hint: entry.hint,
      created_at: entry.createdAt,
      disable_x509_svid_prefetch: entry.disableX509SvidPrefetch,
    })),
    x509_svids: [...content.x509.svids].map(([entryId, svid]) => ({
      entry_id: entryId,
      spiffe_id: svid.spiffeId,
      entry_revision: svid.entryRevision,
      cert_chain: svid.certChain.map(base64),
      private_key: base64(svid.privateKeyPkcs8),
    })),
    jwt_svids: content.jwtSvids.map((cached) => ({
      spiffe_id: cached.spiffeId,
      audience: cached.audience,
      token: cached.svid.token,
      hint: cached.svid.hint,
      issued_at: cached.svid.issuedAt,
      expires_at: cached.svid.expiresAt,
    })),
  };
  return `${JSON.stringify(file)}\n`;
}

/**
 * Decodes the file's JSON text. Checks only the form of every value (types, SPIFFE IDs,
 * trust domain names, selectors, DER certificates); whether the SVIDs can be trusted is
 * for {@link checkRuntimeCache}. Throws an Error naming the first value at fault when
 * the file is not a runtime cache file of this version, e.g. because it was cut short.
 */
export function decodeRuntimeCache(text: string): RuntimeCacheContent {
  if (text.trim() === "") {
    throw new Error("the file is empty");
  }

  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new Error(`not valid JSON (${(error as Error).message})`, { cause: error });
  }
  const file = readObject(parsed, "the file");
  if (file.version !== RUNTIME_CACHE_VERSION) {
    throw new Error(`unsupported version ${JSON.stringify(file.version)}, expected ${RUNTIME_CACHE_VERSION}`);
  }

  const bundles = new Map<string, Buffer[]>();
  for (const [name, roots] of Object.entries(readObject(file.bundles, "bundles"))) {
    bundles.set(readTrustDomain(name, "bundles"), readList(roots, `bundles.${name}`).map((root, index) => readCertificate(root, `bundles.${name}[${index}]`)));
  }

  const jwtBundles = new Map<string, JwtAuthority[]>();
  for (const [name, authorities] of Object.entries(readObject(file.jwt_bundles, "jwt_bundles"))) {
    const path = `jwt_bundles.${name}`;
    jwtBundles.set(
      readTrustDomain(name, "jwt_bundles"),
      readList(authorities, path).map((value, index) => readJwtAuthority(value, `${path}[${index}]`)),
    );
  }

  const entries = readList(file.entries, "entries").map((value, index) => readEntry(value, `entries[${index}]`));
  const svids = new Map<string, CachedX509Svid>();
  readList(file.x509_svids, "x509_svids").forEach((value, index) => {
    const [entryId, svid] = readX509Svid(value, `x509_svids[${index}]`);
    svids.set(entryId, svid);
  });
  const jwtSvids = readList(file.jwt_svids, "jwt_svids").map((value, index) => readJwtSvid(value, `jwt_svids[${index}]`));

  return {
    trustDomain: readTrustDomain(readString(file.trust_domain, "trust_domain"), "trust_domain"),
    agentSpiffeId: readSpiffeId(file.agent_spiffe_id, "agent_spiffe_id"),
    x509: { entries, svids, bundles },
    jwtBundles,
    jwtSvids,
  };
}

function readEntry(value: unknown, path: string): CachedEntry {
  const entry = readObject(value, path);
  const selectors = readList(entry.selectors, `${path}.selectors`).map((item, index) => {
    const selector = readObject(item, `${path}.selectors[${index}]`);
    const parsed = { type: readString(selector.type, `${path}.selectors[${index}].type`), value: readString(selector.value, `${path}.selectors[${index}].value`) };
    try {
      return validateSelector(parsed);
    } catch (error) {
      throw new Error(`${path}.selectors[${index}]: ${(error as Error).message}`, { cause: error });
    }
  });
  if (selectors.length === 0) {
    throw new Error(`${path}.selectors is empty`);
  }

  return {
    id: readNonEmptyString(entry.id, `${path}.id`),
    spiffeId: readSpiffeId(entry.spiffe_id, `${path}.spiffe_id`),
    selectors,
    federatesWith: readList(entry.federates_with, `${path}.federates_with`).map((name, index) =>
      readTrustDomain(readString(name, `${path}.federates_with[${index}]`), `${path}.federates_with[${index}]`),
    ),
    admin: readBoolean(entry.admin, `${path}.admin`),
    downstream: readBoolean(entry.downstream, `${path}.downstream`),
    revisionNumber: readInteger(entry.revision_number, `${path}.revision_number`),
    storeSvid: readBoolean(entry.store_svid, `${path}.store_svid`),
    hint: readString(entry.hint, `${path}.hint`),
    createdAt: readInteger(entry.created_at, `${path}.created_at`),
    disableX509SvidPrefetch: readBoolean(entry.disable_x509_svid_prefetch, `${path}.disable_x509_svid_prefetch`),
  };
}

function readX509Svid(value: unknown, path: string): [string, CachedX509Svid] {
  const svid = readObject(value, path);
  const certChain = readList(svid.cert_chain, `${path}.cert_chain`).map((der, index) => readCertificate(der, `${path}.cert_chain[${index}]`));
  if (certChain.length === 0) {
    throw new Error(`${path}.cert_chain is empty`);
  }

  const leaf = new X509Certificate(certChain[0] as Buffer);
  return [
    readNonEmptyString(svid.entry_id, `${path}.entry_id`),
    {
      certChain,
      privateKeyPkcs8: readBase64(svid.private_key, `${path}.private_key`),
      spiffeId: readSpiffeId(svid.spiffe_id, `${path}.spiffe_id`),
      entryRevision: readInteger(svid.entry_revision, `${path}.entry_revision`),
      notBeforeMs: Date.parse(leaf.validFrom),
      notAfterMs: Date.parse(leaf.validTo),
    },
  ];
}

function readJwtAuthority(value: unknown, path: string): JwtAuthority {
  const authority = readObject(value, path);
  return {
    keyId: readNonEmptyString(authority.key_id, `${path}.key_id`),
    publicKeyDer: readBase64(authority.public_key, `${path}.public_key`),
    expiresAt: readInteger(authority.expires_at, `${path}.expires_at`),
  };
}

function readJwtSvid(value: unknown, path: string): CachedJwtSvid {
  const item = readObject(value, path);
  const spiffeId = readSpiffeId(item.spiffe_id, `${path}.spiffe_id`);
  const audience = readList(item.audience, `${path}.audience`).map((entry, index) => readNonEmptyString(entry, `${path}.audience[${index}]`));
  if (audience.length === 0) {
    throw new Error(`${path}.audience is empty`);
  }

  return {
    spiffeId,
    audience,
    svid: {
      token: readNonEmptyString(item.token, `${path}.token`),
      spiffeId,
      hint: readString(item.hint, `${path}.hint`),
      issuedAt: readInteger(item.issued_at, `${path}.issued_at`),
      expiresAt: readInteger(item.expires_at, `${path}.expires_at`),
    },
  };
}

function readObject(value: unknown, path: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new Error(`${path} must be a JSON object`);
  }
  return value as Record<string, unknown>;
}

function readList(value: unknown, path: string): unknown[] {
  if (!Array.isArray(value)) {
    throw new Error(`${path} must be a list`);
  }
  return value;
}

function readString(value: unknown, path: string): string {
  if (typeof value !== "string") {
    throw new Error(`${path} must be a string`);
  }
  return value;
}

function readNonEmptyString(value: unknown, path: string): string {
  const text = readString(value, path);
  if (text === "") {
    throw new Error(`${path} is empty`);
  }
  return text;
}

function readBoolean(value: unknown, path: string): boolean {
  if (typeof value !== "boolean") {
    throw new Error(`${path} must be true or false`);
  }
  return value;
}

function readInteger(value: unknown, path: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value)) {
    throw new Error(`${path} must be an integer`);
  }
  return value;
}

function readBase64(value: unknown, path: string): Buffer {
  const text = readNonEmptyString(value, path);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) {
    throw new Error(`${path} is not base64`);
  }
  return Buffer.from(text, "base64");
}

function readCertificate(value: unknown, path: string): Buffer {
  const der = readBase64(value, path);
  try {
    new X509Certificate(der);
  } catch (error) {
    throw new Error(`${path} is not a DER certificate`, { cause: error });
  }
  return der;
}

function readSpiffeId(value: unknown, path: string): string {
  try {
    return formatSpiffeId(parseSpiffeId(readString(value, path)));
  } catch (error) {
    throw new Error(`${path}: ${(error as Error).message}`, { cause: error });
  }
}

function readTrustDomain(name: string, path: string): string {
  try {
    return parseTrustDomain(name);
  } catch (error) {
    throw new Error(`${path}: ${(error as Error).message}`, { cause: error });
  }
}

function base64(der: Buffer): string {
  return der.toString("base64");
}
