import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { WorkloadAttestor } from "../workload-attestor.js";
import { createK8sAttestor } from "./k8s-attestor.js";
import type { K8sAttestorSources } from "./k8s-attestor.js";
import { parseK8sAttestorConfig } from "./k8s-config.js";
import { makeKubeletPki, podListJson, startTestKubelet, testContainerId, testPod } from "./test-kubelet.js";
import type { KubeletPki, KubeletReply, TestKubelet, TestKubeletOptions } from "./test-kubelet.js";

const POD_UID = "9cf5fdfb-44f0-47f7-84aa-b1c193219cd1";
const OTHER_POD_UID = "090455dc-e90a-4306-8107-b7314abcc22f";
const WEB = testContainerId("web");
const SIDECAR = testContainerId("sidecar");
const TOKEN = "test-token-value";

const WEB_POD = testPod({
  uid: POD_UID,
  name: "web-7d9f-abcde",
  namespace: "shop",
  serviceAccount: "web-sa",
  labels: { app: "web", tier: "front" },
  containers: [
    { name: "web", id: WEB },
    { name: "sidecar", id: SIDECAR, image: "registry.example/proxy:2.0", imageId: "registry.example/proxy@sha256:aa" },
  ],
  initContainers: [{ name: "migrate", id: testContainerId("migrate") }],
});

const ok = (pods: Record<string, unknown>[]): KubeletReply => ({ status: 200, body: podListJson(pods) });

