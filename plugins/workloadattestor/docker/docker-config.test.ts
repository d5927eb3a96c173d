import { describe, expect, it } from "vitest";
import { ConfigError } from "../../../src/config/config-error.js";
import { parseDockerAttestorConfig } from "./docker-config.js";
import { choosePodmanSocket, expandPodmanSocketTemplate } from "./podman-socket.js";

describe("docker attestor configuration", () => {
  it("uses SPIRE's defaults", () => {
    expect(parseDockerAttestorConfig({})).toEqual({
      dockerSocketPath: "/var/run/docker.sock",
      podmanSocketPath: "/run/podman/podman.sock",
      podmanSocketPathTemplate: "unix:///run/user/%d/podman/podman.sock",
      verboseContainerLocatorLogs: false,
    });
    expect(parseDockerAttestorConfig(undefined)).toEqual(parseDockerAttestorConfig({}));
  });

  it("reads every supported key", () => {
    const config = parseDockerAttestorConfig({
      docker_socket_path: "unix:///tmp/d.sock",
      docker_version: "1.41",
      podman_socket_path: "unix:///tmp/p.sock",
      podman_socket_path_template: "unix:///tmp/%d/p%%.sock",
      use_new_container_locator: true,
      verbose_container_locator_logs: true,
    });

    expect(config).toEqual({
      dockerSocketPath: "/tmp/d.sock",
      dockerVersion: "1.41",
      podmanSocketPath: "/tmp/p.sock",
      podmanSocketPathTemplate: "unix:///tmp/%d/p%%.sock",
      verboseContainerLocatorLogs: true,
    });
  });

  it("rejects unknown keys by name", () => {
    expect(() => parseDockerAttestorConfig({ docker_sock_path: "unix:///x" })).toThrow(ConfigError);
    expect(() => parseDockerAttestorConfig({ docker_sock_path: "unix:///x" })).toThrow(/docker_sock_path.*did you mean docker_socket_path/);
  });

  it("rejects cgroup matchers by name", () => {
    expect(() => parseDockerAttestorConfig({ container_id_cgroup_matchers: ["/docker/<id>"] })).toThrow(
      /container_id_cgroup_matchers is not supported/,
    );
  });

  it("rejects the legacy locator", () => {
    expect(() => parseDockerAttestorConfig({ use_new_container_locator: false })).toThrow(/use_new_container_locator/);
  });

  it("rejects sigstore", () => {
    expect(() => parseDockerAttestorConfig({ sigstore: {} })).toThrow(/sigstore is not supported yet/);
  });

  it("rejects non-unix sockets", () => {
    expect(() => parseDockerAttestorConfig({ docker_socket_path: "tcp://127.0.0.1:2375" })).toThrow(/docker_socket_path.*only unix/);
    expect(() => parseDockerAttestorConfig({ podman_socket_path: "unix://relative.sock" })).toThrow(/podman_socket_path.*absolute/);
  });

  it("rejects a bad API version", () => {
    expect(() => parseDockerAttestorConfig({ docker_version: "latest" })).toThrow(/docker_version/);
  });

  it("rejects bad socket templates", () => {
    for (const template of ["unix:///run/user/podman.sock", "unix:///run/%d/%d.sock", "unix:///run/%s/p.sock", "unix:///run/%d/p.sock%"]) {
      expect(() => parseDockerAttestorConfig({ podman_socket_path_template: template }), template).toThrow(/podman_socket_path_template/);
    }
  });
});

describe("podman socket choice", () => {
  const id = "5785e3206055dddc835efcef76bcc6b73a1afdc3a48d85b2d5cf7a6c7c56844b";
  const template = "unix:///run/user/%d/podman/podman.sock";

  it("expands the uid and escaped percent", () => {
    expect(expandPodmanSocketTemplate("unix:///a/%d/100%%", 1000)).toBe("unix:///a/1000/100%");
  });

  it("leaves Docker containers to the Docker socket", () => {
    const choice = choosePodmanSocket([{ hierarchyId: "0", controllers: "", path: `/docker/${id}` }], "/run/podman/podman.sock", template);

    expect(choice).toBeUndefined();
  });

  it("picks rootful Podman without a user slice", () => {
    const choice = choosePodmanSocket([{ hierarchyId: "0", controllers: "", path: `/machine.slice/libpod-${id}.scope` }], "/rootful.sock", template);

    expect(choice).toEqual({ socketPath: "/rootful.sock" });
  });

  it("picks the owner's socket under a user slice", () => {
    const path = `/user.slice/user-1001.slice/user@1001.service/user.slice/libpod-${id}.scope/container`;

    const choice = choosePodmanSocket([{ hierarchyId: "0", controllers: "", path }], "/rootful.sock", template);

    expect(choice).toEqual({ socketPath: "/run/user/1001/podman/podman.sock", rootlessUid: 1001 });
  });

  it("falls back to rootful for an out-of-range uid", () => {
    const path = `/user.slice/user-99999999999.slice/libpod-${id}.scope`;

    const choice = choosePodmanSocket([{ hierarchyId: "0", controllers: "", path }], "/rootful.sock", template);

    expect(choice).toEqual({ socketPath: "/rootful.sock" });
  });
});
