import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createUnixAttestor } from "../../../plugins/workloadattestor/unix/unix-attestor.js";
import { parsePemCertificates } from "../../spiffe/bundle.js";
import { captureLogger } from "../../workload-api/test-logger.js";
import { createTestIdentitySource } from "../../workload-api/test-identity-source.js";
import type { TestIdentitySource } from "../../workload-api/test-identity-source.js";
import { createTestIntermediateAuthority, createTestRootAuthority, createTestSvid } from "../../workload-api/test-pki.js";
import type { TestAuthority } from "../../workload-api/test-pki.js";
import { startWorkloadEndpoint } from "../../workload-api/workload-endpoint.js";
import type { WorkloadEndpoint } from "../../workload-api/workload-endpoint.js";
import { run } from "./api-fetch-x509.js";
import { captureIo } from "./cli-test-support.js";

const OWN_UID = `uid:${process.getuid?.()}`;

let root: TestAuthority;
let partnerRoot: TestAuthority;
let folder: string;
let socketPath: string;
let identities: TestIdentitySource;
let endpoint: WorkloadEndpoint | undefined;

beforeEach(async () => {
  root ??= await createTestRootAuthority("example.org");
  partnerRoot ??= await createTestRootAuthority("partner.test");
  folder = mkdtempSync(join(tmpdir(), "tessera-api-fetch-"));
  socketPath = join(folder, "api.sock");
  identities = createTestIdentitySource({
    trustDomain: "example.org",
    bundle: [root.certificateDer],
    federatedBundles: new Map([["partner.test", [partnerRoot.certificateDer]]]),
    entries: [],
  });
});

afterEach(async () => {
  await endpoint?.close();
  endpoint = undefined;
  rmSync(folder, { recursive: true, force: true });
});

async function startAgentEndpoint(): Promise<void> {
  endpoint = await startWorkloadEndpoint({
    socketPath,
    identitySource: identities.source,
    attestors: [createUnixAttestor({ discoverWorkloadPath: false, workloadSizeLimit: 0 })],
    logger: captureLogger().logger,
  });
}

/** Registers this test process for `spiffe://example.org/<path>` with an SVID issued through an intermediate CA. */
async function registerWithIntermediate(path: string): Promise<Buffer> {
  const intermediate = await createTestIntermediateAuthority(root, "example.org");
  const svid = await createTestSvid(intermediate, `spiffe://example.org/${path}`);
  identities.state.entries.push({
    entryId: `entry-${path}`,
    spiffeId: `spiffe://example.org/${path}`,
    selectors: [{ type: "unix", value: OWN_UID }],
    certChain: svid.certChain,
    privateKeyPkcs8: svid.privateKeyPkcs8,
    federatesWith: ["partner.test"],
  });
  return intermediate.certificateDer;
}

