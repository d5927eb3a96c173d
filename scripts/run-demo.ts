/**
 * `make run`: a whole Tessera system on this machine.
 *
 * Starts tessera-server and tessera-agent under `.demo/` in the repository and attests the
 * agent with a join token. It registers the invoking user (`unix:uid:<uid>`) as a
 * workload and prints the command that fetches its X.509-SVID. It stays in the foreground
 * until Ctrl-C, which stops both daemons. Every run starts from an empty `.demo/` folder.
 */
import { rmSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { userInfo } from "node:os";
import {
  agentBin,
  prepareAgentAttestation,
  repositoryRoot,
  startAgent,
  startServer,
} from "../src/devtools/local-deployment.js";
import type { RunningAgent, RunningServer } from "../src/devtools/local-deployment.js";

const trustDomain = "demo.tessera.test";
const demoFolder = join(repositoryRoot, ".demo");

async function main(): Promise<void> {
  rmSync(demoFolder, { recursive: true, force: true });
  mkdirSync(demoFolder, { recursive: true });

  const uid = process.getuid?.() ?? 0;
  const userName = safeUserName(uid);
  const nodeSpiffeId = `spiffe://${trustDomain}/demo/node`;
  const workloadSpiffeId = `spiffe://${trustDomain}/demo/user/${userName}`;

  let server: RunningServer | undefined;
  let agent: RunningAgent | undefined;

  const stopAll = async (): Promise<void> => {
    await agent?.stop();
    await server?.stop();
  };
  process.once("SIGINT", () => void stopAll().then(() => finish("Stopped tessera-agent and tessera-server.")));
  process.once("SIGTERM", () => void stopAll().then(() => finish("Stopped tessera-agent and tessera-server.")));

  try {
    console.log(`Starting tessera-server for trust domain ${trustDomain} ...`);
    server = await startServer({ folder: demoFolder, trustDomain });

    const bundlePath = join(demoFolder, "bundle.pem");
    const { joinToken } = await prepareAgentAttestation(server, nodeSpiffeId, bundlePath);
    await server.cli([
      "entry",
      "create",
      "-parentID",
      nodeSpiffeId,
      "-spiffeID",
      workloadSpiffeId,
      "-selector",
      `unix:uid:${uid}`,
    ]);

    console.log("Starting tessera-agent ...");
    agent = await startAgent({
      folder: demoFolder,
      trustDomain,
      serverPort: server.port,
      trustBundlePath: bundlePath,
      joinToken,
    });
  } catch (error) {
    await stopAll();
    throw error;
  }

  const svidFolder = join(demoFolder, "svid");
  console.log(
    [
      "",
      "Tessera is running.",
      `  Workload API socket: ${agent.socketPath}`,
      `  Registered workload: ${workloadSpiffeId} for unix:uid:${uid}`,
      `  Logs:                ${server.logPath}`,
      `                       ${agent.logPath}`,
      "",
      "Fetch this user's X.509-SVID from another terminal:",
      `  node ${agentBin} api fetch x509 -socketPath ${agent.socketPath} -write ${svidFolder}`,
      "Then check its chain against the bundle:",
      `  openssl verify -CAfile ${join(svidFolder, "bundle.0.pem")} ${join(svidFolder, "svid.0.pem")}`,
      "",
      "Press Ctrl-C to stop both daemons.",
    ].join("\n"),
  );

  agent.process.once("exit", (code) => void stopAll().then(() => finish(`tessera-agent exited with code ${code}; see ${agent?.logPath}`, 1)));
  server.process.once("exit", (code) => void stopAll().then(() => finish(`tessera-server exited with code ${code}; see ${server?.logPath}`, 1)));
}

function safeUserName(uid: number): string {
  try {
    const name = userInfo().username;
    if (/^[A-Za-z0-9._-]+$/.test(name)) return name;
  } catch {
    // No passwd entry for this uid (common in containers): fall back to the number.
  }
  return `uid-${uid}`;
}

function finish(message: string, code = 0): never {
  console.log(message);
  process.exit(code);
}

main().catch((error: unknown) => {
  console.error(`make run failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
