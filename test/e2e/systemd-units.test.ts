/**
 * The systemd units and scripts/install.sh.
 *
 * On the host: the install script stages everything under a DESTDIR, `systemd-analyze
 * verify` accepts both units, and `systemd-analyze security --offline=true` rates the agent
 * unit below 4.0. Inside a container that boots systemd 252 as PID 1 (root and docker.io
 * only): the script installs for real, both services start as Type=notify units, a
 * workload started with systemd-run as nobody fetches its X.509-SVID, the workload still
 * fetches after `systemctl restart tessera-agent` with the server stopped, and
 * `systemctl stop tessera-agent` leaves no socket and no process. Needs `npm run build`
 * first, and the native addons built by `npm install`.
 */
import { execFile, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { repositoryRoot } from "../../src/devtools/local-deployment.js";
import { importHostUsrImage, startDockerEngine } from "./docker-engine.js";
import type { DockerEngine } from "./docker-engine.js";
import { startSystemdContainer, systemdContainerUnavailableReason } from "./systemd-container.js";
import type { SystemdContainer } from "./systemd-container.js";

const execFileAsync = promisify(execFile);

const installScript = join(repositoryRoot, "scripts", "install.sh");
const unitNames = ["tessera-agent.service", "tessera-server.service"];
const builtFiles = ["dist/src/agent/cli/main.js", "build/Release/peer_credentials.node", "build/Release/systemd_notify.node"];

const missingBuild = builtFiles.find((path) => !existsSync(join(repositoryRoot, path)));
const buildSkipReason = missingBuild === undefined ? undefined : `needs ${missingBuild}: run npm install and npm run build`;

function commandMissing(command: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${command}`], { stdio: "ignore" });
    return false;
  } catch {
    return true;
  }
}

const hostSkipReason = buildSkipReason ?? (commandMissing("systemd-analyze") ? "needs systemd-analyze (apt-get install systemd)" : undefined);
const containerSkipReason = buildSkipReason ?? systemdContainerUnavailableReason();
if (hostSkipReason !== undefined) console.warn(`systemd units on the host: skipped, ${hostSkipReason}`);
if (containerSkipReason !== undefined) console.warn(`systemd units under systemd: skipped, ${containerSkipReason}`);

interface CommandOutcome {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command and returns its exit code and output instead of throwing on failure. */
async function runCommand(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<CommandOutcome> {
  try {
    const { stdout, stderr } = await execFileAsync(command, args, { env, maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number | string; stdout?: string; stderr?: string };
    return { code: typeof failed.code === "number" ? failed.code : -1, stdout: failed.stdout ?? "", stderr: failed.stderr ?? String(error) };
  }
}

/** Reads "Overall exposure level for NAME: 2.0 OK" from `systemd-analyze security`. */
function exposureScore(output: string): number {
  const match = /Overall exposure level for \S+: (\d+(?:\.\d+)?)/.exec(output);
  if (match === null) {
    throw new Error(`no exposure level in the output of systemd-analyze security:\n${output}`);
  }
  return Number(match[1]);
}

describe.skipIf(hostSkipReason !== undefined)("systemd units on the host", () => {
  let folder: string;
  let stagingRoot: string;
  let install: CommandOutcome;

  beforeAll(async () => {
    folder = mkdtempSync(join(tmpdir(), "tessera-units-"));
    stagingRoot = join(folder, "root");
    install = await runCommand("bash", [installScript], { ...process.env, DESTDIR: stagingRoot, PREFIX: "/usr/local" });
  });

  afterAll(() => {
    if (folder !== undefined) rmSync(folder, { recursive: true, force: true });
  });

  it("stages the installation under DESTDIR", () => {
    const wrapper = readFileSync(join(stagingRoot, "usr/local/bin/tessera-agent"), "utf8");

    expect(install.code, install.stderr).toBe(0);
    expect(wrapper).toMatch(/^exec \/\S+ \/usr\/local\/lib\/tessera\/bin\/tessera-agent\.js "\$@"$/m);
    expect(statSync(join(stagingRoot, "usr/local/bin/tessera-server")).mode & 0o777).toBe(0o755);
    expect(statSync(join(stagingRoot, "etc/tessera/agent.conf")).mode & 0o777).toBe(0o640);
    expect(statSync(join(stagingRoot, "etc/tessera/server.conf")).mode & 0o777).toBe(0o640);
    expect(existsSync(join(stagingRoot, "etc/sysusers.d/tessera.conf"))).toBe(true);
    expect(existsSync(join(stagingRoot, "usr/local/lib/tessera/build/Release/systemd_notify.node"))).toBe(true);
    for (const unit of unitNames) {
      expect(readFileSync(join(stagingRoot, "etc/systemd/system", unit), "utf8")).toContain("ExecStart=/usr/local/bin/tessera-");
    }
  });

  it("leaves out development packages", () => {
    const modules = join(stagingRoot, "usr/local/lib/tessera/node_modules");

    expect(existsSync(join(modules, "@grpc/grpc-js/package.json"))).toBe(true);
    expect(existsSync(join(modules, "better-sqlite3/package.json"))).toBe(true);
    expect(existsSync(join(modules, "vitest"))).toBe(false);
    expect(existsSync(join(modules, "typescript"))).toBe(false);
  });

  it("runs both commands from the installed copy", async () => {
    const application = join(stagingRoot, "usr/local/lib/tessera");

    const agent = await runCommand(process.execPath, [join(application, "bin/tessera-agent.js"), "run", "-help"]);
    const server = await runCommand(process.execPath, [join(application, "bin/tessera-server.js"), "run", "-help"]);

    expect(agent.code, agent.stderr).toBe(0);
    expect(agent.stdout).toContain("-socketPath");
    expect(server.code, server.stderr).toBe(0);
    expect(server.stdout).toContain("-socketPath");
  });

  it("keeps an existing configuration", async () => {
    const agentConf = join(stagingRoot, "etc/tessera/agent.conf");
    writeFileSync(agentConf, "# edited by the operator\n");

    const again = await runCommand("bash", [installScript], { ...process.env, DESTDIR: stagingRoot, PREFIX: "/usr/local" });

    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain(`Kept the existing ${agentConf}`);
    expect(readFileSync(agentConf, "utf8")).toBe("# edited by the operator\n");
  });

  it("passes systemd-analyze verify", async () => {
    // verify checks that ExecStart names an executable, and the staged wrapper is below the
    // staging root, so the copies checked here point at it.
    const verifyFolder = join(folder, "verify");
    mkdirSync(verifyFolder);
    const units = unitNames.map((unit) => {
      const staged = readFileSync(join(stagingRoot, "etc/systemd/system", unit), "utf8");
      writeFileSync(join(verifyFolder, unit), staged.replace(/^ExecStart=\//m, `ExecStart=${stagingRoot}/`));
      return join(verifyFolder, unit);
    });

    const verify = await runCommand("systemd-analyze", ["verify", ...units]);

    expect(verify.stderr).toBe("");
    expect(verify.stdout).toBe("");
    expect(verify.code).toBe(0);
  });

  // The agent unit must stay below 4.0, and the server unit, with no capabilities, too.
  it.each(unitNames)("rates %s below 4.0", async (unit) => {
    const unitPath = join(folder, unit);
    copyFileSync(join(repositoryRoot, "systemd", unit), unitPath);

    const security = await runCommand("systemd-analyze", ["security", "--offline=true", "--no-pager", unitPath]);
    const score = exposureScore(security.stdout + security.stderr);
    console.info(`systemd-analyze security: ${unit} scores ${score}`);

    expect(score).toBeLessThan(4);
    // Node.js aborts under MemoryDenyWriteExecute=yes, so the unit must leave it unset.
    expect(security.stdout).toMatch(/✗ MemoryDenyWriteExecute=/);
  });
});

describe.skipIf(containerSkipReason !== undefined)("systemd units under systemd", () => {
  const suffix = randomBytes(4).toString("hex");
  const trustDomain = "units.tessera.test";
  const prefix = "/opt/tessera";
  const serverSocket = "/run/tessera-server/api.sock";
  const agentSocket = "/run/spire-agent/public/api.sock";
  const workloadUnit = `tessera-workload-${suffix}`;
  const workloadId = `spiffe://${trustDomain}/systemd-workload`;
  let folder: string;
  let engine: DockerEngine | undefined;
  let container: SystemdContainer | undefined;

  /** Runs a command in the container and returns its outcome, failures included. */
  async function inContainer(args: string[]): Promise<CommandOutcome> {
    try {
      return { code: 0, stdout: await container!.exec(args), stderr: "" };
    } catch (error) {
      const failed = error as { code?: number | string; stdout?: string; stderr?: string };
      return { code: typeof failed.code === "number" ? failed.code : -1, stdout: failed.stdout ?? "", stderr: failed.stderr ?? String(error) };
    }
  }

  /** Runs `tessera-agent api fetch x509` as nobody in the transient unit `unit`. */
  function fetchAsWorkload(unit: string): Promise<CommandOutcome> {
    return inContainer([
      "systemd-run",
      "--unit",
      unit,
      "-p",
      "User=nobody",
      "--wait",
      "--pipe",
      "--quiet",
      "--collect",
      `${prefix}/bin/tessera-agent`,
      "api",
      "fetch",
      "x509",
      "-socketPath",
      agentSocket,
    ]);
  }

  async function unitProperty(unit: string, property: string): Promise<string> {
    return (await container!.exec(["systemctl", "show", "-p", property, "--value", unit])).trim();
  }

  /** Reads the JSON log lines that process `pid` wrote to the journal. */
  async function journalLines(pid: string): Promise<Array<Record<string, unknown>>> {
    const output = await container!.exec(["journalctl", `_PID=${pid}`, "-o", "cat", "--no-pager"]);
    return output
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  }

  beforeAll(async () => {
    folder = mkdtempSync(join(tmpdir(), "tessera-units-systemd-"));
    engine = await startDockerEngine(join(folder, "docker"));
    const image = `tessera-host-usr:${suffix}`;
    await importHostUsrImage(engine, folder, image);
    container = await startSystemdContainer(engine, {
      image,
      name: `tessera-units-${suffix}`,
      cgroupParent: `tessera-units-${suffix}`,
      mounts: [{ path: repositoryRoot, readOnly: true }],
    });
  });

  afterAll(async () => {
    await container?.remove();
    await engine?.stop();
    if (folder !== undefined) rmSync(folder, { recursive: true, force: true });
  });

  it("installs with users and units", async () => {
    // The container mounts the host's /usr read-only, so the install goes to /opt.
    const install = await inContainer(["env", `PREFIX=${prefix}`, "bash", installScript]);
    const verify = await inContainer(["systemd-analyze", "verify", ...unitNames.map((unit) => `/etc/systemd/system/${unit}`)]);

    expect(install.code, install.stderr).toBe(0);
    expect(await inContainer(["id", "-u", "tessera-agent"])).toMatchObject({ code: 0 });
    expect(await inContainer(["id", "-u", "tessera-server"])).toMatchObject({ code: 0 });
    expect(await inContainer(["stat", "-c", "%U:%G %a", "/etc/tessera/agent.conf"])).toMatchObject({ stdout: "root:tessera-agent 640\n" });
    expect(verify).toEqual({ code: 0, stdout: "", stderr: "" });
  });

  it("starts the server when ready", async () => {
    await container!.exec(["sed", "-i", `s/example\\.org/${trustDomain}/`, "/etc/tessera/server.conf", "/etc/tessera/agent.conf"]);

    await container!.exec(["systemctl", "start", "tessera-server.service"]);

    // Type=notify: `systemctl start` returns only after READY=1, so the socket is there.
    expect(await inContainer(["test", "-S", serverSocket])).toMatchObject({ code: 0 });
    expect(await unitProperty("tessera-server.service", "StatusText")).toBe("Serving agents on port 8081");
    expect(await inContainer(["stat", "-c", "%U", "/var/lib/tessera-server/datastore.sqlite3"])).toMatchObject({ stdout: "tessera-server\n" });
  });

  it("starts the agent with a join token", async () => {
    const server = [`${prefix}/bin/tessera-server`];
    const nodeId = `spiffe://${trustDomain}/node`;
    const node = (await container!.exec(["readlink", "-f", "/usr/bin/node"])).trim();
    const token = /Token: (\S+)/.exec(await container!.exec([...server, "token", "generate", "-socketPath", serverSocket, "-spiffeID", nodeId]))?.[1];
    await container!.exec(["sh", "-c", `${server[0]} bundle show -socketPath ${serverSocket} > /etc/tessera/bundle.pem`]);
    await container!.exec(["sed", "-i", `s|^ *# join_token .*|  join_token = "${token}"|`, "/etc/tessera/agent.conf"]);
    await container!.exec([
      ...server,
      "entry",
      "create",
      "-socketPath",
      serverSocket,
      "-parentID",
      nodeId,
      "-spiffeID",
      workloadId,
      "-selector",
      `systemd:id:${workloadUnit}.service`,
      "-selector",
      "unix:uid:65534",
      "-selector",
      `unix:path:${node}`,
    ]);

    await container!.exec(["systemctl", "start", "tessera-agent.service"]);

    expect(token).toBeDefined();
    expect(await inContainer(["test", "-S", agentSocket])).toMatchObject({ code: 0 });
    expect(await unitProperty("tessera-agent.service", "StatusText")).toBe(`Serving the Workload API on ${agentSocket}`);
    expect(await inContainer(["stat", "-c", "%U %a", "/run/tessera-agent"])).toMatchObject({ stdout: "tessera-agent 700\n" });
  });

  it("gives a workload unit its SVID", async () => {
    const workload = await fetchAsWorkload(workloadUnit);
    const otherUnit = await fetchAsWorkload(`tessera-other-${suffix}`);

    expect(workload.code, workload.stderr).toBe(0);
    expect(workload.stdout).toContain(`SPIFFE ID:\t\t${workloadId}`);
    expect(otherUnit.code).not.toBe(0);
    expect(otherUnit.stdout + otherUnit.stderr).toContain("no identity issued");
  });

  it("serves the workload after a restart without the server", async () => {
    await container!.exec(["systemctl", "stop", "tessera-server.service"]);

    await container!.exec(["systemctl", "restart", "tessera-agent.service"]);
    const pid = await unitProperty("tessera-agent.service", "MainPID");
    const workload = await fetchAsWorkload(workloadUnit);
    const restored = (await journalLines(pid)).find((line) => line.msg === "Restored SVIDs from the runtime cache");
    await container!.exec(["systemctl", "start", "tessera-server.service"]);

    expect(workload.code, workload.stderr).toBe(0);
    expect(workload.stdout).toContain(`SPIFFE ID:\t\t${workloadId}`);
    expect(restored?.x509_svids).toBeGreaterThan(0);
  });

  it("reloads the agent in place", async () => {
    const pidBefore = await unitProperty("tessera-agent.service", "MainPID");

    await container!.exec(["systemctl", "reload", "tessera-agent.service"]);

    expect(await unitProperty("tessera-agent.service", "MainPID")).toBe(pidBefore);
    expect(await unitProperty("tessera-agent.service", "ActiveState")).toBe("active");
  });

  it("stops the agent without leftovers", async () => {
    await container!.exec(["systemctl", "stop", "tessera-agent.service"]);

    expect(await unitProperty("tessera-agent.service", "Result")).toBe("success");
    expect(await unitProperty("tessera-agent.service", "MainPID")).toBe("0");
    expect(await inContainer(["test", "-e", agentSocket])).toMatchObject({ code: 1 });
    expect(await inContainer(["pgrep", "-u", "tessera-agent"])).toMatchObject({ code: 1, stdout: "" });
    // RuntimeDirectoryPreserve=yes keeps the socket folder and the runtime cache.
    expect(await inContainer(["test", "-d", "/run/spire-agent/public"])).toMatchObject({ code: 0 });
  });

  it("stops the server cleanly", async () => {
    await container!.exec(["systemctl", "stop", "tessera-server.service"]);

    expect(await unitProperty("tessera-server.service", "Result")).toBe("success");
    expect(await inContainer(["test", "-e", serverSocket])).toMatchObject({ code: 1 });
    expect(await inContainer(["pgrep", "-u", "tessera-server"])).toMatchObject({ code: 1, stdout: "" });
  });
});
