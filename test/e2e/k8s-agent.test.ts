/**
 * End to end: tessera-server and a tessera-agent configured with the k8s and unix
 * workload attestors. Workload API clients run as real processes in made-up pod cgroups
 * and their own namespaces, and an HTTPS kubelet stand-in lists their pods behind a bearer
 * token. Needs root, to create cgroups and namespaces, and `npm run build` first.
 */
import { X509Certificate, randomBytes, randomUUID } from "node:crypto";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { agentBin, prepareAgentAttestation, readLogLines, startAgent, startServer } from "../../src/devtools/local-deployment.js";
import type { RunningAgent, RunningServer } from "../../src/devtools/local-deployment.js";
import { makeKubeletPki, podListJson, startTestKubelet, testPod } from "../../plugins/workloadattestor/k8s/test-kubelet.js";
import type { TestKubelet } from "../../plugins/workloadattestor/k8s/test-kubelet.js";
import { createCgroupTracker, podCgroupPath, spawnInPod } from "./pod-cgroup.js";
import type { CgroupDriver } from "./pod-cgroup.js";

const isRoot = process.getuid?.() === 0;
const trustDomain = "k8s.tessera.test";
const nodeId = `spiffe://${trustDomain}/node`;
const webId = `spiffe://${trustDomain}/ns/shop/sa/web`;
const token = "k8s-agent-e2e-token";

