// Runs inside the systemd container of systemd-in-container.test.ts. It starts
// tessera-server and a tessera-agent with the systemd and unix workload attestors, and
// registers an entry for `systemd:id:<unit>.service`. Then it fetches X.509-SVIDs once
// from inside that unit (started with systemd-run), writing them to `<folder>/in-unit`,
// and once from a process in no service unit. It prints one JSON line:
// { spiffeId, agentLogPath, inUnit: {code, stdout, stderr}, outsideUnit: {code, stdout, stderr} }.
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { agentBin, prepareAgentAttestation, startAgent, startServer } from "../../../dist/src/devtools/local-deployment.js";

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

  agent = await startAgent({
    folder,
    trustDomain,
    serverPort: server.port,
    trustBundlePath: bundlePath,
    joinToken,
    // The refused caller's selectors are logged only for the listed types.
    extraAgentConfig: ['log_selectors = ["unix", "systemd"]'],
    extraPlugins: ['WorkloadAttestor "systemd" {', "  plugin_data {}", "}"],
  });

  const fetch = [process.execPath, agentBin, "api", "fetch", "x509", "-socketPath", agent.socketPath];
  const inUnit = await run("systemd-run", ["--unit", unitName, "--wait", "--pipe", "--quiet", "--collect", ...fetch, "-write", join(folder, "in-unit")]);
  const outsideUnit = await run(fetch[0], fetch.slice(1));
  process.stdout.write(`${JSON.stringify({ spiffeId, agentLogPath: agent.logPath, inUnit, outsideUnit })}\n`);
} finally {
  await agent?.stop();
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
