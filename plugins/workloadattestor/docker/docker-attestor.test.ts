import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { createDockerAttestor } from "./docker-attestor.js";
import { parseDockerAttestorConfig } from "./docker-config.js";

const CONTAINER = "5785e3206055dddc835efcef76bcc6b73a1afdc3a48d85b2d5cf7a6c7c56844b";
const IMAGE_ID = "sha256:24094c6ccd404d63b3482655cfcfe198319f333319f2b5fe2b2fb63cb205fae6";

/** A request seen by the engine fixture. */
interface SeenRequest {
  method: string;
  url: string;
}

/**
 * A minimal Engine API on a Unix socket: `GET /containers/<id>/json` and
 * `GET /images/<name>/json`, optionally behind a `/v<version>` prefix. `unknownFor` makes
 * the first N container requests return 404, as for a container that is still starting.
 */
async function startEngineFixture(
  socketPath: string,
  options: { labels?: Record<string, string>; env?: string[]; image?: string; unknownFor?: number; imageMissing?: boolean },
): Promise<{ server: Server; requests: SeenRequest[] }> {
  const requests: SeenRequest[] = [];
  let unknownLeft = options.unknownFor ?? 0;

  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    requests.push({ method: request.method ?? "", url: request.url ?? "" });
    const path = (request.url ?? "").replace(/^\/v[0-9.]+/, "").split("?")[0];

    if (path === `/containers/${CONTAINER}/json` && unknownLeft-- <= 0) {
      sendJson(response, 200, {
        Id: CONTAINER,
        Config: { Labels: options.labels ?? {}, Env: options.env ?? [], Image: options.image ?? "" },
      });
      return;
    }
    if (path === `/images/${options.image}/json` && options.imageMissing !== true) {
      sendJson(response, 200, { Id: IMAGE_ID, RepoTags: [options.image] });
      return;
    }
    sendJson(response, 404, { message: `No such object: ${path}` });
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(socketPath, resolve);
  });
  return { server, requests };
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { "content-type": "application/json" });
  response.end(JSON.stringify(body));
}

