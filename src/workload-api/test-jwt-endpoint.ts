import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { createUnixAttestor } from "../../plugins/workloadattestor/unix/unix-attestor.js";
import { WorkloadApiClient } from "../proto/index.js";
import { createTestIdentitySource } from "./test-identity-source.js";
import type { TestIdentitySource } from "./test-identity-source.js";
import { createTestJwtSource } from "./test-jwt-source.js";
import type { TestJwtEntry, TestJwtSource } from "./test-jwt-source.js";
import { createTestJwtKey } from "./test-jwt-keys.js";
import type { TestJwtKey } from "./test-jwt-keys.js";
import { captureLogger } from "./test-logger.js";
import type { CapturedLogger } from "./test-logger.js";
import { startWorkloadEndpoint } from "./workload-endpoint.js";
import type { WorkloadEndpoint } from "./workload-endpoint.js";

/** The unix selector that matches the test process itself. */
export const OWN_UID_SELECTOR = { type: "unix", value: `uid:${process.getuid?.()}` };

/** Keys shared by the JWT tests: two for the own trust domain, one for a federated one. */
export interface TestJwtKeys {
  own: TestJwtKey;
  ownRsa: TestJwtKey;
  partner: TestJwtKey;
}

let sharedKeys: TestJwtKeys | undefined;

/** Returns keys made once per test file, because RSA key generation is slow. */
export function testJwtKeys(): TestJwtKeys {
  sharedKeys ??= {
    own: createTestJwtKey("own-ec", "ES256"),
    ownRsa: createTestJwtKey("own-rsa", "RS256"),
    partner: createTestJwtKey("partner-ec", "ES256"),
  };
  return sharedKeys;
}

/** A Workload API endpoint with a test JwtSource on a socket in its own temporary folder. */
export interface TestJwtEndpoint {
  socketPath: string;
  folder: string;
  jwt: TestJwtSource;
  /** The X.509 source; its `changed()` stands for an entry change in the agent's cache. */
  identities: TestIdentitySource;
  captured: CapturedLogger;
  client(): WorkloadApiClient;
  /** Closes clients and the endpoint and removes the folder. */
  stop(): Promise<void>;
}

/** Options of {@link startTestJwtEndpoint}. */
export interface TestJwtEndpointOptions {
  entries?: TestJwtEntry[];
  allowUnauthenticatedVerifiers?: boolean;
  allowedForeignJwtClaims?: string[];
}

/**
 * Starts a real endpoint (caller listener, unix attestor) whose JwtSource serves
 * `example.org` with the own keys and `partner.test` with the partner key, and signs
 * tokens with the own EC key.
 */
export async function startTestJwtEndpoint(options: TestJwtEndpointOptions = {}): Promise<TestJwtEndpoint> {
  const keys = testJwtKeys();
  const folder = mkdtempSync(join(tmpdir(), "tessera-jwt-endpoint-"));
  const socketPath = join(folder, "api.sock");
  const captured = captureLogger();
  const jwt = createTestJwtSource({
    trustDomain: "example.org",
    bundles: new Map([
      ["example.org", [keys.own.authority, keys.ownRsa.authority]],
      ["partner.test", [keys.partner.authority]],
    ]),
    entries: options.entries ?? [],
    signingKey: keys.own,
  });
  const identities = createTestIdentitySource({
    trustDomain: "example.org",
    bundle: [],
    federatedBundles: new Map(),
    entries: [],
  });

  let endpoint: WorkloadEndpoint;
  try {
    endpoint = await startWorkloadEndpoint({
      socketPath,
      identitySource: identities.source,
      attestors: [createUnixAttestor({ discoverWorkloadPath: false, workloadSizeLimit: 0 })],
      logger: captured.logger,
      jwtSource: jwt.source,
      allowUnauthenticatedVerifiers: options.allowUnauthenticatedVerifiers,
      allowedForeignJwtClaims: options.allowedForeignJwtClaims,
    });
  } catch (error) {
    rmSync(folder, { recursive: true, force: true });
    throw error;
  }

  const clients: grpc.Client[] = [];
  return {
    socketPath,
    folder,
    jwt,
    identities,
    captured,
    client() {
      const client = new WorkloadApiClient(`unix://${socketPath}`, grpc.credentials.createInsecure());
      clients.push(client);
      return client;
    },
    async stop() {
      for (const client of clients.splice(0)) client.close();
      await endpoint.close();
      rmSync(folder, { recursive: true, force: true });
    },
  };
}

/** Returns metadata with the Workload API security header. */
export function securityHeader(): grpc.Metadata {
  const metadata = new grpc.Metadata();
  metadata.set("workload.spiffe.io", "true");
  return metadata;
}

/** Runs a unary call and returns its error or response. */
export function unary<Response>(
  start: (callback: (error: grpc.ServiceError | null, response?: Response) => void) => void,
): Promise<{ error: grpc.ServiceError | null; response?: Response }> {
  return new Promise((resolve) => start((error, response) => resolve({ error, response })));
}
