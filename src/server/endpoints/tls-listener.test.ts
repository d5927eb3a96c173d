import { credentials, Server } from "@grpc/grpc-js";
import type { ChannelCredentials, ServerUnaryCall } from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { createLogger } from "../../common/log.js";
import { HealthClient, healthService } from "../../proto/index.js";
import type { HealthHandlers } from "../../proto/index.js";
import { createTestCa, issueTestSvid } from "../test-support/pki.js";
import { listenTls } from "./tls-listener.js";
import type { TlsListener } from "./tls-listener.js";

const logger = createLogger({ name: "test", level: "silent" });

/**
 * These tests pin the grpc-js behaviour listenTls depends on: calls on injected TLS sockets
 * are served, and `call.getPeer()` finds the socket's client certificate.
 */
describe("listenTls", () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function startServer() {
    const ca = await createTestCa();
    const serverSvid = await issueTestSvid(ca, "spiffe://example.org/spire/server");
    const seenChains: (Buffer[] | undefined)[] = [];
    let listener: TlsListener | undefined;

    const server = new Server();
    const handlers: HealthHandlers = {
      Check(call: ServerUnaryCall<unknown, unknown>, callback) {
        seenChains.push(listener?.peerCertificates(call.getPeer()));
        callback(null, { status: "SERVING" });
      },
      Watch(call) {
        call.end();
      },
    } as HealthHandlers;
    server.addService(healthService, handlers);

    listener = await listenTls({
      server,
      bindAddress: "127.0.0.1",
      bindPort: 0,
      identity: { certChainPem: serverSvid.certPem, privateKeyPem: serverSvid.keyPem, bundlePem: ca.certificate.toString("pem") },
      logger,
    });
    const started = listener;
    cleanups.push(() => started.close());
    cleanups.push(() => server.forceShutdown());
    return { ca, listener: started, seenChains };
  }

  function check(port: number, channelCredentials: ChannelCredentials): Promise<unknown> {
    const client = new HealthClient(`127.0.0.1:${port}`, channelCredentials);
    cleanups.push(() => client.close());
    return new Promise((resolve, reject) => {
      client.Check({}, (error, response) => (error ? reject(error) : resolve(response)));
    });
  }

  function clientCredentials(rootPem: string, svid?: { keyPem: string; certPem: string }): ChannelCredentials {
    // The server SVID has a URI SAN only, so host name checks are replaced by trusting the root.
    const verifyOptions = { checkServerIdentity: () => undefined };
    return svid === undefined
      ? credentials.createSsl(Buffer.from(rootPem), null, null, verifyOptions)
      : credentials.createSsl(Buffer.from(rootPem), Buffer.from(svid.keyPem), Buffer.from(svid.certPem), verifyOptions);
  }

  it("serves clients without a certificate", async () => {
    const { ca, listener, seenChains } = await startServer();

    const response = await check(listener.port, clientCredentials(ca.certificate.toString("pem")));

    expect(response).toEqual({ status: "SERVING" });
    expect(seenChains).toEqual([undefined]);
  });

  it("finds the client certificate from getPeer", async () => {
    const { ca, listener, seenChains } = await startServer();
    const agentSvid = await issueTestSvid(ca, "spiffe://example.org/spire/agent/x");

    await check(listener.port, clientCredentials(ca.certificate.toString("pem"), agentSvid));

    expect(seenChains[0]?.[0]?.equals(agentSvid.der)).toBe(true);
  });

  it("keeps expired client certificates for the handler", async () => {
    const { ca, listener, seenChains } = await startServer();
    const expired = await issueTestSvid(ca, "spiffe://example.org/spire/agent/x", {
      ttlSeconds: 1,
      now: new Date(Date.now() - 60_000),
    });

    await check(listener.port, clientCredentials(ca.certificate.toString("pem"), expired));

    expect(seenChains[0]?.[0]?.equals(expired.der)).toBe(true);
  });

  it("reports the bound port", async () => {
    const { listener } = await startServer();

    expect(listener.port).toBeGreaterThan(0);
    expect(listener.address).toBe("127.0.0.1");
  });
});