function openssl(args: string[]): string {
  return execFileSync("openssl", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

describe("api fetch x509", () => {
  it("writes files that openssl verifies", async () => {
    const intermediateDer = await registerWithIntermediate("web");
    await startAgentEndpoint();
    const output = join(folder, "out");
    mkdirSync(output);
    const captured = captureIo();

    const exitCode = await run(["-socketPath", socketPath, "-write", output], captured.io);

    expect(captured.stderr()).toBe("");
    expect(exitCode).toBe(0);
    const svidPem = join(output, "svid.0.pem");
    const chain = parsePemCertificates(readFileSync(svidPem, "utf8"));
    expect(chain).toHaveLength(2);
    expect(chain[1]!.equals(intermediateDer)).toBe(true);
    const verified = openssl(["verify", "-CAfile", join(output, "bundle.0.pem"), "-untrusted", svidPem, svidPem]);
    expect(verified.trim()).toBe(`${svidPem}: OK`);
    expect(statSync(join(output, "svid.0.key")).mode & 0o777).toBe(0o600);
    const keyPublic = openssl(["pkey", "-in", join(output, "svid.0.key"), "-pubout"]);
    const certificatePublic = openssl(["x509", "-in", svidPem, "-noout", "-pubkey"]);
    expect(keyPublic).toBe(certificatePublic);
    const federated = parsePemCertificates(readFileSync(join(output, "federated_bundle.0.0.pem"), "utf8"));
    expect(federated[0]!.equals(partnerRoot.certificateDer)).toBe(true);
    expect(captured.stdout()).toContain(`Writing key #0 to file ${join(output, "svid.0.key")}.`);
  });

  it("creates a missing -write folder", async () => {
    await registerWithIntermediate("web");
    await startAgentEndpoint();
    const output = join(folder, "new-folder");
    const captured = captureIo();

    const exitCode = await run(["-socketPath", socketPath, "-write", output], captured.io);

    expect(exitCode).toBe(0);
    expect(statSync(output).mode & 0o777).toBe(0o700);
    expect(statSync(join(output, "svid.0.pem")).isFile()).toBe(true);
  });

  it("fails when the -write parent is missing", async () => {
    await registerWithIntermediate("web");
    await startAgentEndpoint();
    const output = join(folder, "missing-parent", "out");
    const captured = captureIo();

    const exitCode = await run(["-socketPath", socketPath, "-write", output], captured.io);

    expect(exitCode).not.toBe(0);
    expect(captured.stderr()).toContain(`failed to create ${output}`);
  });

  it("prints spire-agent's pretty layout", async () => {
    await registerWithIntermediate("web");
    await startAgentEndpoint();
    const captured = captureIo();

    const exitCode = await run(["-socketPath", socketPath], captured.io);

    expect(exitCode).toBe(0);
    const lines = captured.stdout().split("\n");
    expect(lines[0]).toMatch(/^Received 1 svid after [0-9.]+(ms|µs|s)$/);
    expect(lines[1]).toBe("");
    expect(lines[2]).toBe("SPIFFE ID:\t\tspiffe://example.org/web");
    expect(lines[3]).toMatch(/^SVID Valid After:\t\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000 UTC$/);
    expect(lines[5]).toMatch(/^Intermediate #1 Valid After:\t/);
    expect(lines[7]).toMatch(/^CA #1 Valid After:\t/);
    expect(lines[9]).toMatch(/^\[spiffe:\/\/partner.test\] CA #1 Valid After:\t/);
  });

  it("prints JSON with -output json", async () => {
    await registerWithIntermediate("web");
    await startAgentEndpoint();
    const captured = captureIo();

    const exitCode = await run(["-socketPath", socketPath, "-output", "json"], captured.io);

    expect(exitCode).toBe(0);
    const json = JSON.parse(captured.stdout()) as {
      svids: Array<{ spiffe_id: string; x509_svid: string; hint: string }>;
      crl: unknown[];
      federated_bundles: Record<string, string>;
    };
    expect(json.svids[0]!.spiffe_id).toBe("spiffe://example.org/web");
    expect(json.svids[0]!.hint).toBe("");
    expect(json.crl).toEqual([]);
    expect(Buffer.from(json.federated_bundles["spiffe://partner.test"]!, "base64").equals(partnerRoot.certificateDer)).toBe(true);
  });

  it("prints nothing with -silent", async () => {
    await registerWithIntermediate("web");
    await startAgentEndpoint();
    const captured = captureIo();

    const exitCode = await run(["-socketPath", socketPath, "-silent"], captured.io);

    expect(exitCode).toBe(0);
    expect(captured.stdout()).toBe("");
  });

  it("reads SPIFFE_ENDPOINT_SOCKET", async () => {
    await registerWithIntermediate("web");
    await startAgentEndpoint();
    const captured = captureIo({ SPIFFE_ENDPOINT_SOCKET: `unix://${socketPath}` });

    expect(await run([], captured.io)).toBe(0);
    expect(captured.stdout()).toContain("spiffe://example.org/web");
  });

  it("explains a missing agent", async () => {
    const captured = captureIo();

    const exitCode = await run(["-socketPath", socketPath], captured.io);

    expect(exitCode).toBe(1);
    expect(captured.stderr()).toBe(`no agent is listening on ${socketPath}: start tessera-agent or pass -socketPath\n`);
  });

  it("explains a missing registration", async () => {
    await startAgentEndpoint();
    const captured = captureIo();

    const exitCode = await run(["-socketPath", socketPath], captured.io);

    expect(exitCode).toBe(1);
    expect(captured.stderr()).toMatch(/^no identity issued for this process: create a registration entry whose selectors match it/);
  });

  it("rejects an unknown output format", async () => {
    const captured = captureIo();

    expect(await run(["-output", "yaml"], captured.io)).toBe(1);
    expect(captured.stderr()).toBe('invalid value "yaml" for flag -output: expected pretty or json\n');
  });
});
