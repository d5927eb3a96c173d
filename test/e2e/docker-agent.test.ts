/**
 * End to end: tessera-server and a tessera-agent configured with the docker and unix
 * workload attestors, against a private dockerd (own data folder, no network). Workload
 * API clients run as the main process of labelled containers, which see the agent's
 * socket folder through a bind mount. Needs root and docker.io, and `npm run build` first.
 */
import { execFile } from "node:child_process";
import { X509Certificate, randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agentBin, prepareAgentAttestation, readLogLines, repositoryRoot, startAgent, startServer } from "../../src/devtools/local-deployment.js";
import type { RunningAgent, RunningServer } from "../../src/devtools/local-deployment.js";
import { dockerEngineUnavailableReason, importHostUsrImage, removeCgroupTree, startDockerEngine } from "./docker-engine.js";
import type { DockerEngine } from "./docker-engine.js";

const execFileAsync = promisify(execFile);
const skipReason = dockerEngineUnavailableReason();
const trustDomain = "docker.tessera.test";
const nodeId = `spiffe://${trustDomain}/node`;
const webId = `spiffe://${trustDomain}/web`;
/** Where containers see the agent's socket folder and the folder they write SVIDs to. */
const socketFolderInContainer = "/run/tessera";
const outputFolderInContainer = "/out";

interface FetchOutcome {
  code: number;
  stdout: string;
  stderr: string;
}

describe.skipIf(skipReason !== undefined)(`docker attestor in tessera-agent${skipReason === undefined ? "" : ` (skipped: ${skipReason})`}`, () => {
  const suffix = randomBytes(4).toString("hex");
  const image = `tessera-host-usr:${suffix}`;
  let folder: string;
  let engine: DockerEngine | undefined;
  let server: RunningServer | undefined;
  let agent: RunningAgent | undefined;
  const containerIds: string[] = [];
  const dockerHost = (): string => `unix://${join(folder, "docker", "docker.sock")}`;

  beforeAll(async () => {
    folder = mkdtempSync(join(tmpdir(), "tessera-docker-agent-"));
    mkdirSync(join(folder, "out"));
    engine = await startDockerEngine(join(folder, "docker"));
    await importHostUsrImage(engine, folder, image);

    server = await startServer({ folder, trustDomain });
    const bundlePath = join(folder, "bundle.pem");
    const { joinToken } = await prepareAgentAttestation(server, nodeId, bundlePath);
    await server.cli(["entry", "create", "-parentID", nodeId, "-spiffeID", webId, "-selector", "docker:label:app:web"]);

    agent = await startAgent({
      folder,
      trustDomain,
      serverPort: server.port,
      trustBundlePath: bundlePath,
      joinToken,
      // The refused caller's selectors are logged only for the listed types.
      extraAgentConfig: ['log_selectors = ["docker"]'],
      extraPlugins: [
        'WorkloadAttestor "docker" {',
        "  plugin_data {",
        `    docker_socket_path = "${dockerHost()}"`,
        "  }",
        "}",
      ],
    });
  }, 120_000);

  afterAll(async () => {
    for (const id of containerIds) {
      await engine?.docker(["rm", "-f", id]).catch(() => "");
    }
    await agent?.stop();
    await server?.stop();
    await engine?.stop();
    for (const id of containerIds) {
      removeCgroupTree(join("docker", id));
    }
    if (folder) rmSync(folder, { recursive: true, force: true });
  }, 60_000);

  /**
   * Runs `tessera-agent api fetch x509 -write /out/<name>` as the main process of a new
   * container labelled `app=<app>`, with the host's /usr and this repository mounted
   * read-only, and returns its exit code and output.
   */
  async function fetchFromContainer(app: string, name: string): Promise<FetchOutcome> {
    const idFile = join(folder, `${name}.cid`);
    const args = [
      "run", "--cidfile", idFile, "--network", "none", "--label", `app=${app}`,
      "-v", "/usr:/usr:ro",
      "-v", `${repositoryRoot}:${repositoryRoot}:ro`,
      "-v", `${dirname(agent!.socketPath)}:${socketFolderInContainer}:ro`,
      "-v", `${join(folder, "out")}:${outputFolderInContainer}`,
      image,
      "node", agentBin, "api", "fetch", "x509",
      "-socketPath", join(socketFolderInContainer, "api.sock"),
      "-write", join(outputFolderInContainer, name),
    ];

    try {
      const { stdout, stderr } = await execFileAsync("docker", args, { env: { ...process.env, DOCKER_HOST: dockerHost() } });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const failed = error as { code?: number; stdout?: string; stderr?: string };
      return { code: failed.code ?? -1, stdout: failed.stdout ?? "", stderr: failed.stderr ?? String(error) };
    } finally {
      containerIds.push(readFileSync(idFile, "utf8").trim());
    }
  }

  it("gives a container labelled app=web its SVID", async () => {
    const outcome = await fetchFromContainer("web", "web");

    expect(outcome.code, outcome.stderr).toBe(0);
    expect(outcome.stdout).toContain(webId);
    const leaf = new X509Certificate(readFileSync(join(folder, "out", "web", "svid.0.pem")));
    expect(leaf.subjectAltName).toBe(`URI:${webId}`);
  });

  it("gives no identity to a container labelled app=db", async () => {
    const outcome = await fetchFromContainer("db", "db");
    const refusal = readLogLines(agent!.logPath).find(
      (line) => line.msg === "No identity issued" && (line.selectors as string[]).includes("docker:label:app:db"),
    );

    expect(outcome.code).not.toBe(0);
    expect(outcome.stderr).toContain("no identity issued");
    expect(refusal?.selectors).toContain(`docker:image_id:${image}`);
    expect(refusal?.selectors).not.toContain("docker:label:app:web");
  });

  it("gives no identity to a host process", async () => {
    const fetch = execFileAsync(process.execPath, [agentBin, "api", "fetch", "x509", "-socketPath", agent!.socketPath]);

    await expect(fetch).rejects.toMatchObject({ stderr: expect.stringContaining("no identity issued") });
  });
});
