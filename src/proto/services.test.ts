// Runs real gRPC calls over a Unix socket with the loaded definitions, so
// the serializers, streaming flags and client constructors work together.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { credentials, Metadata, Server, ServerCredentials } from "@grpc/grpc-js";
import type { ServerDuplexStream, ServerWritableStream } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, test } from "vitest";

import type { agentv1, workload } from "./index.js";
import {
  AgentClient,
  agentService,
  HealthClient,
  healthService,
  WorkloadApiClient,
  workloadApiService,
} from "./services.js";
import type { AgentHandlers, HealthHandlers, WorkloadApiHandlers } from "./services.js";

const tempDir = mkdtempSync(join(tmpdir(), "tessera-proto-"));
const target = `unix://${join(tempDir, "api.sock")}`;
const server = new Server();

const attestAgent = (call: ServerDuplexStream<agentv1.AttestAgentRequest__Output, agentv1.AttestAgentResponse>) => {
  call.on("data", (request: agentv1.AttestAgentRequest__Output) => {
    if (request.step === "params") {
      call.write({ challenge: Buffer.from("nonce") });
      return;
    }

    call.write({
      result: {
        svid: { id: { trust_domain: "a.test", path: "/agent" }, expires_at: 123 },
        reattestable: request.challenge_response?.toString() === "nonce-signed",
      },
    });
    call.end();
  });
};

const fetchX509SVID = (call: ServerWritableStream<workload.X509SVIDRequest__Output, workload.X509SVIDResponse>) => {
  const header = call.metadata.get("workload.spiffe.io");
  call.write({ svids: [{ spiffe_id: "spiffe://a.test/w", hint: String(header[0]) }] });
  call.end();
};

beforeAll(async () => {
  server.addService(agentService, { AttestAgent: attestAgent } satisfies Partial<AgentHandlers>);
  server.addService(workloadApiService, { FetchX509SVID: fetchX509SVID } satisfies Partial<WorkloadApiHandlers>);
  server.addService(healthService, {
    Check: (_call, callback) => callback(null, { status: "SERVING" }),
  } satisfies Partial<HealthHandlers>);

  await new Promise<void>((resolve, reject) => {
    server.bindAsync(target, ServerCredentials.createInsecure(), (error) => (error ? reject(error) : resolve()));
  });
});

afterAll(() => {
  server.forceShutdown();
  rmSync(tempDir, { recursive: true, force: true });
});

describe("generated services over a Unix socket", () => {
  test("AttestAgent challenge round", async () => {
    const client = new AgentClient(target, credentials.createInsecure());
    const responses: agentv1.AttestAgentResponse__Output[] = [];

    await new Promise<void>((resolve, reject) => {
      const call = client.AttestAgent();
      call.on("data", (response: agentv1.AttestAgentResponse__Output) => {
        responses.push(response);
        if (response.step === "challenge") {
          call.write({ challenge_response: Buffer.from(`${response.challenge?.toString()}-signed`) });
        }
      });
      call.on("error", reject);
      call.on("end", () => resolve());
      call.write({ params: { data: { type: "test", payload: Buffer.alloc(0) }, params: { csr: Buffer.from([1]) } } });
    });
    client.close();

    expect(responses.map((response) => response.step)).toEqual(["challenge", "result"]);
    expect(responses[1]?.result?.reattestable).toBe(true);
    expect(responses[1]?.result?.svid?.expires_at).toBe(123);
    expect(responses[1]?.result?.svid?.id?.path).toBe("/agent");
  });

  test("FetchX509SVID server stream", async () => {
    const client = new WorkloadApiClient(target, credentials.createInsecure());
    const metadata = new Metadata();
    metadata.set("workload.spiffe.io", "true");
    const responses: workload.X509SVIDResponse__Output[] = [];

    await new Promise<void>((resolve, reject) => {
      const call = client.FetchX509SVID({}, metadata);
      call.on("data", (response: workload.X509SVIDResponse__Output) => responses.push(response));
      call.on("error", reject);
      call.on("end", () => resolve());
    });
    client.close();

    expect(responses).toHaveLength(1);
    expect(responses[0]?.svids[0]?.spiffe_id).toBe("spiffe://a.test/w");
    expect(responses[0]?.svids[0]?.hint).toBe("true");
  });

  test("Health Check unary call", async () => {
    const client = new HealthClient(target, credentials.createInsecure());

    const status = await new Promise<string | undefined>((resolve, reject) => {
      client.Check({ service: "" }, (error, response) => (error ? reject(error) : resolve(response?.status)));
    });
    client.close();

    expect(status).toBe("SERVING");
  });
});
