import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterEach, beforeEach, expect, it } from "vitest";

import { createUnixAttestor } from "../../../plugins/workloadattestor/unix/unix-attestor.js";
import { createTestIdentitySource } from "../../workload-api/test-identity-source.js";
import { captureLogger } from "../../workload-api/test-logger.js";
import { startWorkloadEndpoint } from "../../workload-api/workload-endpoint.js";
import type { WorkloadEndpoint } from "../../workload-api/workload-endpoint.js";
import { createWorkloadApiProbe } from "./workload-api-probe.js";

let folder: string;
let socketPath: string;
let endpoint: WorkloadEndpoint | undefined;

beforeEach(() => {
  folder = mkdtempSync(join(tmpdir(), "tessera-probe-"));
  socketPath = join(folder, "api.sock");
});

afterEach(async () => {
  await endpoint?.close();
  endpoint = undefined;
  rmSync(folder, { recursive: true, force: true });
});

async function startEndpoint(bundle: Buffer[]): Promise<void> {
  const identities = createTestIdentitySource({ trustDomain: "example.org", bundle, federatedBundles: new Map(), entries: [] });
  endpoint = await startWorkloadEndpoint({
    socketPath,
    identitySource: identities.source,
    attestors: [createUnixAttestor({ discoverWorkloadPath: false, workloadSizeLimit: 0 })],
    logger: captureLogger().logger,
  });
}

it("reports a serving endpoint", async () => {
  await startEndpoint([Buffer.from("root")]);

  expect(await createWorkloadApiProbe({ socketPath })()).toEqual({ state: "serving" });
});

it("reports an endpoint without a trust bundle as not serving", async () => {
  await startEndpoint([]);

  expect(await createWorkloadApiProbe({ socketPath })()).toEqual({ state: "not_serving" });
});

it("reports a socket nobody listens on as unavailable", async () => {
  const result = await createWorkloadApiProbe({ socketPath, timeoutMs: 1_000 })();

  expect(result.state).toBe("unavailable");
  expect(result.error).toContain("the Workload API socket did not respond");
});

it("reuses a recent result", async () => {
  await startEndpoint([Buffer.from("root")]);
  const probe = createWorkloadApiProbe({ socketPath, reuseMs: 60_000 });

  const first = probe();
  const second = probe();

  expect(second).toBe(first);
  expect(await second).toEqual({ state: "serving" });
});

it("probes again once the result is old", async () => {
  await startEndpoint([Buffer.from("root")]);
  const probe = createWorkloadApiProbe({ socketPath, reuseMs: 0 });
  expect(await probe()).toEqual({ state: "serving" });

  await endpoint?.close();
  endpoint = undefined;

  expect((await probe()).state).toBe("unavailable");
});