describe("k8s workload attestor", () => {
  let folder: string;
  let pki: KubeletPki;
  let tokenPath: string;
  const kubelets: TestKubelet[] = [];
  const logger = pino({ level: "silent" });

  beforeAll(() => {
    folder = mkdtempSync(join(tmpdir(), "tessera-k8s-attestor-"));
    pki = makeKubeletPki(folder);
    tokenPath = join(folder, "token");
    writeFileSync(tokenPath, `${TOKEN}\n`);
  });

  afterEach(async () => {
    for (const kubelet of kubelets.splice(0)) await kubelet.close();
  });

  afterAll(() => {
    rmSync(folder, { recursive: true, force: true });
  });

  async function kubelet(options: Partial<TestKubeletOptions> & Pick<TestKubeletOptions, "reply">): Promise<TestKubelet> {
    const started = await startTestKubelet({ pki, token: TOKEN, ...options });
    kubelets.push(started);
    return started;
  }

  /** Writes `/proc/<pid>/cgroup` under a fresh procfs root for a process in `containerId` of `podUid`. */
  function procRootFor(pid: number, podUid: string | undefined, containerId: string): string {
    const root = mkdtempSync(join(folder, "proc-"));
    mkdirSync(join(root, String(pid)));
    const pod = podUid === undefined ? "" : `kubepods-besteffort-pod${podUid.replaceAll("-", "_")}.slice/`;
    writeFileSync(join(root, String(pid), "cgroup"), `0::/kubepods.slice/kubepods-besteffort.slice/${pod}cri-containerd-${containerId}.scope\n`);
    return root;
  }

  function attestor(pluginData: Record<string, unknown>, sources: K8sAttestorSources = {}): WorkloadAttestor {
    return createK8sAttestor(parseK8sAttestorConfig(pluginData), logger, { env: {}, ...sources });
  }

  function secureConfig(port: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
    return { kubelet_secure_port: port, kubelet_ca_path: pki.caPath, token_path: tokenPath, ...extra };
  }

  const signal = (): AbortSignal => new AbortController().signal;

  it("returns SPIRE's selectors with a bearer token", async () => {
    const server = await kubelet({ reply: () => ok([WEB_POD]) });
    const procRoot = procRootFor(10, POD_UID, WEB);

    const values = await attestor(secureConfig(server.port), { procRoot }).attest(10, signal());

    expect(values.sort()).toEqual(
      [
        "sa:web-sa",
        "ns:shop",
        "node-name:node-a",
        `pod-uid:${POD_UID}`,
        "pod-name:web-7d9f-abcde",
        "pod-image-count:2",
        "pod-init-image-count:1",
        "pod-image:registry.example/web:1.0",
        `pod-image:registry.example/web@sha256:${testContainerId("web")}`,
        "pod-image:registry.example/proxy:2.0",
        "pod-image:registry.example/proxy@sha256:aa",
        "pod-init-image:registry.example/migrate:1.0",
        `pod-init-image:registry.example/migrate@sha256:${testContainerId("migrate")}`,
        "pod-label:app:web",
        "pod-label:tier:front",
        "pod-owner:ReplicaSet:web-7d9f",
        "pod-owner-uid:ReplicaSet:9cf5fdfb-0000-4000-8000-000000000001",
        "container-name:web",
        "container-image:registry.example/web:1.0",
        `container-image:registry.example/web@sha256:${testContainerId("web")}`,
      ].sort(),
    );
    expect(server.requests[0]?.authorization).toBe(`Bearer ${TOKEN}`);
  });

  it("authenticates with a client certificate", async () => {
    const server = await kubelet({ token: undefined, requireClientCertificate: true, reply: () => ok([WEB_POD]) });
    const procRoot = procRootFor(10, POD_UID, SIDECAR);

    const values = await attestor(
      { kubelet_secure_port: server.port, kubelet_ca_path: pki.caPath, certificate_path: pki.clientCertPath, private_key_path: pki.clientKeyPath },
      { procRoot },
    ).attest(10, signal());

    expect(values).toContain("container-name:sidecar");
    expect(values).toContain("container-image:registry.example/proxy@sha256:aa");
    expect(server.requests[0]?.clientCommonName).toBe("system:node:spire-agent");
    expect(server.requests[0]?.authorization).toBeUndefined();
  });

  it("fails with a rejected client certificate", async () => {
    const server = await kubelet({ token: undefined, requireClientCertificate: true, reply: () => ok([WEB_POD]) });
    const procRoot = procRootFor(10, POD_UID, WEB);

    const pending = attestor(
      { kubelet_secure_port: server.port, kubelet_ca_path: pki.caPath, certificate_path: pki.strangerCertPath, private_key_path: pki.strangerKeyPath },
      { procRoot },
    ).attest(10, signal());

    await expect(pending).rejects.toThrow(/returned HTTP 401/);
  });

  it("fails when the kubelet CA does not match", async () => {
    const server = await kubelet({ reply: () => ok([WEB_POD]) });
    const procRoot = procRootFor(10, POD_UID, WEB);

    const pending = attestor(secureConfig(server.port, { kubelet_ca_path: pki.otherCaPath }), { procRoot }).attest(10, signal());

    await expect(pending).rejects.toThrow(/failed to fetch the pod list from the kubelet at https:\/\/127\.0\.0\.1:\d+\/pods: .*certificate/);
    expect(server.requests).toEqual([]);
  });

  it("skips verification only when asked", async () => {
    const server = await kubelet({ reply: () => ok([WEB_POD]) });
    const procRoot = procRootFor(10, POD_UID, WEB);

    const values = await attestor(
      secureConfig(server.port, { kubelet_ca_path: join(folder, "absent-ca.crt"), skip_kubelet_verification: true }),
      { procRoot },
    ).attest(10, signal());

    expect(values).toContain(`pod-uid:${POD_UID}`);
  });

  it("checks the host name when the node name is known", async () => {
    const localPki = makeKubeletPki(mkdtempSync(join(folder, "dns-only-")), ["DNS:node-a"]);
    const server = await kubelet({ pki: localPki, reply: () => ok([WEB_POD]) });
    const procRoot = procRootFor(10, POD_UID, WEB);
    const config = { kubelet_secure_port: server.port, kubelet_ca_path: localPki.caPath, token_path: tokenPath };

    // The certificate names node-a only: without a node name the chain alone is checked.
    const values = await attestor(config, { procRoot }).attest(10, signal());
    expect(values).toContain(`pod-uid:${POD_UID}`);

    const pending = attestor({ ...config, node_name_env: "KUBELET_NODE" }, { procRoot, env: { KUBELET_NODE: "127.0.0.1" } }).attest(10, signal());
    await expect(pending).rejects.toThrow(/IP: 127\.0\.0\.1 is not in the cert's list/);
  });

  it("reads the node name from MY_NODE_NAME", async () => {
    const server = await kubelet({ reply: () => ok([WEB_POD]) });
    const procRoot = procRootFor(10, POD_UID, WEB);

    const values = await attestor(secureConfig(server.port), { procRoot, env: { MY_NODE_NAME: "127.0.0.1" } }).attest(10, signal());

    expect(values).toContain("container-name:web");
  });

  it("uses the read-only port without credentials", async () => {
    const server = await kubelet({ pki: undefined, token: undefined, reply: () => ok([WEB_POD]) });
    const procRoot = procRootFor(10, POD_UID, WEB);

    const values = await attestor({ kubelet_read_only_port: server.port, token_path: tokenPath }, { procRoot }).attest(10, signal());

    expect(values).toContain("container-name:web");
    expect(server.requests[0]?.authorization).toBeUndefined();
  });

  it("shares one fetch between concurrent callers", async () => {
    const server = await kubelet({ reply: () => ok([WEB_POD]) });
    const procRoot = procRootFor(10, POD_UID, WEB);
    mkdirSync(join(procRoot, "11"));
    writeFileSync(join(procRoot, "11", "cgroup"), `0::/kubepods/besteffort/pod${POD_UID}/${SIDECAR}\n`);
    const shared = attestor(secureConfig(server.port, { poll_retry_interval: "2s" }), { procRoot });

    const results = await Promise.all([10, 11, 10, 11, 10].map((pid) => shared.attest(pid, signal())));
    const later = await shared.attest(11, signal());

    expect(results.map((values) => values.find((value) => value.startsWith("container-name:")))).toEqual([
      "container-name:web",
      "container-name:sidecar",
      "container-name:web",
      "container-name:sidecar",
      "container-name:web",
    ]);
    expect(later).toContain("container-name:sidecar");
    expect(server.requests).toHaveLength(1);
  });

  it("polls until a new container is listed", async () => {
    const starting = testPod({ uid: POD_UID, name: "web-7d9f-abcde", containers: [{ name: "web" }] });
    const server = await kubelet({ reply: (index) => ok(index < 2 ? [starting] : [WEB_POD]) });
    const procRoot = procRootFor(10, POD_UID, WEB);

    const values = await attestor(secureConfig(server.port, { poll_retry_interval: "50ms" }), { procRoot }).attest(10, signal());

    expect(values).toContain("container-name:web");
    expect(server.requests).toHaveLength(3);
  });

  it("gives up after max_poll_attempts", async () => {
    const server = await kubelet({ reply: () => ok([]) });
    const procRoot = procRootFor(10, POD_UID, WEB);

    const pending = attestor(secureConfig(server.port, { poll_retry_interval: "20ms", max_poll_attempts: 3 }), { procRoot }).attest(10, signal());

    await expect(pending).rejects.toThrow(`no selectors found after 3 poll attempts: the kubelet does not list container ${WEB} of pod ${POD_UID}`);
    expect(server.requests).toHaveLength(3);
  });

  it("never matches a previous container ID", async () => {
    const restarted = testPod({ uid: POD_UID, name: "web-7d9f-abcde", containers: [{ name: "web", id: SIDECAR, previousId: WEB }] });
    const server = await kubelet({ reply: () => ok([restarted]) });
    const procRoot = procRootFor(10, POD_UID, WEB);

    const pending = attestor(secureConfig(server.port, { poll_retry_interval: "10ms", max_poll_attempts: 2 }), { procRoot }).attest(10, signal());

    await expect(pending).rejects.toThrow(/no selectors found after 2 poll attempts/);
  });

  it("matches init and ephemeral containers", async () => {
    const debug = testContainerId("debug");
    const pod = testPod({ ...podOptions(), ephemeralContainers: [{ name: "debugger", id: debug }] });
    const server = await kubelet({ reply: () => ok([pod]) });

    const init = await attestor(secureConfig(server.port), { procRoot: procRootFor(10, POD_UID, testContainerId("migrate")) }).attest(10, signal());
    const ephemeral = await attestor(secureConfig(server.port), { procRoot: procRootFor(10, POD_UID, debug) }).attest(10, signal());

    expect(init).toContain("container-name:migrate");
    expect(ephemeral).toContain("container-name:debugger");
    expect(ephemeral).toContain("pod-image-count:2");
  });

  it("searches every pod without a pod UID", async () => {
    const other = testPod({ uid: OTHER_POD_UID, name: "db-1", containers: [{ name: "db", id: testContainerId("db") }] });
    const server = await kubelet({ reply: () => ok([other, WEB_POD]) });
    const procRoot = procRootFor(10, undefined, WEB);

    const values = await attestor(secureConfig(server.port), { procRoot }).attest(10, signal());

    expect(values).toContain(`pod-uid:${POD_UID}`);
  });

  it("rejects a container claimed by two pods", async () => {
    const twin = testPod({ uid: OTHER_POD_UID, name: "twin", containers: [{ name: "web", id: WEB }] });
    const server = await kubelet({ reply: () => ok([twin, WEB_POD]) });
    const procRoot = procRootFor(10, undefined, WEB);

    await expect(attestor(secureConfig(server.port), { procRoot }).attest(10, signal())).rejects.toThrow(/two pods/);
  });

  it("attests a known pod before its container with disable_container_selectors", async () => {
    const starting = testPod({ uid: POD_UID, name: "web-7d9f-abcde", containers: [{ name: "web" }] });
    const server = await kubelet({ reply: () => ok([starting]) });
    const procRoot = procRootFor(10, POD_UID, WEB);

    const values = await attestor(secureConfig(server.port, { disable_container_selectors: true }), { procRoot }).attest(10, signal());

    expect(values).toContain(`pod-uid:${POD_UID}`);
    expect(values.some((value) => value.startsWith("container-"))).toBe(false);
  });

  it("returns nothing for a host process", async () => {
    const server = await kubelet({ reply: () => ok([WEB_POD]) });
    const procRoot = mkdtempSync(join(folder, "proc-"));
    mkdirSync(join(procRoot, "10"));
    writeFileSync(join(procRoot, "10", "cgroup"), "0::/user.slice/user-0.slice/session-1.scope\n");

    const values = await attestor(secureConfig(server.port), { procRoot }).attest(10, signal());

    expect(values).toEqual([]);
    expect(server.requests).toEqual([]);
  });

  it("reports malformed pod lists", async () => {
    const bodies = ["not json", "[1,2]", '{"items": 5}', '{"items": [{"metadata": {"uid": "' + POD_UID + '", "labels": ["x"]}}]}'];
    const server = await kubelet({ reply: (index) => ({ status: 200, body: bodies[index] ?? "" }) });
    const procRoot = procRootFor(10, POD_UID, WEB);
    const messages: string[] = [];

    for (let i = 0; i < bodies.length; i++) {
      // A fresh attestor per body, so no cached list is returned.
      const pending = attestor(secureConfig(server.port), { procRoot }).attest(10, signal());
      messages.push(await pending.then(() => "no error", (error: Error) => error.message));
    }

    expect(messages[0]).toMatch(/invalid pod list from the kubelet: .*JSON/);
    expect(messages[1]).toMatch(/expected a JSON object/);
    expect(messages[2]).toMatch(/expected an items list/);
    expect(messages[3]).toBe(`invalid pod ${POD_UID} in the kubelet's pod list: metadata.labels must be an object`);
  });

  it("rejects a pod list over the size limit", async () => {
    const big = podListJson([WEB_POD, testPod({ uid: OTHER_POD_UID, name: "x".repeat(5000), containers: [] })]);
    const server = await kubelet({ reply: (index) => ({ status: 200, body: big, chunked: index === 1 }) });
    const procRoot = procRootFor(10, POD_UID, WEB);

    const declared = attestor(secureConfig(server.port), { procRoot, maxPodListBytes: 4096 }).attest(10, signal());
    await expect(declared).rejects.toThrow(/^the kubelet at https:\/\/127\.0\.0\.1:\d+\/pods sent a pod list of \d+ bytes, more than the limit of 4096$/);

    const streamed = attestor(secureConfig(server.port), { procRoot, maxPodListBytes: 4096 }).attest(10, signal());
    await expect(streamed).rejects.toThrow(/^the kubelet at https:\/\/127\.0\.0\.1:\d+\/pods sent a pod list larger than the limit of 4096 bytes$/);
  });

  it("reports a kubelet error status", async () => {
    const server = await kubelet({ reply: () => ({ status: 500, body: "internal error" }) });
    const procRoot = procRootFor(10, POD_UID, WEB);

    await expect(attestor(secureConfig(server.port), { procRoot }).attest(10, signal())).rejects.toThrow(/returned HTTP 500: internal error/);
  });

  it("re-reads a rotated token", async () => {
    const rotatingPath = join(folder, "rotating-token");
    writeFileSync(rotatingPath, "old-token");
    const server = await kubelet({ token: "new-token", reply: () => ok([WEB_POD]) });
    const procRoot = procRootFor(10, POD_UID, WEB);
    const rotating = attestor(secureConfig(server.port, { token_path: rotatingPath, reload_interval: "100ms", poll_retry_interval: "10ms" }), { procRoot });

    await expect(rotating.attest(10, signal())).rejects.toThrow(/HTTP 401/);
    writeFileSync(rotatingPath, "new-token\n");
    await new Promise((resolve) => setTimeout(resolve, 150));
    const values = await rotating.attest(10, signal());

    expect(values).toContain("container-name:web");
    expect(server.requests.map((request) => request.authorization)).toEqual(["Bearer old-token", "Bearer new-token"]);
  });

  it("fails at start when the token is missing", () => {
    expect(() => attestor(secureConfig(1, { token_path: join(folder, "no-token") }))).toThrow(/failed to read the kubelet bearer token/);
  });

  it("stops waiting when the caller aborts", async () => {
    const server = await kubelet({ reply: () => ok([]) });
    const procRoot = procRootFor(10, POD_UID, WEB);
    const controller = new AbortController();

    const pending = attestor(secureConfig(server.port, { poll_retry_interval: "10s" }), { procRoot }).attest(10, controller.signal);
    setTimeout(() => controller.abort(new Error("caller went away")), 100);

    await expect(pending).rejects.toThrow("caller went away");
  });
});

function podOptions(): Parameters<typeof testPod>[0] {
  return {
    uid: POD_UID,
    name: "web-7d9f-abcde",
    containers: [{ name: "web", id: WEB }, { name: "sidecar", id: SIDECAR }],
    initContainers: [{ name: "migrate", id: testContainerId("migrate") }],
  };
}
