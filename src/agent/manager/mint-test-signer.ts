import { parseAndVerifyCsr } from "../../server/ca/csr.js";
import { createRootCa, DEFAULT_CA_SUBJECT, signX509Svid } from "../../server/ca/x509-ca.js";
import type { X509Authority } from "../../server/ca/x509-ca.js";
import type { ServerClient, X509SvidResult } from "../client/server-client.js";

/** A ServerClient for minting tests, and what it recorded. */
export interface TestSigner {
  /** Only batchNewX509Svid works; it signs with the server's real CA code, in process. */
  client: ServerClient;
  /** DER root to put in the cache's bundle. */
  root: Buffer;
  /** Number of CSRs in each BatchNewX509SVID call, in call order. */
  batchSizes: number[];
  /** Entry IDs the signer refuses with NOT_FOUND, as a server does for unauthorized entries. */
  refused: Set<string>;
  /** Indexes (from 0) of the BatchNewX509SVID calls that fail as a whole, as when the server is unreachable. */
  failingCalls: Set<number>;
}

/**
 * Creates a signer for minting tests: SVIDs for `spiffe://example.org/<entry ID>` with
 * `ttlSeconds`, signed by a new root CA through the server's CSR check and signing code.
 * The server backdates notBefore by 10 s, so the certificates span `ttlSeconds + 10` s.
 */
export async function createTestSigner(ttlSeconds: number): Promise<TestSigner> {
  const ca: X509Authority = await createRootCa({ trustDomain: "example.org", ttlSeconds: 3600, subject: DEFAULT_CA_SUBJECT });
  const batchSizes: number[] = [];
  const refused = new Set<string>();
  const failingCalls = new Set<number>();

  async function signOne(entryId: string, csr: Buffer): Promise<X509SvidResult> {
    if (refused.has(entryId)) {
      return { entryId, error: { code: 5, message: "entry not found or not authorized" } };
    }
    const { publicKey } = await parseAndVerifyCsr(csr);
    const leaf = await signX509Svid(ca, { spiffeId: `spiffe://example.org/${entryId}`, publicKey, ttlSeconds });
    return { entryId, certChain: [Buffer.from(leaf.rawData)] };
  }

  const client = {
    async batchNewX509Svid(params: Array<{ entryId: string; csr: Buffer }>): Promise<X509SvidResult[]> {
      const callIndex = batchSizes.push(params.length) - 1;
      if (failingCalls.has(callIndex)) {
        throw new Error(`failed to mint X.509-SVIDs: call ${callIndex} failed`);
      }
      return Promise.all(params.map((param) => signOne(param.entryId, param.csr)));
    },
  } as unknown as ServerClient;

  return { client, root: Buffer.from(ca.certificate.rawData), batchSizes, refused, failingCalls };
}
