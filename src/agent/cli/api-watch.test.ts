import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createUnixAttestor } from "../../../plugins/workloadattestor/unix/unix-attestor.js";
import { captureLogger } from "../../workload-api/test-logger.js";
import { createTestIdentitySource } from "../../workload-api/test-identity-source.js";
import type { TestIdentitySource } from "../../workload-api/test-identity-source.js";
import { createTestRootAuthority, createTestSvid } from "../../workload-api/test-pki.js";
import type { TestAuthority } from "../../workload-api/test-pki.js";
import { startWorkloadEndpoint } from "../../workload-api/workload-endpoint.js";
import type { WorkloadEndpoint } from "../../workload-api/workload-endpoint.js";
import { run } from "./api-watch.js";
import { captureIo } from "./cli-test-support.js";

const OWN_UID = `uid:${process.getuid?.()}`;

let root: TestAuthority;
let folder: string;
let socketPath: string;
let identities: TestIdentitySource;
let endpoint: WorkloadEndpoint | undefined;

beforeEach(async () => {
  root ??= await createTestRootAuthority("example.org");
  folder = mkdtempSync(join(tmpdir(), "tessera-api-watch-"));
  socketPath = join(folder, "api.sock");
  identities = createTestIdentitySource({ trustDomain: "example.org", bundle: [root.certificateDer], federatedBundles: new Map(), entries: [] });
});

afterEach(async () => {
  await endpoint?.close();
  endpoint = undefined;
  rmSync(folder, { recursive: true, force: true });
});

async function register(path: string): Promise<void> {
  const svid = await createTestSvid(root, `spiffe://example.org/${path}`);
  identities.state.entries.push({
    entryId: `entry-${path}`,
    spiffeId: `spiffe://example.org/${path}`,
    selectors: [{ type: "unix", value: OWN_UID }],
    certChain: svid.certChain,
    privateKeyPkcs8: svid.privateKeyPkcs8,
  });
}

async function startAgentEndpoint(): Promise<void> {
  endpoint = await startWorkloadEndpoint({
    socketPath,
    identitySource: identities.source,
    attestors: [createUnixAttestor({ discoverWorkloadPath: false, workloadSizeLimit: 0 })],
    logger: captureLogger().logger,
  });
}

async function waitFor(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 10));
}

describe("api watch", () => {
  it("prints every update until stopped", async () => {
    await register("web");
    await startAgentEndpoint();
    const captured = captureIo();
    const stop = new AbortController();

    const exitCode = run(["-socketPath", socketPath], captured.io, stop.signal);
    await waitFor(() => captured.stdout().includes("Received 1 svid"));
    await register("api");
    identities.changed();
    await waitFor(() => captured.stdout().includes("Received 2 svids"));
    stop.abort();

    expect(await exitCode).toBe(0);
    expect(captured.stdout()).toMatch(/^Received 1 svid after /);
    expect(captured.stdout()).toContain("SPIFFE ID:\t\tspiffe://example.org/api");
    expect(captured.stderr()).toBe("");
  });

  it("retries while no agent listens", async () => {
    const captured = captureIo();
    const stop = new AbortController();

    const exitCode = run(["-socketPath", socketPath], captured.io, stop.signal);
    await waitFor(() => captured.stderr() !== "");
    stop.abort();

    expect(await exitCode).toBe(0);
    expect(captured.stderr()).toMatch(
      new RegExp(`^no agent is listening on ${socketPath}: start tessera-agent or pass -socketPath; retrying in [0-9.]+m?s\\n$`),
    );
  });

  it("retries after a denied stream", async () => {
    await startAgentEndpoint();
    const captured = captureIo();
    const stop = new AbortController();

    const exitCode = run(["-socketPath", socketPath], captured.io, stop.signal);
    await waitFor(() => captured.stderr() !== "");
    stop.abort();

    expect(await exitCode).toBe(0);
    expect(captured.stderr()).toMatch(/^no identity issued for this process: .*; retrying in /);
  });
});