describe("docker workload attestor", () => {
  const folders: string[] = [];
  const servers: Server[] = [];
  const logger = pino({ level: "silent" });

  afterEach(async () => {
    for (const server of servers.splice(0)) {
      await new Promise((resolve) => server.close(resolve));
    }
    for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
  });

  function makeFolder(): string {
    const folder = mkdtempSync(join(tmpdir(), "tessera-docker-attestor-"));
    folders.push(folder);
    return folder;
  }

  /** Writes `<folder>/proc/<pid>/cgroup` and returns the procfs root. */
  function writeCgroup(folder: string, pid: number, text: string): string {
    const procRoot = join(folder, "proc");
    mkdirSync(join(procRoot, String(pid)), { recursive: true });
    writeFileSync(join(procRoot, String(pid), "cgroup"), text);
    return procRoot;
  }

  async function engine(socketPath: string, options: Parameters<typeof startEngineFixture>[1]): Promise<SeenRequest[]> {
    const { server, requests } = await startEngineFixture(socketPath, options);
    servers.push(server);
    return requests;
  }

  function attest(pluginData: Record<string, unknown>, procRoot: string, pid: number): Promise<string[]> {
    const attestor = createDockerAttestor(parseDockerAttestorConfig(pluginData), logger, { procRoot });
    return attestor.attest(pid, new AbortController().signal);
  }

  it("returns labels, env and image selectors", async () => {
    const folder = makeFolder();
    const socketPath = join(folder, "docker.sock");
    await engine(socketPath, { labels: { app: "web", "com.example.tier": "a:b" }, env: ["PATH=/bin", "MODE=prod"], image: "local/busybox:1" });
    const procRoot = writeCgroup(folder, 100, `1:name=systemd:/docker/${CONTAINER}\n0::/\n`);

    const values = await attest({ docker_socket_path: `unix://${socketPath}` }, procRoot, 100);

    expect(values.sort()).toEqual([
      "env:MODE=prod",
      "env:PATH=/bin",
      `image_config_digest:${IMAGE_ID}`,
      "image_id:local/busybox:1",
      "label:app:web",
      "label:com.example.tier:a:b",
    ]);
  });

  it("returns nothing for a host process", async () => {
    const folder = makeFolder();
    const procRoot = writeCgroup(folder, 100, "0::/user.slice/user-0.slice/session-1.scope\n");

    const values = await attest({ docker_socket_path: `unix://${join(folder, "absent.sock")}` }, procRoot, 100);

    expect(values).toEqual([]);
  });

  it("retries while the container starts", async () => {
    const folder = makeFolder();
    const socketPath = join(folder, "docker.sock");
    const requests = await engine(socketPath, { labels: { app: "late" }, unknownFor: 2 });
    const procRoot = writeCgroup(folder, 100, `0::/system.slice/docker-${CONTAINER}.scope\n`);

    const values = await attest({ docker_socket_path: `unix://${socketPath}` }, procRoot, 100);

    expect(values).toEqual(["label:app:late"]);
    expect(requests.filter((request) => request.url.startsWith("/containers/"))).toHaveLength(3);
  });

  it("fails after four unknown-container answers", async () => {
    const folder = makeFolder();
    const socketPath = join(folder, "docker.sock");
    const requests = await engine(socketPath, { unknownFor: 10 });
    const procRoot = writeCgroup(folder, 100, `0::/docker/${CONTAINER}\n`);

    await expect(attest({ docker_socket_path: `unix://${socketPath}` }, procRoot, 100)).rejects.toThrow(
      `failed to inspect container ${CONTAINER} at ${socketPath}`,
    );
    expect(requests).toHaveLength(4);
  });

  it("drops image_config_digest when the image is gone", async () => {
    const folder = makeFolder();
    const socketPath = join(folder, "docker.sock");
    await engine(socketPath, { image: "removed:1", imageMissing: true });
    const procRoot = writeCgroup(folder, 100, `0::/docker/${CONTAINER}\n`);

    const values = await attest({ docker_socket_path: `unix://${socketPath}` }, procRoot, 100);

    expect(values).toEqual(["image_id:removed:1"]);
  });

  it("pins the API version", async () => {
    const folder = makeFolder();
    const socketPath = join(folder, "docker.sock");
    const requests = await engine(socketPath, { labels: { a: "b" } });
    const procRoot = writeCgroup(folder, 100, `0::/docker/${CONTAINER}\n`);

    await attest({ docker_socket_path: `unix://${socketPath}`, docker_version: "1.41" }, procRoot, 100);

    expect(requests[0]?.url).toMatch(new RegExp(`^/v1\\.41/containers/${CONTAINER}/json`));
  });

  it("asks rootful Podman for libpod containers", async () => {
    const folder = makeFolder();
    const dockerRequests = await engine(join(folder, "docker.sock"), {});
    await engine(join(folder, "podman.sock"), { labels: { runtime: "podman" } });
    const procRoot = writeCgroup(folder, 100, `0::/machine.slice/libpod-${CONTAINER}.scope/container\n`);

    const values = await attest(
      { docker_socket_path: `unix://${folder}/docker.sock`, podman_socket_path: `unix://${folder}/podman.sock` },
      procRoot,
      100,
    );

    expect(values).toEqual(["label:runtime:podman"]);
    expect(dockerRequests).toEqual([]);
  });

  it("asks the owner's rootless Podman socket", async () => {
    const folder = makeFolder();
    mkdirSync(join(folder, "user-1000"));
    await engine(join(folder, "podman.sock"), { labels: { runtime: "rootful" } });
    await engine(join(folder, "user-1000", "podman.sock"), { labels: { runtime: "rootless" } });
    const procRoot = writeCgroup(
      folder,
      100,
      `0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-${CONTAINER}.scope/container\n`,
    );

    const values = await attest(
      {
        podman_socket_path: `unix://${folder}/podman.sock`,
        podman_socket_path_template: `unix://${folder}/user-%d/podman.sock`,
      },
      procRoot,
      100,
    );

    expect(values).toEqual(["label:runtime:rootless"]);
  });

  it("reports conflicting container IDs", async () => {
    const folder = makeFolder();
    const other = "3dd8dbe9bdf81135336abaf9ac6ef56e5bee7dfc8e95115bda457d967e47cf13";
    const procRoot = writeCgroup(folder, 100, `2:cpu:/docker/${CONTAINER}\n1:name=systemd:/docker/${other}\n`);

    await expect(attest({}, procRoot, 100)).rejects.toThrow(/more than one container ID/);
  });
});
