import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { parseCgroupFile } from "./cgroup-file.js";
import { findContainerInCgroupPath, locateContainer, locateProcessContainer } from "./container-locator.js";
import type { ContainerLocation } from "./container-locator.js";
import { CgroupFormatError, CgroupReadError, ContainerConflictError, ContainerLocatorError } from "./locator-errors.js";

const FIXTURES = fileURLToPath(new URL("../../../test/fixtures/cgroups/", import.meta.url));

const CONTAINER = "02192a29763534eb007baf1edf77e8770c67ed69e260b09fc045605a7cf1ffe2";
const POD = "7f11900c-f9c7-483c-97f5-45056e0d0fcd";

type Expected = ContainerLocation | undefined | (new (...args: never[]) => ContainerLocatorError);

/**
 * What each fixture yields: first for the `docker` attestor (no pod UID), then for the
 * `k8s` attestor (with pod UID).
 */
const TABLE: Record<string, { docker: Expected; k8s: Expected }> = {
  "docker-cgroupfs-v1.txt": { docker: { containerId: CONTAINER }, k8s: { containerId: CONTAINER } },
  "docker-cgroupfs-hybrid.txt": { docker: { containerId: CONTAINER }, k8s: { containerId: CONTAINER } },
  "docker-cgroupfs-v2.txt": { docker: { containerId: CONTAINER }, k8s: { containerId: CONTAINER } },
  "docker-systemd-v2.txt": { docker: { containerId: CONTAINER }, k8s: { containerId: CONTAINER } },
  "k8s-cgroupfs-v1-docker.txt": { docker: { containerId: CONTAINER }, k8s: { containerId: CONTAINER, podUid: POD } },
  "k8s-systemd-v1-docker.txt": { docker: { containerId: CONTAINER }, k8s: { containerId: CONTAINER, podUid: POD } },
  "k8s-systemd-v2-containerd.txt": { docker: { containerId: CONTAINER }, k8s: { containerId: CONTAINER, podUid: POD } },
  "k8s-systemd-v2-crio.txt": { docker: { containerId: CONTAINER }, k8s: { containerId: CONTAINER, podUid: POD } },
  "k8s-systemd-colon-containerd.txt": { docker: { containerId: CONTAINER }, k8s: { containerId: CONTAINER, podUid: POD } },
  "k8s-kubelet-slice-v2.txt": { docker: { containerId: CONTAINER }, k8s: { containerId: CONTAINER, podUid: POD } },
  // Without pod UIDs the node container and the pod container are two different IDs.
  "k8s-kind-nested.txt": { docker: ContainerConflictError, k8s: { containerId: CONTAINER, podUid: POD } },
  "k8s-kind-unified-first.txt": { docker: ContainerConflictError, k8s: { containerId: CONTAINER, podUid: POD } },
  "k8s-namespaced-v2.txt": { docker: { containerId: CONTAINER }, k8s: { containerId: CONTAINER, podUid: POD } },
  "crio-namespaced-v2.txt": { docker: { containerId: CONTAINER }, k8s: { containerId: CONTAINER } },
  "namespaced-bare-v2.txt": { docker: { containerId: CONTAINER }, k8s: { containerId: CONTAINER } },
  "podman-rootful-systemd.txt": { docker: { containerId: CONTAINER }, k8s: { containerId: CONTAINER } },
  "podman-rootless-systemd.txt": { docker: { containerId: CONTAINER }, k8s: { containerId: CONTAINER } },
  "podman-cgroupfs-v1.txt": { docker: { containerId: CONTAINER }, k8s: { containerId: CONTAINER } },
  "host-process-hybrid.txt": { docker: undefined, k8s: undefined },
  "host-process-systemd-v2.txt": { docker: undefined, k8s: undefined },
  "near-miss-ids.txt": { docker: undefined, k8s: undefined },
  "conflict-container-ids.txt": { docker: ContainerConflictError, k8s: ContainerConflictError },
  "conflict-pod-uids.txt": { docker: { containerId: CONTAINER }, k8s: ContainerConflictError },
  "malformed-line.txt": { docker: CgroupFormatError, k8s: CgroupFormatError },
};

function locateText(text: string, withPodUid: boolean): ContainerLocation | undefined {
  return locateContainer(parseCgroupFile(text), { withPodUid });
}

