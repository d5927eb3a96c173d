/**
 * tessera-agent as a real process against a real tessera-server process: federated
 * bundles set with `tessera-server bundle set` reach FetchX509SVID and FetchJWTBundles,
 * and FetchJWTSVID returns tokens that verify against the server's JWT authority.
 */
import { createPublicKey, generateKeyPairSync, verify } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { prepareAgentAttestation, serverBin, startAgent, startServer } from "../devtools/local-deployment.js";
import type { RunningAgent, RunningServer } from "../devtools/local-deployment.js";
import { WorkloadApiClient } from "../proto/index.js";
import type { workload } from "../proto/index.js";
import { createTestRootAuthority } from "../workload-api/test-pki.js";
import { workloadApiMetadata } from "./cli/api-client.js";

const trustDomain = "jwt.tessera.test";
const federatedDomain = "other.tessera.test";
const workloadId = `spiffe://${trustDomain}/workload/federated`;
const uid = process.getuid?.() ?? 0;
const serverBinExists = existsSync(serverBin);

interface JsonWebKeySet {
  keys: Array<Record<string, unknown> & { kid?: string }>;
}

/** Writes a SPIFFE bundle for the federated trust domain with one X.509 root and one JWT key. */
async function writeFederatedBundle(path: string, keyId = "other-jwt-key"): Promise<{ rootDer: Buffer; keyId: string }> {
  const authority = await createTestRootAuthority(federatedDomain);
  const jwtKey = generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({ format: "jwk" });
  const rootJwk = createPublicKey(authority.certificate.publicKey.toString("pem")).export({ format: "jwk" });
  const document = {
    keys: [
      { use: "x509-svid", ...rootJwk, x5c: [authority.certificateDer.toString("base64")] },
      { use: "jwt-svid", ...jwtKey, kid: keyId },
    ],
  };
  writeFileSync(path, JSON.stringify(document));
  return { rootDer: authority.certificateDer, keyId };
}

/** Reads the first message of a Workload API stream. */
function firstMessage<T>(start: () => NodeJS.EventEmitter & { cancel(): void }): Promise<T> {
  return new Promise((resolve, reject) => {
    const call = start();
    call.once("data", (message: T) => {
      call.cancel();
      resolve(message);
    });
    call.once("error", reject);
  });
}

/** Retries `read` until `check` accepts its result or 20 s pass, and returns the last result. */
async function pollUntil<T>(read: () => Promise<T>, check: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + 20_000;
  let value = await read();
  while (!check(value) && Date.now() < deadline) {
    await new Promise((wake) => setTimeout(wake, 250));
    value = await read();
  }
  return value;
}

function findBundle(bundles: Record<string, Buffer>, name: string): Buffer | undefined {
  return bundles[name] ?? bundles[`spiffe://${name}`];
}

