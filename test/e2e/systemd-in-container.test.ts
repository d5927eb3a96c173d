/**
 * End to end against a real systemd. A private dockerd boots systemd as PID 1 in a
 * container (host /usr mounted read-only, no network), and a workload runs there as a
 * transient unit from `systemd-run`. The compiled attestor (dist/) then runs inside the
 * container against that container's system bus, and so do tessera-server and a
 * tessera-agent configured with the systemd attestor. Needs root and docker.io, and
 * `npm run build` first.
 */
import { randomBytes, X509Certificate } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readLogLines, repositoryRoot } from "../../src/devtools/local-deployment.js";
import { importHostUsrImage, startDockerEngine } from "./docker-engine.js";
import type { DockerEngine } from "./docker-engine.js";
import { startSystemdContainer, systemdContainerUnavailableReason } from "./systemd-container.js";
import type { SystemdContainer } from "./systemd-container.js";

const compiledAttestor = join(repositoryRoot, "dist", "plugins", "workloadattestor", "systemd", "systemd-attestor.js");
const clients = join(repositoryRoot, "test", "e2e", "clients");

const skipReason =
  systemdContainerUnavailableReason() ??
  (existsSync(compiledAttestor) ? undefined : `needs the compiled attestor at ${compiledAttestor}: run npm run build`);
if (skipReason !== undefined) console.warn(`systemd in a container: skipped, ${skipReason}`);

interface AttestResults {
  [pid: string]: { values?: string[]; error?: string };
}

interface FetchOutcome {
  code: number | string;
  stdout: string;
  stderr: string;
}

describe.skipIf(skipReason !== undefined)("systemd attestor in a systemd container", () => {
  const suffix = randomBytes(4).toString("hex");
  const unitName = `tessera-workload-${suffix}`;
  let folder: string;
  let engine: DockerEngine | undefined;
  let container: SystemdContainer | undefined;

  beforeAll(async () => {
    folder = mkdtempSync(join(tmpdir(), "tessera-systemd-e2e-"));
    engine = await startDockerEngine(join(folder, "docker"));
    const image = `tessera-host-usr:${suffix}`;
    await importHostUsrImage(engine, folder, image);
    mkdirSync(join(folder, "shared"));
    container = await startSystemdContainer(engine, {
      image,
      name: `tessera-systemd-${suffix}`,
      cgroupParent: `tessera-systemd-${suffix}`,
      mounts: [
        { path: repositoryRoot, readOnly: true },
        { path: join(folder, "shared"), readOnly: false },
      ],
    });
  });

  afterAll(async () => {
    await container?.remove();
    await engine?.stop();
    if (folder !== undefined) rmSync(folder, { recursive: true, force: true });
  });

  async function attestInContainer(pids: number[]): Promise<AttestResults> {
    const output = await container!.exec(["node", join(clients, "systemd-attest-in-container.mjs"), ...pids.map(String)]);
    return JSON.parse(output) as AttestResults;
  }

  it("returns the unit of a systemd-run workload", async () => {
    await container!.exec(["systemd-run", "--unit", unitName, "-p", "User=nobody", "/usr/bin/sleep", "600"]);
    const mainPid = Number((await container!.exec(["systemctl", "show", "-p", "MainPID", "--value", `${unitName}.service`])).trim());

    const results = await attestInContainer([mainPid]);

    expect(mainPid).toBeGreaterThan(1);
    expect(results[mainPid]?.values).toEqual([
      `id:${unitName}.service`,
      `fragment_path:/run/systemd/transient/${unitName}.service`,
    ]);
  });

  it("returns init.scope for PID 1", async () => {
    const results = await attestInContainer([1]);

    expect(results[1]?.values).toEqual(["id:init.scope", "fragment_path:"]);
  });

  it("fails for a pid that no unit holds", async () => {
    // PID 4194304 is above the kernel's pid_max limit, so no process has it.
    const results = await attestInContainer([4_194_304]);

    expect(results[4_194_304]?.error).toBe(
      "failed to get the systemd unit of pid 4194304: org.freedesktop.systemd1.NoUnitForPID: PID 4194304 does not belong to any loaded unit.",
    );
  });

  it("gives a systemd-run workload the SVID registered for its unit", async () => {
    const runFolder = join(folder, "shared", "agent-run");
    mkdirSync(runFolder);
    const agentUnit = `tessera-agent-client-${suffix}`;

    const output = await container!.exec(["node", join(clients, "systemd-agent-in-container.mjs"), runFolder, agentUnit]);
    const outcome = JSON.parse(output.trim().split("\n").pop()!) as {
      spiffeId: string;
      agentLogPath: string;
      inUnit: FetchOutcome;
      outsideUnit: FetchOutcome;
    };
    const refusal = readLogLines(outcome.agentLogPath).find((line) => line.msg === "No identity issued");

    expect(outcome.inUnit.code, outcome.inUnit.stderr).toBe(0);
    expect(outcome.inUnit.stdout).toContain(outcome.spiffeId);
    const leaf = new X509Certificate(readFileSync(join(runFolder, "in-unit", "svid.0.pem")));
    expect(leaf.subjectAltName).toBe(`URI:${outcome.spiffeId}`);
    expect(outcome.outsideUnit.code).not.toBe(0);
    expect(outcome.outsideUnit.stderr).toContain("no identity issued");
    expect(refusal?.selectors).toContain("unix:uid:0");
    expect(refusal?.selectors).not.toContain(`systemd:id:${agentUnit}.service`);
  });
});