describe("container locator fixtures", () => {
  it("table covers every fixture file", () => {
    const files = readdirSync(FIXTURES).filter((name) => name.endsWith(".txt")).sort();

    expect(Object.keys(TABLE).sort()).toEqual(files);
  });

  it("README describes every fixture file", () => {
    const readme = readFileSync(join(FIXTURES, "README.md"), "utf8");

    for (const name of Object.keys(TABLE)) {
      expect(readme, name).toContain(`\`${name}\``);
    }
  });

  for (const [name, expected] of Object.entries(TABLE)) {
    for (const mode of ["docker", "k8s"] as const) {
      it(`${name} for ${mode}`, () => {
        const text = readFileSync(join(FIXTURES, name), "utf8");
        const want = expected[mode];
        const locate = (): ContainerLocation | undefined => locateText(text, mode === "k8s");

        if (typeof want === "function") {
          expect(locate).toThrow(want);
        } else {
          expect(locate()).toEqual(want);
        }
      });
    }
  }
});

describe("cgroup path parsing", () => {
  it("takes the last container ID of a path", () => {
    const other = "c99f62c42ac0dca09206ebc2b905c8ba1d0c1720812ae89bfc51186eb5dffbc4";

    const found = findContainerInCgroupPath(`/docker/${other}/kubepods/besteffort/pod${POD}/${CONTAINER}`, { withPodUid: true });

    expect(found).toEqual({ containerId: CONTAINER, podUid: POD });
  });

  it("finds a pod UID only before the container ID", () => {
    const found = findContainerInCgroupPath(`/kubepods/besteffort/${CONTAINER}/pod${POD}`, { withPodUid: true });

    expect(found).toEqual({ containerId: CONTAINER });
  });

  it("stops at an empty segment", () => {
    expect(findContainerInCgroupPath(`/docker/${CONTAINER}/`, { withPodUid: false })).toBeUndefined();
    expect(findContainerInCgroupPath(`/pod${POD}//${CONTAINER}`, { withPodUid: true })).toEqual({ containerId: CONTAINER });
  });

  it("maps underscores of a pod UID to dashes", () => {
    const underscored = POD.replaceAll("-", "_");

    const found = findContainerInCgroupPath(`/kubepods-pod${underscored}.slice/cri-containerd-${CONTAINER}.scope`, { withPodUid: true });

    expect(found?.podUid).toBe(POD);
  });

  it("keeps colons inside the path", () => {
    const entries = parseCgroupFile(`3:cpu,cpuacct:/a:b:c\n0::/\n`);

    expect(entries).toEqual([
      { hierarchyId: "3", controllers: "cpu,cpuacct", path: "/a:b:c" },
      { hierarchyId: "0", controllers: "", path: "/" },
    ]);
  });

  it("rejects an empty line in the middle", () => {
    expect(() => parseCgroupFile("0::/\n\n1:cpu:/\n")).toThrow(/line 2/);
  });

  it("accepts an empty file", () => {
    expect(parseCgroupFile("")).toEqual([]);
  });
});

describe("process cgroup file", () => {
  const folders: string[] = [];

  afterEach(() => {
    for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
  });

  function makeProcRoot(files: Record<number, string>): string {
    const folder = mkdtempSync(join(tmpdir(), "tessera-cgroups-"));
    folders.push(folder);
    for (const [pid, text] of Object.entries(files)) {
      mkdirSync(join(folder, pid));
      writeFileSync(join(folder, pid, "cgroup"), text);
    }
    return folder;
  }

  it("locates the container of a pid", () => {
    const text = readFileSync(join(FIXTURES, "k8s-systemd-v2-containerd.txt"), "utf8");
    const procRoot = makeProcRoot({ 42: text });

    const found = locateProcessContainer(42, { procRoot, withPodUid: true });

    expect(found.location).toEqual({ containerId: CONTAINER, podUid: POD });
    expect(found.cgroups).toHaveLength(1);
  });

  it("logs cgroup paths when verbose", () => {
    const procRoot = makeProcRoot({ 42: `1:name=systemd:/docker/${CONTAINER}\n0::/\n` });
    const lines: string[] = [];
    const logger = pino({ level: "debug" }, { write: (line: string) => lines.push(line) });

    locateProcessContainer(42, { procRoot, withPodUid: false, verboseLogger: logger });

    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] as string)).toMatchObject({ pid: 42, cgroup_paths: [`/docker/${CONTAINER}`, "/"] });
  });

  it("ignores a forged mountinfo", () => {
    const procRoot = makeProcRoot({ 42: "0::/user.slice\n" });
    writeFileSync(join(procRoot, "42", "mountinfo"), `30 25 0:26 /docker/${CONTAINER} /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n`);

    expect(locateProcessContainer(42, { procRoot, withPodUid: false }).location).toBeUndefined();
  });

  it("reports a missing process", () => {
    const procRoot = makeProcRoot({});

    expect(() => locateProcessContainer(7, { procRoot, withPodUid: false })).toThrow(CgroupReadError);
    expect(() => locateProcessContainer(7, { procRoot, withPodUid: false })).toThrow(/process does not exist/);
  });

  it("names the file of a malformed line", () => {
    const procRoot = makeProcRoot({ 9: "nonsense\n" });

    expect(() => locateProcessContainer(9, { procRoot, withPodUid: true })).toThrow(`${procRoot}/9/cgroup`);
  });
});

