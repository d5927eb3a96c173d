import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import * as grpc from "@grpc/grpc-js";
import { afterEach, beforeEach, expect, it } from "vitest";

import { createUnixAttestor } from "../../plugins/workloadattestor/unix/unix-attestor.js";
import { workloadApiMetadata } from "../agent/cli/api-client.js";
import { HealthClient, WorkloadApiClient } from "../proto/index.js";
import type { CallOutcome, WorkloadApiCallObserver } from "./call-observer.js";
import { createTestIdentitySource } from "./test-identity-source.js";
import { captureLogger } from "./test-logger.js";
import { createTestRootAuthority } from "./test-pki.js";
import { observe } from "./test-stream-observer.js";
import { startWorkloadEndpoint } from "./workload-endpoint.js";
import type { WorkloadEndpoint } from "./workload-endpoint.js";
import type { AttestationResult } from "./workload-attestation.js";

let folder: string;
let endpoint: WorkloadEndpoint | undefined;
const clients: grpc.Client[] = [];

const started: string[] = [];
const finished: CallOutcome[] = [];
const attestors: Array<{ attestor: string; result: AttestationResult }> = [];
let waiters: Array<() => void> = [];

const observer: WorkloadApiCallObserver = {
  callStarted: (path) => started.push(path),
  callFinished: (outcome) => {
    finished.push(outcome);
    for (const wake of waiters.splice(0)) wake();
  },
};

beforeEach(async () => {
  folder = mkdtempSync(join(tmpdir(), "tessera-call-observer-"));
  started.length = 0;
  finished.length = 0;
  attestors.length = 0;
  waiters = [];
  const root = await createTestRootAuthority("example.org");
  const identities = createTestIdentitySource({ trustDomain: "example.org", bundle: [root.certificateDer], federatedBundles: new Map(), entries: [] });
  endpoint = await startWorkloadEndpoint({
    socketPath: join(folder, "api.sock"),
    identitySource: identities.source,
    attestors: [createUnixAttestor({ discoverWorkloadPath: false, workloadSizeLimit: 0 })],
    logger: captureLogger().logger,
    // So a caller without an entry still gets a bundle stream that stays open.
    allowUnauthenticatedVerifiers: true,
    callObserver: observer,
    attestationObserver: {
      attestorFinished: ({ attestor, result }) => attestors.push({ attestor, result }),
      attestationFinished: () => undefined,
    },
  });
});

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await endpoint?.close();
  endpoint = undefined;
  rmSync(folder, { recursive: true, force: true });
});

function workloadClient(): WorkloadApiClient {
  const client = new WorkloadApiClient(`unix://${join(folder, "api.sock")}`, grpc.credentials.createInsecure());
  clients.push(client);
  return client;
}

async function finishedCount(count: number): Promise<CallOutcome[]> {
  while (finished.length < count) await new Promise<void>((resolve) => waiters.push(resolve));
  return finished;
}

it("reports a rejected call with its status and the caller's pid", async () => {
  await observe(workloadClient().FetchX509SVID({})).finalStatus();

  const [outcome] = await finishedCount(1);

  expect(started).toEqual(["/SpiffeWorkloadAPI/FetchX509SVID"]);
  expect(outcome?.path).toBe("/SpiffeWorkloadAPI/FetchX509SVID");
  expect(outcome?.code).toBe(grpc.status.INVALID_ARGUMENT);
  expect(outcome?.callerPid).toBe(process.pid);
  expect(outcome?.elapsedMs).toBeGreaterThanOrEqual(0);
});

it("reports the status of an attested call and each attestor run", async () => {
  await observe(workloadClient().FetchX509SVID({}, workloadApiMetadata())).finalStatus();

  const [outcome] = await finishedCount(1);

  // No entry matches this process, so the agent has no identity for it.
  expect(outcome?.code).toBe(grpc.status.PERMISSION_DENIED);
  expect(attestors).toEqual([{ attestor: "unix", result: "ok" }]);
});

it("reports a stream the client cancels once, as cancelled", async () => {
  const stream = workloadClient().FetchX509Bundles({}, workloadApiMetadata());
  const observed = observe(stream);
  await observed.messageCount(1);

  stream.cancel();
  await observed.finalStatus();
  await finishedCount(1);
  // A later call's report comes after any second report of the cancelled stream would have.
  await checkHealth();
  const outcomes = await finishedCount(2);

  expect(outcomes.map((outcome) => outcome.path)).toEqual(["/SpiffeWorkloadAPI/FetchX509Bundles", "/grpc.health.v1.Health/Check"]);
  expect(outcomes[0]?.code).toBe(grpc.status.CANCELLED);
  expect(started).toHaveLength(2);
});

async function checkHealth(): Promise<void> {
  const client = new HealthClient(`unix://${join(folder, "api.sock")}`, grpc.credentials.createInsecure());
  clients.push(client);
  await new Promise<void>((resolve, reject) => client.Check({ service: "" }, (error) => (error === null ? resolve() : reject(error))));
}

it("reports health checks too", async () => {
  await checkHealth();
  const [outcome] = await finishedCount(1);

  expect(outcome?.path).toBe("/grpc.health.v1.Health/Check");
  expect(outcome?.code).toBe(grpc.status.OK);
});
