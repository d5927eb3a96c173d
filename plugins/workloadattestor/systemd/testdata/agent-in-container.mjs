// Runs inside the systemd container of systemd-in-container.test.ts. It starts
// tessera-server and a tessera-agent whose only workload attestor is systemd, and
// registers an entry for `systemd:id:<unit>.service`. Then it fetches X.509-SVIDs once
// from inside that unit (started with systemd-run) and once from a process in no service
// unit. It prints one JSON line: { skipped } when the agent rejects the systemd plugin,
// otherwise { spiffeId, inUnit: {code, stdout, stderr}, outsideUnit: {code, stdout, stderr} }.
import { execFile, spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import {
  agentBin,
  prepareAgentAttestation,
  startServer,
  writeAgentFiles,
} from "../../../../dist/src/devtools/local-deployment.js";

const execFileAsync = promisify(execFile);
const [folder, unitName] = process.argv.slice(2);
const trustDomain = "systemd.tessera.test";
const nodeId = `spiffe://${trustDomain}/node`;
const spiffeId = `spiffe://${trustDomain}/systemd-workload`;

const server = await startServer({ folder, trustDomain });
let agent;
try {
  const bundlePath = join(folder, "bundle.pem");
  const { joinToken } = await prepareAgentAttestation(server, nodeId, bundlePath);
  await server.cli(["entry", "create", "-parentID", nodeId, "-spiffeID", spiffeId, "-selector", `systemd:id:${unitName}.service`]);

  const files = writeAgentFiles({ folder, trustDomain, serverPort: server.port, trustBundlePath: bundlePath, joinToken });
  const config = readFileSync(files.configPath, "utf8");
  const systemdOnly = config.replace('WorkloadAttestor "unix" {', 'WorkloadAttestor "systemd" {');
  if (systemdOnly === config) throw new Error(`no unix WorkloadAttestor block to replace in ${files.configPath}`);
  writeFileSync(files.configPath, systemdOnly);

  agent = spawn(process.execPath, [agentBin, "run", "-config", files.configPath, "-joinTokenFile", files.joinTokenPath], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let agentOutput = "";
  agent.stdout.on("data", (chunk) => (agentOutput += chunk));
  agent.stderr.on("data", (chunk) => (agentOutput += chunk));

  const ready = await waitUntilHealthy(agent, files.socketPath);
  if (!ready) {
    const reason = /systemd[^\n]*not supported|not supported[^\n]*systemd/i.test(agentOutput)
      ? `tessera-agent does not accept WorkloadAttestor "systemd" yet: ${lastLine(agentOutput)}`
      : undefined;
    if (reason === undefined) throw new Error(`tessera-agent did not start:\n${agentOutput}`);
    process.stdout.write(`${JSON.stringify({ skipped: reason })}\n`);
  } else {
    const fetch = [process.execPath, agentBin, "api", "fetch", "x509", "-socketPath", files.socketPath];
    const inUnit = await run("systemd-run", ["--unit", unitName, "--wait", "--pipe", "--quiet", "--collect", ...fetch]);
    const outsideUnit = await run(fetch[0], fetch.slice(1));
    process.stdout.write(`${JSON.stringify({ spiffeId, inUnit, outsideUnit })}\n`);
  }
} finally {
  if (agent !== undefined && agent.exitCode === null) {
    const exited = new Promise((resolve) => agent.once("exit", resolve));
    agent.kill("SIGTERM");
    await exited;
  }
  await server.stop();
}

async function run(command, args) {
  try {
    const { stdout, stderr } = await execFileAsync(command, args);
    return { code: 0, stdout, stderr };
  } catch (error) {
    return { code: error.code ?? -1, stdout: error.stdout ?? "", stderr: error.stderr ?? String(error) };
  }
}

/** Polls `tessera-agent healthcheck` until it passes (true) or the agent exits (false). */
async function waitUntilHealthy(child, socketPath) {
  for (;;) {
    if (child.exitCode !== null) return false;
    try {
      await execFileAsync(process.execPath, [agentBin, "healthcheck", "-socketPath", socketPath]);
      return true;
    } catch {
      await new Promise((wake) => setTimeout(wake, 200));
    }
  }
}

function lastLine(text) {
  return text.trim().split("\n").pop() ?? "";
}
