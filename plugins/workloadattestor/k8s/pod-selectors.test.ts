import { describe, expect, it } from "vitest";
import { KubeletResponseError } from "./kubelet-client.js";
import { findContainerStatus, readPodFacts, runtimeContainerId } from "./pod-selectors.js";
import { testContainerId, testPod } from "./test-kubelet.js";

describe("pod selectors", () => {
  const id = testContainerId("app");

  it("strips the runtime prefix of a container ID", () => {
    expect(runtimeContainerId(`containerd://${id}`)).toBe(id);
    expect(runtimeContainerId(`cri-o://${id}`)).toBe(id);
    expect(runtimeContainerId(`docker://${id}`)).toBe(id);
    expect(runtimeContainerId(`docker://${id}/extra`)).toBe(id);
  });

  it("ignores a container ID without a runtime prefix", () => {
    expect(runtimeContainerId(id)).toBeUndefined();
    expect(runtimeContainerId("")).toBeUndefined();
  });

  it("matches containers of every runtime prefix", () => {
    for (const runtime of ["containerd", "cri-o", "docker"]) {
      const pod = testPod({ uid: "9cf5fdfb-44f0-47f7-84aa-b1c193219cd1", name: "app-1", containers: [{ name: "app" }] });
      const statuses = (pod.status as { containerStatuses: Record<string, unknown>[] }).containerStatuses;
      (statuses[0] as Record<string, unknown>).containerID = `${runtime}://${id}`;

      expect(findContainerStatus(readPodFacts(pod), id)?.name, runtime).toBe("app");
    }
  });

  it("reads absent fields as empty", () => {
    const facts = readPodFacts({ metadata: { uid: "u-1" } });

    expect(facts).toEqual({
      uid: "u-1",
      name: "",
      namespace: "",
      labels: {},
      ownerReferences: [],
      serviceAccountName: "",
      nodeName: "",
      containerStatuses: [],
      initContainerStatuses: [],
      ephemeralContainerStatuses: [],
    });
  });

  it("rejects a field of the wrong type", () => {
    const pod = { metadata: { uid: "u-1" }, status: { containerStatuses: [{ name: 5 }] } };

    expect(() => readPodFacts(pod)).toThrow(KubeletResponseError);
    expect(() => readPodFacts(pod)).toThrow("invalid pod u-1 in the kubelet's pod list: status.containerStatuses[0].name must be a string");
  });
});