describe("container locator fuzzing", () => {
  const HEX = /^[0-9A-Fa-f]{64}$/;
  const UUID = /^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$/;
  const PIECES = [":", "::", "/", "\n", "-", "_", ".", "..", "pod", "docker-", "cri-containerd:", ".scope", ".slice", "0", "1:cpu", "\u00e9", "\u0000", " ", CONTAINER, POD, POD.replaceAll("-", "_"), "f"];

  /** A small seeded generator (mulberry32), so a failure can be replayed from its seed. */
  function random(seed: number): () => number {
    let state = seed >>> 0;
    return () => {
      state = (state + 0x6d2b79f5) >>> 0;
      let t = state;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  function pick<T>(next: () => number, items: readonly T[]): T {
    return items[Math.floor(next() * items.length)] as T;
  }

  function randomText(next: () => number): string {
    let text = "";
    const length = Math.floor(next() * 40);
    for (let i = 0; i < length; i++) {
      text += next() < 0.7 ? pick(next, PIECES) : String.fromCharCode(Math.floor(next() * 0x3000));
    }
    return text;
  }

  function mutate(next: () => number, text: string): string {
    let result = text;
    const edits = 1 + Math.floor(next() * 6);
    for (let i = 0; i < edits; i++) {
      const at = Math.floor(next() * (result.length + 1));
      const choice = next();
      if (choice < 0.3) {
        result = result.slice(0, at) + result.slice(at + 1 + Math.floor(next() * 10));
      } else if (choice < 0.6) {
        result = result.slice(0, at) + pick(next, PIECES) + result.slice(at);
      } else if (choice < 0.8) {
        const end = at + Math.floor(next() * 80);
        result = result.slice(0, end) + result.slice(at, end) + result.slice(end);
      } else {
        result = result.slice(0, at) + String.fromCharCode(Math.floor(next() * 0x110)) + result.slice(at + 1);
      }
    }
    return result;
  }

  function checkOutcome(text: string, withPodUid: boolean): "found" | "none" | "error" {
    let found: ContainerLocation | undefined;
    try {
      found = locateText(text, withPodUid);
    } catch (error) {
      if (!(error instanceof ContainerLocatorError)) {
        throw new Error(`unexpected error for ${JSON.stringify(text)}: ${String(error)}`);
      }
      return "error";
    }

    if (found === undefined) {
      return "none";
    }
    expect(found.containerId, JSON.stringify(text)).toMatch(HEX);
    if (found.podUid !== undefined) {
      expect(withPodUid).toBe(true);
      expect(found.podUid, JSON.stringify(text)).toMatch(UUID);
    }
    return "found";
  }

  it("random text yields a location, none or a locator error", () => {
    const next = random(20240611);
    const outcomes = new Set<string>();

    for (let i = 0; i < 3000; i++) {
      const text = randomText(next);
      outcomes.add(checkOutcome(text, true));
      outcomes.add(checkOutcome(text, false));
    }

    // The generator must reach every branch, or the test proves little.
    expect([...outcomes].sort()).toEqual(["error", "found", "none"]);
  });

  it("mutated fixtures yield a location, none or a locator error", () => {
    const next = random(7);
    const fixtures = Object.keys(TABLE).map((name) => readFileSync(join(FIXTURES, name), "utf8"));
    const outcomes = new Set<string>();

    for (let i = 0; i < 3000; i++) {
      const text = mutate(next, pick(next, fixtures));
      outcomes.add(checkOutcome(text, true));
      outcomes.add(checkOutcome(text, false));
    }

    expect([...outcomes].sort()).toEqual(["error", "found", "none"]);
  });
});
