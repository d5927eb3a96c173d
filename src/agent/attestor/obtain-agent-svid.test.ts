import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Server, ServerCredentials, status } from "@grpc/grpc-js";
import { pino } from "pino";
import { afterEach, beforeAll, describe, expect, it } from "vitest";

import type { KeyManager, ManagedKey } from "../../../plugins/keymanager/key-manager.js";
import { createMemoryKeyManager } from "../../../plugins/keymanager/memory.js";
import { createJoinTokenAttestor } from "../../../plugins/nodeattestor/join-token.js";
import { certificatesToPem } from "../../spiffe/bundle.js";
import { captureLogger } from "../../workload-api/test-logger.js";
import { createTestRootAuthority, createTestSvid } from "../../workload-api/test-pki.js";
import type { TestAuthority, TestSvid } from "../../workload-api/test-pki.js";
import { ServerRpcError } from "../client/rpc-failure.js";
import { pkcs8ToPem } from "../crypto/ec-key.js";
import { readAgentState, writeAgentState } from "../storage/agent-state.js";
import { obtainAgentSvid } from "./obtain-agent-svid.js";
import { loadStoredAgentSvid } from "./stored-agent-svid.js";

const logger = pino({ level: "silent" });
const TRUST_DOMAIN = "example.org";
const AGENT_ID = `spiffe://${TRUST_DOMAIN}/spire/agent/join_token/abc`;
const FETCH_BUNDLE = "fetch the current bundle with `tessera-server bundle show` (or `spire-server bundle show`)";

let authority: TestAuthority;
let agentSvid: TestSvid;

beforeAll(async () => {
  authority = await createTestRootAuthority(TRUST_DOMAIN);
  agentSvid = await createTestSvid(authority, AGENT_ID);
});

/** A key manager that already holds `keys`, as the disk plugin does after a restart. */
function keyManagerWith(keys: ManagedKey[]): KeyManager {
  return {
    name: "disk",
    generateKey: () => Promise.reject(new Error("this test expects no new key")),
    getKey: async (id) => keys.find((key) => key.id === id),
    getKeys: async () => keys,
  };
}

/**
 * Starts a TLS gRPC server with no services whose certificate comes from a CA outside the
 * agent's bundle, as a server is after its CA changed. Returns its port.
 */
async function startUntrustedServer(servers: Server[]): Promise<number> {
  const otherAuthority = await createTestRootAuthority("other.org");
  const svid = await createTestSvid(otherAuthority, `spiffe://${TRUST_DOMAIN}/spire/server`);
  const server = new Server();
  const credentials = ServerCredentials.createSsl(
    null,
    [{ cert_chain: Buffer.from(certificatesToPem(svid.certChain)), private_key: Buffer.from(pkcs8ToPem(svid.privateKeyPkcs8)) }],
    false,
  );
  servers.push(server);
  return new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", credentials, (error, port) => (error ? reject(error) : resolve(port))),
  );
}

