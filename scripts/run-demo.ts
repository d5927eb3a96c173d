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
  serverBin,
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
  let stopping = false;

  const stopAll = async (): Promise<void> => {
    stopping = true;
    await agent?.stop();
    await server?.stop();
  };
  const onSignal = (): void => void stopAll().then(() => finish("Stopped tessera-agent and tessera-server."));
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  process.once("SIGHUP", onSignal);

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
      `  Server admin socket: ${server.adminSocketPath}`,
      `  Logs:                ${server.logPath}`,
      `                       ${agent.logPath}`,
      "",
      "Fetch this user's X.509-SVID from another terminal:",
      `  node ${agentBin} api fetch x509 -socketPath ${agent.socketPath} -write ${svidFolder}`,
      "Then check its chain against the bundle:",
      `  openssl verify -CAfile ${join(svidFolder, "bundle.0.pem")} ${join(svidFolder, "svid.0.pem")}`,
      "List the registration entries:",
      `  node ${serverBin} entry show -socketPath ${server.adminSocketPath}`,
      "",
      "Press Ctrl-C to stop both daemons.",
    ].join("\n"),
  );

  // A daemon that exits on its own, not through Ctrl-C, ends the demo with an error.
  const onUnexpectedExit = (name: string, logPath: string) => (code: number | null) => {
    if (stopping) return;
    void stopAll().then(() => finish(`${name} exited with code ${code}; see ${logPath}`, 1));
  };
  agent.process.once("exit", onUnexpectedExit("tessera-agent", agent.logPath));
  server.process.once("exit", onUnexpectedExit("tessera-server", server.logPath));
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
