import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { repositoryRoot } from "../../src/devtools/local-deployment.js";

/** True when Debian's Python has grpcio and protobuf and protoc exists, so Python clients can run. */
export function pythonGrpcAvailable(extraModules: string[] = []): boolean {
  if (!existsSync("/usr/bin/protoc")) return false;
  try {
    execFileSync("/usr/bin/python3", ["-c", ["grpc", "google.protobuf", ...extraModules].map((name) => `import ${name}`).join("; ")], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/**
 * Generates workload_pb2.py from our workload.proto into `folder` (created with mode 0755,
 * so clients under other uids can import it) and returns the folder.
 */
export function generatePythonStubs(folder: string): string {
  mkdirSync(folder, { recursive: true, mode: 0o755 });
  const protoFolder = join(repositoryRoot, "proto");
  execFileSync("/usr/bin/protoc", [`-I${protoFolder}`, `--python_out=${folder}`, join(protoFolder, "spiffe", "workload", "workload.proto")]);

  // protoc keeps the folder layout: put the module where the clients import it from.
  copyFileSync(join(folder, "spiffe", "workload", "workload_pb2.py"), join(folder, "workload_pb2.py"));
  return folder;
}
