/**
 * End to end: a second tessera-agent configured with the socket of a running one must
 * refuse to start before it attests, so the running agent keeps its socket and the
 * second agent's single-use join token stays unused.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agentBin, prepareAgentAttestation, startAgent, startServer, writeAgentFiles } from "../../src/devtools/local-deployment.js";
import type { RunningAgent, RunningServer } from "../../src/devtools/local-deployment.js";

const execFileAsync = promisify(execFile);
const trustDomain = "socket.tessera.test";

describe("agent on a socket in use", () => {
  let folder: string;
  let server: RunningServer;
  let first: RunningAgent;
  const others: RunningAgent[] = [];

  beforeAll(async () => {
    folder = mkdtempSync(join(tmpdir(), "tessera-socket-"));
    server = await startServer({ folder, trustDomain });
    const { joinToken } = await prepareAgentAttestation(server, `spiffe://${trustDomain}/first`, join(folder, "bundle.pem"));
    first = await startAgent({ folder: join(folder, "first"), trustDomain, serverPort: server.port, trustBundlePath: join(folder, "bundle.pem"), joinToken });
  });

  afterAll(async () => {
    for (const agent of others) await agent.stop();
    await first?.stop();
    await server?.stop();
    if (folder) rmSync(folder, { recursive: true, force: true });
  });

  it("refuses to start without spending its join token", async () => {
    const { joinToken } = await prepareAgentAttestation(server, `spiffe://${trustDomain}/second`, join(folder, "bundle.pem"));
    const secondFolder = join(folder, "second");

    const files = writeAgentFiles({
      folder: secondFolder,
      trustDomain,
      serverPort: server.port,
      trustBundlePath: join(folder, "bundle.pem"),
      joinToken,
      socketPath: first.socketPath,
    });

    const attempt = execFileAsync(process.execPath, [agentBin, "run", "-config", files.configPath, "-joinTokenFile", files.joinTokenPath]);

    const failure = (await attempt.then(
      () => undefined,
      (error: unknown) => error,
    )) as { code?: number; stdout?: string; stderr?: string } | undefined;
    expect(failure?.code).toBe(1);
    expect(`${failure?.stdout}${failure?.stderr}`).toContain(`another process is already serving the Workload API on ${first.socketPath}`);
    await execFileAsync(process.execPath, [agentBin, "healthcheck", "-socketPath", first.socketPath]);

    const third = await startAgent({ folder: join(folder, "third"), trustDomain, serverPort: server.port, trustBundlePath: join(folder, "bundle.pem"), joinToken });
    others.push(third);
    await execFileAsync(process.execPath, [agentBin, "healthcheck", "-socketPath", third.socketPath]);
  });
});
