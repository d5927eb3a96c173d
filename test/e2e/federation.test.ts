/**
 * End to end: two trust domains, each with its own tessera-server and tessera-agent,
 * federated through each other's bundles. A workload in one trust domain validates,
 * through its own agent, a JWT-SVID minted in the other, and receives the other trust
 * domain's X.509 bundle.
 */
import { execFile } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agentBin, prepareAgentAttestation, startAgent, startServer } from "../../src/devtools/local-deployment.js";
import type { RunningAgent, RunningServer } from "../../src/devtools/local-deployment.js";

const execFileAsync = promisify(execFile);
const uid = process.getuid?.() ?? 0;

interface TrustDomainSite {
  name: string;
  folder: string;
  server: RunningServer;
  agent: RunningAgent;
  workloadId: string;
}

/**
 * Starts a server and an agent for trust domain `name` and registers the current uid as
 * its workload. With `partner`, the server first stores the partner's bundle (an entry may
 * federate only with a trust domain whose bundle the server has) and the workload's entry
 * federates with it.
 */
async function startSite(root: string, name: string, partner?: TrustDomainSite): Promise<TrustDomainSite> {
  const folder = join(root, name);
  const server = await startServer({ folder, trustDomain: name });

  const federation: string[] = [];
  if (partner !== undefined) {
    const partnerBundlePath = join(folder, `${partner.name}.bundle.json`);
    writeFileSync(partnerBundlePath, await partner.server.cli(["bundle", "show", "-format", "spiffe"]));
    await server.cli(["bundle", "set", "-id", `spiffe://${partner.name}`, "-path", partnerBundlePath, "-format", "spiffe"]);
    federation.push("-federatesWith", `spiffe://${partner.name}`);
  }

  const nodeId = `spiffe://${name}/node`;
  const bundlePath = join(folder, "bundle.pem");
  const { joinToken } = await prepareAgentAttestation(server, nodeId, bundlePath);
  const workloadId = `spiffe://${name}/workload`;
  await server.cli(["entry", "create", "-parentID", nodeId, "-spiffeID", workloadId, "-selector", `unix:uid:${uid}`, ...federation]);

  const agent = await startAgent({ folder, trustDomain: name, serverPort: server.port, trustBundlePath: bundlePath, joinToken });
  return { name, folder, server, agent, workloadId };
}

async function agentCli(agent: RunningAgent, args: string[]): Promise<string> {
  const { stdout } = await execFileAsync(process.execPath, [agentBin, ...args, "-socketPath", agent.socketPath]);
  return stdout;
}

describe("federation between two trust domains", () => {
  let root: string;
  let east: TrustDomainSite;
  let west: TrustDomainSite;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), "tessera-federation-"));
    west = await startSite(root, "west.tessera.test");
    east = await startSite(root, "east.tessera.test", west);
  });

  afterAll(async () => {
    for (const site of [east, west]) {
      await site?.agent.stop();
      await site?.server.stop();
    }
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it("validates a JWT-SVID minted in the other trust domain", async () => {
    const fetched = await agentCli(west.agent, ["api", "fetch", "jwt", "-audience", "east-service"]);
    const token = /eyJ[\w-]+\.[\w-]+\.[\w-]+/.exec(fetched)?.[0];
    expect(token).toBeDefined();

    const validated = await agentCli(east.agent, ["api", "validate", "jwt", "-audience", "east-service", "-svid", token!]);

    expect(validated).toContain(west.workloadId);
  });

  it("serves the other trust domain's X.509 bundle", async () => {
    const westRoots = (await west.server.cli(["bundle", "show"])).trim();
    const westRoot = new X509Certificate(westRoots);

    let federated: Record<string, string> = {};
    const deadline = Date.now() + 30_000;
    while (federated[`spiffe://${west.name}`] === undefined && Date.now() < deadline) {
      const fetched = await agentCli(east.agent, ["api", "fetch", "x509", "-output", "json"]);
      federated = (JSON.parse(fetched) as { federated_bundles: Record<string, string> }).federated_bundles;
      if (federated[`spiffe://${west.name}`] === undefined) await new Promise((wake) => setTimeout(wake, 500));
    }

    const served = federated[`spiffe://${west.name}`];
    expect(served).toBeDefined();
    const servedRoot = new X509Certificate(Buffer.from(served!, "base64"));
    expect(servedRoot.fingerprint256).toBe(westRoot.fingerprint256);
  });
});