interface FetchOutcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe.skipIf(!isRoot)("k8s attestor in tessera-agent (skipped unless root: it creates cgroups and namespaces)", () => {
  let folder: string;
  let kubelet: TestKubelet | undefined;
  let server: RunningServer | undefined;
  let agent: RunningAgent | undefined;
  /** The pods the kubelet stand-in lists; each test adds its own. */
  const pods: Record<string, unknown>[] = [];
  const cgroups = createCgroupTracker();
  const clients: ChildProcess[] = [];

  beforeAll(async () => {
    folder = mkdtempSync(join(tmpdir(), "tessera-k8s-agent-"));
    const pki = makeKubeletPki(folder, ["IP:127.0.0.1", "DNS:localhost"]);
    const tokenPath = join(folder, "kubelet-token");
    writeFileSync(tokenPath, token, { mode: 0o600 });

    const neighbour = testPod({ uid: randomUUID(), name: "db-0", namespace: "shop", serviceAccount: "db", containers: [{ name: "db", id: randomBytes(32).toString("hex") }] });
    pods.push(neighbour);
    kubelet = await startTestKubelet({ pki, token, reply: () => ({ status: 200, body: podListJson(pods) }) });

    server = await startServer({ folder, trustDomain });
    const bundlePath = join(folder, "bundle.pem");
    const { joinToken } = await prepareAgentAttestation(server, nodeId, bundlePath);
    await server.cli(["entry", "create", "-parentID", nodeId, "-spiffeID", webId, "-selector", "k8s:ns:shop", "-selector", "k8s:sa:web"]);

    agent = await startAgent({
      folder,
      trustDomain,
      serverPort: server.port,
      trustBundlePath: bundlePath,
      joinToken,
      // The refused caller's selectors are logged only for the listed types.
      extraAgentConfig: ['log_selectors = ["k8s"]'],
      extraPlugins: [
        'WorkloadAttestor "k8s" {',
        "  plugin_data {",
        `    kubelet_secure_port = ${kubelet.port}`,
        `    kubelet_ca_path = "${pki.caPath}"`,
        `    token_path = "${tokenPath}"`,
        // The serving certificate names localhost, so this also checks the host name.
        `    node_name = "localhost"`,
        // Few, short polls keep the cases where no pod lists the container quick.
        "    max_poll_attempts = 3",
        `    poll_retry_interval = "100ms"`,
        "  }",
        "}",
      ],
    });
  });

  afterEach(async () => {
    for (const child of clients.splice(0)) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGKILL");
        await new Promise((resolve) => child.once("exit", resolve));
      }
    }
    await cgroups.removeAll();
  });

  afterAll(async () => {
    await agent?.stop();
    await server?.stop();
    await kubelet?.close();
    if (folder) rmSync(folder, { recursive: true, force: true });
  });

  /** Runs `tessera-agent api fetch x509 -write <folder>/<name>` as a pod process in the cgroup `relative`. */
  async function fetchFromPod(relative: string, name: string): Promise<FetchOutcome> {
    const command = [process.execPath, agentBin, "api", "fetch", "x509", "-socketPath", agent!.socketPath, "-write", join(folder, name)];
    const child = await spawnInPod(cgroups.create(relative), command);
    clients.push(child);

    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
    child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
    const code = await new Promise<number | null>((resolve) => child.once("close", resolve));
    return { code, stdout, stderr };
  }

  function svidUri(name: string): string | undefined {
    return new X509Certificate(readFileSync(join(folder, name, "svid.0.pem"))).subjectAltName;
  }

  /** Returns the selectors of the first "No identity issued" line in the agent's log that `match` accepts. */
  function refusedSelectors(match: (line: Record<string, unknown>) => boolean): string[] | undefined {
    const refusal = readLogLines(agent!.logPath).find((line) => line.msg === "No identity issued" && match(line));
    return refusal?.selectors as string[] | undefined;
  }

  for (const driver of ["cgroupfs", "systemd"] as const satisfies readonly CgroupDriver[]) {
    it(`gives a pod process its SVID with the ${driver} driver`, async () => {
      const podUid = randomUUID();
      const containerId = randomBytes(32).toString("hex");
      pods.push(testPod({ uid: podUid, name: `web-${driver}-x2k4p`, namespace: "shop", serviceAccount: "web", containers: [{ name: "server", id: containerId }] }));

      const outcome = await fetchFromPod(podCgroupPath(driver, podUid, containerId), `web-${driver}`);

      expect(outcome.code, outcome.stderr).toBe(0);
      expect(outcome.stdout).toContain(webId);
      expect(svidUri(`web-${driver}`)).toBe(`URI:${webId}`);
      expect(kubelet!.requests.at(-1)?.authorization).toBe(`Bearer ${token}`);
    });
  }

  it("gives no identity to another service account", async () => {
    const podUid = randomUUID();
    const containerId = randomBytes(32).toString("hex");
    pods.push(testPod({ uid: podUid, name: "batch-7d9f-q8r2m", namespace: "shop", serviceAccount: "batch", containers: [{ name: "job", id: containerId }] }));

    const outcome = await fetchFromPod(podCgroupPath("cgroupfs", podUid, containerId), "batch");
    const selectors = refusedSelectors((line) => (line.selectors as string[]).includes(`k8s:pod-uid:${podUid}`));

    expect(outcome.code).not.toBe(0);
    expect(outcome.stderr).toContain("no identity issued");
    expect(selectors).toContain("k8s:ns:shop");
    expect(selectors).toContain("k8s:sa:batch");
    expect(selectors).not.toContain("k8s:sa:web");
  });

  it("matches a restarted container only by its new ID", async () => {
    const podUid = randomUUID();
    const oldId = randomBytes(32).toString("hex");
    const newId = randomBytes(32).toString("hex");
    pods.push(testPod({ uid: podUid, name: "web-6f7c-r3st4", namespace: "shop", serviceAccount: "web", containers: [{ name: "server", id: newId, previousId: oldId }] }));

    const current = await fetchFromPod(podCgroupPath("cgroupfs", podUid, newId), "restarted-new");
    const previous = await fetchFromPod(podCgroupPath("cgroupfs", podUid, oldId), "restarted-old");
    const givingUp = readLogLines(agent!.logPath).find((line) => line.container_id === oldId);
    const selectors = refusedSelectors((line) => line.pid === givingUp?.pid);

    expect(current.code, current.stderr).toBe(0);
    expect(svidUri("restarted-new")).toBe(`URI:${webId}`);
    expect(previous.code).not.toBe(0);
    expect(previous.stderr).toContain("no identity issued");
    expect(givingUp?.msg).toBe("Container not found in the kubelet's pod list; giving up");
    expect(givingUp?.pod_uid).toBe(podUid);
    expect(selectors).toBeDefined();
    expect(selectors?.filter((selector) => selector.startsWith("k8s:"))).toEqual([]);
  });
});
