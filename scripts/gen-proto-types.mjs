#!/usr/bin/env node
// Generates TypeScript types for the .proto files under proto/ into src/gen/
// (gitignored) with proto-loader-gen-types from @grpc/proto-loader.
//
// The options must stay equal to PROTO_LOADER_OPTIONS in src/proto/load.ts,
// because the generated types describe the objects that loader returns.
//
// The generator writes one "root" file per input .proto, named after the
// file's base name. Several of our files share a base name (types/agent.proto
// and server/agent/v1/agent.proto), so each top-level file is generated in its
// own run and its root file is renamed right after. Message type files are
// identical across runs, so later runs overwrite them harmlessly.

import { execFileSync } from "node:child_process";
import { existsSync, renameSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const repoRoot = dirname(dirname(fileURLToPath(import.meta.url)));
const outDir = join(repoRoot, "src", "gen");

/** Top-level .proto files (relative to proto/) and the name of their root type file. */
const PROTO_FILES = [
  { proto: "spiffe/workload/workload.proto", root: "workload-api" },
  { proto: "spire/api/server/agent/v1/agent.proto", root: "agent-v1" },
  { proto: "spire/api/server/svid/v1/svid.proto", root: "svid-v1" },
  { proto: "spire/api/server/entry/v1/entry.proto", root: "entry-v1" },
  { proto: "spire/api/server/bundle/v1/bundle.proto", root: "bundle-v1" },
  { proto: "grpc/health/v1/health.proto", root: "health-v1" },
  { proto: "google/rpc/status.proto", root: "rpc-status" },
  { proto: "spire/api/agent/debug/v1/debug.proto", root: "debug-v1" },
  { proto: "spire/api/agent/logger/v1/logger.proto", root: "logger-v1" },
];

const GENERATOR_OPTIONS = [
  "--keepCase",
  "--longs=Number",
  "--enums=String",
  "--defaults",
  "--oneofs",
  "--grpcLib=@grpc/grpc-js",
  // NodeNext resolution needs explicit extensions on relative imports.
  "--importFileExtension=.js",
];

function findGenerator() {
  const require = createRequire(import.meta.url);
  const packageJsonPath = require.resolve("@grpc/proto-loader/package.json");
  const packageJson = require(packageJsonPath);
  const relativeBin = packageJson.bin["proto-loader-gen-types"];

  return join(dirname(packageJsonPath), relativeBin);
}

function generate(generator, file) {
  // Paths relative to the repository keep machine-specific folders out of
  // the "Original file" comments the generator writes.
  const args = [generator, ...GENERATOR_OPTIONS, "-I", "proto", "-O", outDir, file.proto];
  try {
    execFileSync(process.execPath, args, { cwd: repoRoot, stdio: ["ignore", "inherit", "inherit"] });
  } catch (error) {
    throw new Error(`failed to generate types for ${file.proto}: ${error.message}`);
  }

  const generatedRoot = join(outDir, `${basename(file.proto, ".proto")}.ts`);
  if (!existsSync(generatedRoot)) {
    throw new Error(`generator did not write ${generatedRoot} for ${file.proto}`);
  }
  renameSync(generatedRoot, join(outDir, `${file.root}.ts`));
}

function main() {
  const generator = findGenerator();

  rmSync(outDir, { recursive: true, force: true });

  for (const file of PROTO_FILES) {
    generate(generator, file);
  }

  console.log(`generated proto types for ${PROTO_FILES.length} top-level .proto files in ${outDir}`);
}

main();