describe.skipIf(!serverBinExists)("JWT-SVIDs and federation with tessera-server", () => {
  let folder: string;
  let server: RunningServer;
  let agent: RunningAgent;
  let client: WorkloadApiClient;
  let federated: { rootDer: Buffer; keyId: string };

  beforeAll(async () => {
    folder = mkdtempSync(join(tmpdir(), "tessera-jwt-federation-"));
    server = await startServer({ folder, trustDomain });

    const federatedPath = join(folder, "other-bundle.json");
    federated = await writeFederatedBundle(federatedPath);
    await server.cli(["bundle", "set", "-id", `spiffe://${federatedDomain}`, "-path", federatedPath, "-format", "spiffe"]);

    const nodeId = `spiffe://${trustDomain}/node/jwt`;
    const bundlePath = join(folder, "bundle.pem");
    const { joinToken } = await prepareAgentAttestation(server, nodeId, bundlePath);
    await server.cli([
      "entry",
      "create",
      "-parentID",
      nodeId,
      "-spiffeID",
      workloadId,
      "-selector",
      `unix:uid:${uid}`,
      "-federatesWith",
      `spiffe://${federatedDomain}`,
    ]);

    agent = await startAgent({
      folder,
      trustDomain,
      serverPort: server.port,
      trustBundlePath: bundlePath,
      joinToken,
      extraAgentConfig: ['experimental { sync_interval = "500ms" }'],
    });
    client = new WorkloadApiClient(`unix://${agent.socketPath}`, credentials.createInsecure());
  }, 60_000);

  afterAll(async () => {
    client?.close();
    await agent?.stop();
    await server?.stop();
    if (folder) rmSync(folder, { recursive: true, force: true });
  });

  it("serves the federated X.509 bundle with the SVID", async () => {
    const response = await pollUntil(
      () => firstMessage<workload.X509SVIDResponse__Output>(() => client.FetchX509SVID({}, workloadApiMetadata())).catch(() => undefined),
      (message) => message !== undefined && findBundle(message.federated_bundles, federatedDomain) !== undefined,
    );

    expect(response?.svids.map((svid) => svid.spiffe_id)).toEqual([workloadId]);
    expect(findBundle(response?.federated_bundles ?? {}, federatedDomain)).toEqual(federated.rootDer);
  });

  it("serves own and federated JWT bundles", async () => {
    const response = await firstMessage<workload.JWTBundlesResponse__Output>(() => client.FetchJWTBundles({}, workloadApiMetadata()));

    const own = findBundle(response.bundles, trustDomain);
    const other = findBundle(response.bundles, federatedDomain);
    expect(own).toBeDefined();
    expect(other).toBeDefined();
    expect((JSON.parse(own!.toString()) as JsonWebKeySet).keys.length).toBeGreaterThan(0);
    expect((JSON.parse(other!.toString()) as JsonWebKeySet).keys.map((key) => key.kid)).toEqual([federated.keyId]);
  });

  it("returns a verifiable, cached JWT-SVID", async () => {
    const fetchToken = (audience: string[]): Promise<workload.JWTSVIDResponse__Output> =>
      new Promise((resolve, reject) => {
        client.FetchJWTSVID({ audience }, workloadApiMetadata(), (error, response) => (error ? reject(error) : resolve(response!)));
      });

    const first = await fetchToken(["svc-a", "svc-b"]);
    expect(first.svids.map((svid) => svid.spiffe_id)).toEqual([workloadId]);
    const token = first.svids[0]!.svid;

    const [headerPart, payloadPart, signaturePart] = token.split(".");
    const header = JSON.parse(Buffer.from(headerPart!, "base64url").toString()) as { alg: string; kid: string };
    const claims = JSON.parse(Buffer.from(payloadPart!, "base64url").toString()) as { sub: string; aud: string[] | string };
    expect(header.alg).toBe("ES256");
    expect(claims.sub).toBe(workloadId);
    expect([claims.aud].flat().sort()).toEqual(["svc-a", "svc-b"]);

    const bundles = await firstMessage<workload.JWTBundlesResponse__Output>(() => client.FetchJWTBundles({}, workloadApiMetadata()));
    const keySet = JSON.parse(findBundle(bundles.bundles, trustDomain)!.toString()) as JsonWebKeySet;
    const jwk = keySet.keys.find((key) => key.kid === header.kid);
    expect(jwk).toBeDefined();
    const { kid: _kid, use: _use, ...publicJwk } = jwk!;
    const valid = verify(
      "sha256",
      Buffer.from(`${headerPart}.${payloadPart}`),
      { key: createPublicKey({ key: publicJwk, format: "jwk" }), dsaEncoding: "ieee-p1363" },
      Buffer.from(signaturePart!, "base64url"),
    );
    expect(valid).toBe(true);

    // The same audience set in another order hits the agent's cache.
    const second = await fetchToken(["svc-b", "svc-a"]);
    expect(second.svids[0]?.svid).toBe(token);
    const otherAudience = await fetchToken(["svc-c"]);
    expect(otherAudience.svids[0]?.svid).not.toBe(token);
  });

  it("streams a changed federated JWT bundle", async () => {
    const updates: workload.JWTBundlesResponse__Output[] = [];
    const call = client.FetchJWTBundles({}, workloadApiMetadata());
    call.on("data", (message: workload.JWTBundlesResponse__Output) => updates.push(message));
    call.on("error", () => undefined);

    try {
      await pollUntil(async () => updates.length, (count) => count > 0);
      expect(updates).toHaveLength(1);

      const rotatedPath = join(folder, "other-bundle-rotated.json");
      await writeFederatedBundle(rotatedPath, "rotated-jwt-key");
      await server.cli(["bundle", "set", "-id", `spiffe://${federatedDomain}`, "-path", rotatedPath, "-format", "spiffe"]);

      const keyIdsOf = (message: workload.JWTBundlesResponse__Output | undefined): Array<string | undefined> => {
        const other = message === undefined ? undefined : findBundle(message.bundles, federatedDomain);
        return other === undefined ? [] : (JSON.parse(other.toString()) as JsonWebKeySet).keys.map((key) => key.kid);
      };
      await pollUntil(async () => keyIdsOf(updates.at(-1)), (keyIds) => keyIds.includes("rotated-jwt-key"));
      expect(keyIdsOf(updates.at(-1))).toEqual(["rotated-jwt-key"]);
    } finally {
      call.cancel();
    }
  });
});