describe("obtainAgentSvid", () => {
  const folders: string[] = [];
  const servers: Server[] = [];
  afterEach(() => {
    for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
    for (const server of servers.splice(0)) server.forceShutdown();
  });

  function options(dataDir: string, keyManager: KeyManager, token?: string) {
    return {
      dataDir,
      // Port 1 on loopback refuses connections, so any attempt to attest fails fast.
      endpoint: { address: "127.0.0.1", port: 1, trustDomain: TRUST_DOMAIN },
      bootstrapBundle: [authority.certificateDer],
      insecureBootstrap: false,
      keyManager,
      nodeAttestor: createJoinTokenAttestor(token),
      logger,
      retryLimitMs: 0,
    };
  }

  function makeDataDir(): string {
    const folder = mkdtempSync(join(tmpdir(), "tessera-agent-state-"));
    folders.push(folder);
    return folder;
  }

  it("reuses a stored SVID whose key is present", async () => {
    const dataDir = makeDataDir();
    writeAgentState(dataDir, { svidChain: agentSvid.certChain, bundle: [authority.certificateDer], reattestable: false });
    const keys = [
      { id: "agent-svid-A", privateKeyPkcs8: (await createTestSvid(authority, AGENT_ID)).privateKeyPkcs8 },
      { id: "agent-svid-B", privateKeyPkcs8: agentSvid.privateKeyPkcs8 },
    ];

    const state = await obtainAgentSvid(options(dataDir, keyManagerWith(keys)));

    expect(state.spiffeId).toBe(AGENT_ID);
    expect(state.key.id).toBe("agent-svid-B");
    expect(state.notAfterMs).toBeGreaterThan(Date.now());
  });

  it("attests when the stored key is gone", async () => {
    const dataDir = makeDataDir();
    writeAgentState(dataDir, { svidChain: agentSvid.certChain, bundle: [authority.certificateDer], reattestable: false });

    const error = await obtainAgentSvid(options(dataDir, createMemoryKeyManager(), "token")).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ServerRpcError);
    expect((error as ServerRpcError).message).toContain(
      `the agent SVID stored in ${join(dataDir, "agent-data.json")} cannot be used because no key in the memory KeyManager certifies it (the KeyManager contains no keys)`,
    );
    expect((error as ServerRpcError).message).toContain("Node attestation ran instead and failed: failed to attest agent: UNAVAILABLE");
  });

  it("explains an unusable SVID without a token", async () => {
    const dataDir = makeDataDir();
    writeAgentState(dataDir, { svidChain: agentSvid.certChain, bundle: [authority.certificateDer], reattestable: false });
    const otherKey = { id: "agent-svid-A", privateKeyPkcs8: (await createTestSvid(authority, AGENT_ID)).privateKeyPkcs8 };
    const captured = captureLogger();

    const error = await obtainAgentSvid({ ...options(dataDir, keyManagerWith([otherKey])), logger: captured.logger }).catch((e: unknown) => e);

    const problem = "no key in the disk KeyManager certifies it (the KeyManager contains 1 other key)";
    expect((error as Error).message).toContain(`cannot be used because ${problem}. Node attestation ran instead and failed: join token attestation needs a token`);
    const warning = captured.lines.find((line) => line.msg === "The stored agent SVID cannot be used; starting node attestation");
    expect(warning?.level).toBe(40);
    expect(warning?.problem).toBe(problem);
    expect(warning?.path).toBe(join(dataDir, "agent-data.json"));
  });

  it("reports an expired stored SVID", async () => {
    const dataDir = makeDataDir();
    writeAgentState(dataDir, { svidChain: agentSvid.certChain, bundle: [authority.certificateDer], reattestable: false });
    const keys = [{ id: "agent-svid-A", privateKeyPkcs8: agentSvid.privateKeyPkcs8 }];

    const afterExpiry = agentSvid.notAfter.getTime() + 1000;
    const stored = await loadStoredAgentSvid(dataDir, TRUST_DOMAIN, keyManagerWith(keys), afterExpiry);
    const beforeExpiry = await loadStoredAgentSvid(dataDir, TRUST_DOMAIN, keyManagerWith(keys));

    // The certificate stores whole seconds.
    const certifiedNotAfter = new Date(Math.floor(agentSvid.notAfter.getTime() / 1000) * 1000);
    expect(stored).toEqual({ kind: "unusable", path: join(dataDir, "agent-data.json"), problem: `it expired at ${certifiedNotAfter.toISOString()}` });
    expect(beforeExpiry.kind).toBe("usable");
  });

  it("reports a stored SVID of another trust domain", async () => {
    const dataDir = makeDataDir();
    writeAgentState(dataDir, { svidChain: agentSvid.certChain, bundle: [authority.certificateDer], reattestable: false });
    const keys = [{ id: "agent-svid-A", privateKeyPkcs8: agentSvid.privateKeyPkcs8 }];

    const stored = await loadStoredAgentSvid(dataDir, "other.org", keyManagerWith(keys));

    expect(stored.kind).toBe("unusable");
    expect(stored.kind === "unusable" ? stored.problem : "").toContain("is not in the trust domain other.org");
  });

  it("explains a server outside the trust bundle", async () => {
    const port = await startUntrustedServer(servers);
    const settings = { ...options(makeDataDir(), createMemoryKeyManager(), "token"), trustBundlePath: "/opt/tessera/bundle.pem" };
    settings.endpoint = { ...settings.endpoint, port };

    const error = await obtainAgentSvid(settings).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ServerRpcError);
    expect((error as ServerRpcError).code).toBe(status.UNAVAILABLE);
    expect((error as ServerRpcError).message).toBe(
      `failed to attest agent: TLS verification of the server at 127.0.0.1:${port} failed (self-signed certificate in certificate chain): ` +
        `the server's certificate does not chain to the trust bundle in trust_bundle_path (/opt/tessera/bundle.pem): ${FETCH_BUNDLE}`,
    );
  });

  it("retries attestation after 5 s", async () => {
    // Six seconds leave room for the first retry, about 5 s later, but not for the second,
    // about 7.5 s after that, so attestation then ends with the last error.
    const port = await startUntrustedServer(servers);
    const captured = captureLogger();
    const settings = { ...options(makeDataDir(), createMemoryKeyManager(), "token"), logger: captured.logger, retryLimitMs: 6000 };
    settings.endpoint = { ...settings.endpoint, port };

    const error = await obtainAgentSvid(settings).catch((e: unknown) => e);

    const retries = captured.lines.filter((line) => line.msg === "Node attestation failed; retrying");
    expect(retries).toHaveLength(1);
    const retryIntervalSeconds = Number.parseFloat(String(retries[0]?.retry_interval));
    expect(String(retries[0]?.retry_interval)).toMatch(/^\d+(\.\d+)?s$/);
    expect(retryIntervalSeconds).toBeGreaterThanOrEqual(4.5);
    expect(retryIntervalSeconds).toBeLessThanOrEqual(5.5);
    expect(retries[0]?.error).toContain("does not chain to the trust bundle in trust_bundle_path");
    expect((error as Error).message).toContain("does not chain to the trust bundle in trust_bundle_path");
  });

  it("explains a missing join token", async () => {
    await expect(obtainAgentSvid(options(makeDataDir(), keyManagerWith([])))).rejects.toThrow(
      /join token attestation needs a token: set agent.join_token or agent.join_token_file, or pass -joinToken/,
    );
  });

  it("rejects a corrupt state file", () => {
    const dataDir = makeDataDir();
    writeFileSync(join(dataDir, "agent-data.json"), '{"svid": "not a list"}');

    expect(() => readAgentState(dataDir)).toThrow(/invalid agent state .*agent-data.json: "svid" must be a list of base64 strings; delete the file/);
  });

  it("reads nothing from an empty data_dir", () => {
    expect(readAgentState(makeDataDir())).toBeUndefined();
  });
});
