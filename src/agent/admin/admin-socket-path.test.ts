import { resolve } from "node:path";

import { describe, expect, it } from "vitest";

import { checkAdminSocketPath } from "./admin-socket-path.js";

describe("checkAdminSocketPath", () => {
  it("accepts a sibling folder", () => {
    expect(checkAdminSocketPath("/tmp/spire-agent/private/admin.sock", "/tmp/spire-agent/public/api.sock")).toBe("/tmp/spire-agent/private/admin.sock");
  });

  it("rejects the public socket's folder", () => {
    expect(() => checkAdminSocketPath("/run/agent/public/admin.sock", "/run/agent/public/api.sock")).toThrow(
      "admin_socket_path /run/agent/public/admin.sock is inside /run/agent/public, the folder of the Workload API socket /run/agent/public/api.sock",
    );
  });

  it("rejects a subfolder of it", () => {
    expect(() => checkAdminSocketPath("/run/agent/public/deeper/admin.sock", "/run/agent/public/api.sock")).toThrow("is inside /run/agent/public");
  });

  it("rejects paths that only look outside", () => {
    expect(() => checkAdminSocketPath("/run/agent/public/../public/admin.sock", "/run/agent/public/api.sock")).toThrow("is inside");
  });

  it("accepts a folder whose name starts with the public folder's", () => {
    expect(checkAdminSocketPath("/run/agent/public-admin/admin.sock", "/run/agent/public/api.sock")).toBe("/run/agent/public-admin/admin.sock");
  });

  it("rejects a name starting with two dots", () => {
    expect(() => checkAdminSocketPath("/run/agent/..admin.sock", "/run/agent/api.sock")).toThrow("is inside /run/agent");
  });

  it("accepts the parent folder", () => {
    expect(checkAdminSocketPath("/run/agent/admin.sock", "/run/agent/public/api.sock")).toBe("/run/agent/admin.sock");
  });

  it("resolves relative paths", () => {
    expect(checkAdminSocketPath("private/admin.sock", "public/api.sock")).toBe(resolve("private/admin.sock"));
    expect(() => checkAdminSocketPath("public/admin.sock", "public/api.sock")).toThrow("is inside");
  });

  it("rejects everything for a public socket under the root folder", () => {
    expect(() => checkAdminSocketPath("/admin/admin.sock", "/api.sock")).toThrow("is inside /,");
  });

  it("rejects an empty path", () => {
    expect(() => checkAdminSocketPath("", "/tmp/api.sock")).toThrow("admin_socket_path must not be empty");
  });
});
