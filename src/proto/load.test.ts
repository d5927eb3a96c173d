import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, describe, expect, test } from "vitest";

import {
  findProtoDir,
  loadProtoDescriptor,
  loadProtoPackageDefinition,
  PROTO_LOADER_OPTIONS,
  PROTO_FILES,
} from "./load.js";

const tempDir = mkdtempSync(join(tmpdir(), "tessera-proto-load-"));

afterAll(() => {
  rmSync(tempDir, { recursive: true, force: true });
});

describe("findProtoDir", () => {
  test("finds proto folder from nested folder", () => {
    const root = join(tempDir, "repo");
    const nested = join(root, "dist", "src", "proto");
    mkdirSync(join(root, "proto", "spiffe", "workload"), { recursive: true });
    mkdirSync(nested, { recursive: true });
    writeFileSync(join(root, "proto", "spiffe", "workload", "workload.proto"), "");

    expect(findProtoDir(nested)).toBe(join(root, "proto"));
  });

  test("throws when no proto folder exists", () => {
    const lonely = join(tempDir, "lonely");
    mkdirSync(lonely);

    expect(() => findProtoDir(lonely)).toThrow(/proto folder not found/);
  });

  test("default start finds repository proto folder", () => {
    expect(findProtoDir()).toMatch(/[/\\]proto$/);
  });
});

describe("loadProtoPackageDefinition", () => {
  test("loads every service once", () => {
    const definition = loadProtoPackageDefinition();

    for (const name of [
      "SpiffeWorkloadAPI",
      "spire.api.server.agent.v1.Agent",
      "spire.api.server.svid.v1.SVID",
      "spire.api.server.entry.v1.Entry",
      "spire.api.server.bundle.v1.Bundle",
      "grpc.health.v1.Health",
      "spire.api.types.PermissionDeniedDetails",
    ]) {
      expect(definition[name], name).toBeDefined();
    }
    expect(loadProtoPackageDefinition()).toBe(definition);
    expect(loadProtoDescriptor()).toBe(loadProtoDescriptor());
  });

  test("service file list matches gen script", () => {
    const script = readFileSync(new URL("../../scripts/gen-proto-types.mjs", import.meta.url), "utf8");

    for (const file of PROTO_FILES) {
      expect(script, file).toContain(`proto: "${file}"`);
    }
  });

  test("loader options match gen script", () => {
    const script = readFileSync(new URL("../../scripts/gen-proto-types.mjs", import.meta.url), "utf8");

    expect(PROTO_LOADER_OPTIONS).toEqual({ keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true });
    for (const flag of ["--keepCase", "--longs=Number", "--enums=String", "--defaults", "--oneofs"]) {
      expect(script, flag).toContain(`"${flag}"`);
    }
  });
});
