import { fork } from "node:child_process";
import { createPrivateKey, createPublicKey } from "node:crypto";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect as connectHttp2, constants as http2Constants } from "node:http2";
import type { Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createUnixAttestor } from "../../plugins/workloadattestor/unix/unix-attestor.js";
import type { WorkloadAttestor } from "../../plugins/workloadattestor/workload-attestor.js";
import { x509 } from "../common/x509.js";
import { HealthClient, WorkloadApiClient, workloadApiService } from "../proto/index.js";
import type { workload } from "../proto/index.js";
import { concatDer, splitConcatenatedDer } from "../spiffe/bundle.js";
import { captureLogger } from "./test-logger.js";
import { observe } from "./test-stream-observer.js";
import type { CapturedLogger } from "./test-logger.js";
import { createTestIdentitySource } from "./test-identity-source.js";
import type { TestEntry, TestIdentitySource } from "./test-identity-source.js";
import { createTestIntermediateAuthority, createTestRootAuthority, createTestSvid } from "./test-pki.js";
import type { TestAuthority } from "./test-pki.js";
import { startWorkloadEndpoint } from "./workload-endpoint.js";
import type { WorkloadEndpoint } from "./workload-endpoint.js";

const OWN_UID = `uid:${process.getuid?.()}`;

let root: TestAuthority;
let federatedRoot: TestAuthority;

let folder: string;
let socketPath: string;
let identities: TestIdentitySource;
let captured: CapturedLogger;
let endpoint: WorkloadEndpoint | undefined;
const clients: grpc.Client[] = [];

beforeEach(async () => {
  root ??= await createTestRootAuthority("example.org");
  federatedRoot ??= await createTestRootAuthority("partner.test");

  folder = mkdtempSync(join(tmpdir(), "tessera-workload-endpoint-"));
  socketPath = join(folder, "api.sock");
  captured = captureLogger();
  identities = createTestIdentitySource({
    trustDomain: "example.org",
    bundle: [root.certificateDer],
    federatedBundles: new Map([["partner.test", [federatedRoot.certificateDer]]]),
    entries: [],
  });
});

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await endpoint?.close();
  endpoint = undefined;
  rmSync(folder, { recursive: true, force: true });
});

const UNIX_ATTESTOR = createUnixAttestor({ discoverWorkloadPath: false, workloadSizeLimit: 0 });

async function start(attestors: WorkloadAttestor[] = [UNIX_ATTESTOR], allowUnauthenticatedVerifiers = false, logSelectors?: string[]) {
  endpoint = await startWorkloadEndpoint({
    socketPath,
    identitySource: identities.source,
    attestors,
    logger: captured.logger,
    allowUnauthenticatedVerifiers,
    logSelectors,
  });
}

function workloadClient(): WorkloadApiClient {
  const client = new WorkloadApiClient(`unix://${socketPath}`, grpc.credentials.createInsecure());
  clients.push(client);
  return client;
}

function securityHeader(): grpc.Metadata {
  const metadata = new grpc.Metadata();
  metadata.set("workload.spiffe.io", "true");
  return metadata;
}

async function entryFor(entryId: string, path: string, extra: Partial<TestEntry> = {}): Promise<TestEntry> {
  const svid = await createTestSvid(root, `spiffe://example.org/${path}`);
  return {
    entryId,
    spiffeId: `spiffe://example.org/${path}`,
    selectors: [{ type: "unix", value: OWN_UID }],
    certChain: svid.certChain,
    privateKeyPkcs8: svid.privateKeyPkcs8,
    ...extra,
  };
}

describe("FetchX509SVID", () => {
  it("rejects a call without the security header", async () => {
    await start();

    const stream = observe(workloadClient().FetchX509SVID({}));
    const status = await stream.finalStatus();

    expect(status.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(status.details).toBe("security header missing from request");
  });

  it("rejects a header with the wrong value", async () => {
    await start();
    const metadata = new grpc.Metadata();
    metadata.set("workload.spiffe.io", "True");

    const status = await observe(workloadClient().FetchX509SVID({}, metadata)).finalStatus();

    expect(status.code).toBe(grpc.status.INVALID_ARGUMENT);
  });

  it("denies a caller without identity", async () => {
    await start();

    const status = await observe(workloadClient().FetchX509SVID({}, securityHeader())).finalStatus();

    expect(status.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(status.details).toBe("no identity issued");
    const line = captured.lines.find((entry) => entry.msg === "No identity issued");
    expect(line?.pid).toBe(process.pid);
    expect(line?.method).toBe("FetchX509SVID");
    expect(line?.subsystem).toBe("workload_api");
    // Without log_selectors no selector value is logged, as in SPIRE.
    expect(line?.selectors).toEqual([]);
    expect(line?.selectors_hidden).toBeGreaterThan(0);
  });

  it("logs the selectors that log_selectors allows", async () => {
    await start([UNIX_ATTESTOR], false, ["unix:uid"]);

    await observe(workloadClient().FetchX509SVID({}, securityHeader())).finalStatus();

    const line = captured.lines.find((entry) => entry.msg === "No identity issued");
    expect(line?.selectors).toEqual([`unix:${OWN_UID}`]);
  });

  it("attests with swapped attestors from the next call", async () => {
    identities.state.entries = [await entryFor("entry-1", "web")];
    const blind: WorkloadAttestor = { name: "unix", attest: () => Promise.resolve([]) };
    await start([blind]);
    const denied = await observe(workloadClient().FetchX509SVID({}, securityHeader())).finalStatus();

    endpoint?.setAttestors([UNIX_ATTESTOR]);
    const stream = observe(workloadClient().FetchX509SVID({}, securityHeader()));
    const [first] = await stream.messageCount(1);

    expect(denied.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(first?.svids.map((svid) => svid.spiffe_id)).toEqual(["spiffe://example.org/web"]);
  });

  it("applies new log_selectors to the next line", async () => {
    await start();

    endpoint?.setLogSelectors(["unix:uid"]);
    await observe(workloadClient().FetchX509SVID({}, securityHeader())).finalStatus();

    const line = captured.lines.find((entry) => entry.msg === "No identity issued");
    expect(line?.selectors).toEqual([`unix:${OWN_UID}`]);
  });

  it("sends identities sorted by entry ID", async () => {
    const intermediate = await createTestIntermediateAuthority(root, "example.org");
    const chained = await createTestSvid(intermediate, "spiffe://example.org/chained", [intermediate.certificateDer]);
    identities.state.entries = [
      await entryFor("entry-b", "second", { hint: "internal", federatesWith: ["partner.test"] }),
      {
        ...(await entryFor("entry-a", "first")),
        certChain: chained.certChain.slice(0, 2),
        privateKeyPkcs8: chained.privateKeyPkcs8,
      },
    ];
    await start();

    const [response] = await observe(workloadClient().FetchX509SVID({}, securityHeader())).messageCount(1);
    const svids = (response as workload.X509SVIDResponse__Output).svids;

    expect(svids.map((svid) => svid.spiffe_id)).toEqual(["spiffe://example.org/first", "spiffe://example.org/second"]);
    expect(splitConcatenatedDer(svids[0]!.x509_svid)).toHaveLength(2);
    expect(svids[0]!.x509_svid_key.equals(chained.privateKeyPkcs8)).toBe(true);
    expect(svids[0]!.bundle.equals(concatDer([root.certificateDer]))).toBe(true);
    expect(svids[1]!.hint).toBe("internal");
    expect(Object.keys(response!.federated_bundles)).toEqual(["spiffe://partner.test"]);
    expect(response!.federated_bundles["spiffe://partner.test"]!.equals(federatedRoot.certificateDer)).toBe(true);
  });

  it("keeps the oldest entry among equal hints", async () => {
    identities.state.entries = [
      await entryFor("entry-1", "newer", { hint: "db", createdAt: 200 }),
      await entryFor("entry-2", "older", { hint: "db", createdAt: 100 }),
      await entryFor("entry-3", "plain"),
    ];
    await start();

    const [response] = await observe(workloadClient().FetchX509SVID({}, securityHeader())).messageCount(1);

    expect(response!.svids.map((svid) => svid.spiffe_id)).toEqual([
      "spiffe://example.org/older",
      "spiffe://example.org/plain",
    ]);
  });

  it("puts the leaf first in the chain", async () => {
    const intermediate = await createTestIntermediateAuthority(root, "example.org");
    const chained = await createTestSvid(intermediate, "spiffe://example.org/chained", [intermediate.certificateDer]);
    identities.state.entries = [
      {
        ...(await entryFor("entry-1", "chained")),
        certChain: chained.certChain.slice(0, 2),
        privateKeyPkcs8: chained.privateKeyPkcs8,
      },
    ];
    await start();

    const [response] = await observe(workloadClient().FetchX509SVID({}, securityHeader())).messageCount(1);
    const chain = splitConcatenatedDer(response!.svids[0]!.x509_svid);
    const leaf = new x509.X509Certificate(chain[0]!);

    expect(chain[1]!.equals(intermediate.certificateDer)).toBe(true);
    expect(leaf.getExtension(x509.BasicConstraintsExtension)?.ca ?? false).toBe(false);
    const uris = leaf.getExtension(x509.SubjectAlternativeNameExtension)?.names.items.filter((name) => name.type === "url");
    expect(uris?.map((name) => name.value)).toEqual([response!.svids[0]!.spiffe_id]);
  });

  it("sends an unencrypted key matching the leaf", async () => {
    identities.state.entries = [await entryFor("entry-1", "web")];
    await start();

    const [response] = await observe(workloadClient().FetchX509SVID({}, securityHeader())).messageCount(1);
    const svid = response!.svids[0]!;
    // Without a passphrase, Node only parses an unencrypted PKCS#8 key.
    const privateKey = createPrivateKey({ key: svid.x509_svid_key, format: "der", type: "pkcs8" });
    const derivedPublicKey = createPublicKey(privateKey).export({ format: "der", type: "spki" });
    const leaf = new x509.X509Certificate(splitConcatenatedDer(svid.x509_svid)[0]!);

    expect(derivedPublicKey.equals(Buffer.from(leaf.publicKey.rawData))).toBe(true);
  });

  it("sends the trust domain bundle with each SVID", async () => {
    identities.state.entries = [await entryFor("entry-1", "web"), await entryFor("entry-2", "api")];
    identities.state.bundle = [root.certificateDer, federatedRoot.certificateDer];
    await start();

    const [response] = await observe(workloadClient().FetchX509SVID({}, securityHeader())).messageCount(1);

    for (const svid of response!.svids) {
      expect(splitConcatenatedDer(svid.bundle)).toEqual([root.certificateDer, federatedRoot.certificateDer]);
    }
  });

  it("pushes an update to a streaming client", async () => {
    identities.state.entries = [await entryFor("entry-1", "web")];
    await start();
    const stream = observe(workloadClient().FetchX509SVID({}, securityHeader()));
    await stream.messageCount(1);

    identities.state.entries = [...identities.state.entries, await entryFor("entry-2", "api")];
    identities.changed();
    const messages = await stream.messageCount(2);

    expect(messages[1]!.svids.map((svid) => svid.spiffe_id)).toEqual([
      "spiffe://example.org/web",
      "spiffe://example.org/api",
    ]);
  });

  it("ends the stream when identities drop to zero", async () => {
    identities.state.entries = [await entryFor("entry-1", "web")];
    await start();
    const stream = observe(workloadClient().FetchX509SVID({}, securityHeader()));
    await stream.messageCount(1);

    identities.state.entries = [];
    identities.changed();
    const status = await stream.finalStatus();

    expect(status.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(status.details).toBe("no identity issued");
    expect(stream.messages).toHaveLength(1);
  });

  it("closes the subscription when the client cancels", async () => {
    identities.state.entries = [await entryFor("entry-1", "web")];
    await start();
    const call = workloadClient().FetchX509SVID({}, securityHeader());
    const stream = observe(call);
    await stream.messageCount(1);
    expect(identities.openSubscriptions()).toBe(1);

    call.cancel();
    await stream.finalStatus();
    while (identities.openSubscriptions() > 0) await new Promise((resolve) => setTimeout(resolve, 5));

    expect(identities.openSubscriptions()).toBe(0);
    identities.changed();
  });

  it("survives clients killed mid-stream", async () => {
    identities.state.entries = [await entryFor("entry-1", "web")];
    await start();
    const script = join(folder, "stalled-client.mjs");
    writeFileSync(script, STALLED_CLIENT_SCRIPT);

    for (let round = 0; round < 3; round += 1) {
      const child = fork(script, [socketPath], { stdio: ["ignore", "ignore", "inherit", "ipc"] });
      await once(child, "message");
      // The child no longer reads, so these updates fill the HTTP/2 window and queue up.
      for (let update = 0; update < 200; update += 1) identities.changed();
      const exited = once(child, "exit");
      child.kill("SIGKILL");
      await exited;
      for (let update = 0; update < 20; update += 1) identities.changed();
    }
    while (identities.openSubscriptions() > 0) await new Promise((resolve) => setTimeout(resolve, 5));
    const stream = observe(workloadClient().FetchX509SVID({}, securityHeader()));

    expect(await stream.messageCount(1)).toHaveLength(1);
    expect(identities.openSubscriptions()).toBe(1);
  });

  it("returns Unavailable when every attestor fails", async () => {
    const broken: WorkloadAttestor = {
      name: "broken",
      attest: async () => {
        throw new Error("plugin crashed");
      },
    };
    await start([broken]);

    const status = await observe(workloadClient().FetchX509SVID({}, securityHeader())).finalStatus();

    expect(status.code).toBe(grpc.status.UNAVAILABLE);
    expect(status.details).toBe("workload attestation failed");
  });

  it("rejects a caller whose process exited", async () => {
    identities.state.entries = [await entryFor("entry-1", "web", { selectors: [{ type: "fixed", value: "yes" }] })];
    const fixed: WorkloadAttestor = { name: "fixed", attest: async () => ["yes"] };
    await start([fixed]);
    const { socket, exitClient } = await connectThroughChild();
    const session = connectHttp2("http://localhost", { createConnection: () => socket });
    session.on("error", () => undefined);
    try {
      // A first call proves the connection was accepted while the child was alive.
      expect((await rawGrpcCall(session, "/grpc.health.v1.Health/Check", {})).status).toBe("0");
      await exitClient();

      const result = await rawGrpcCall(session, "/SpiffeWorkloadAPI/FetchX509SVID", { "workload.spiffe.io": "true" });

      expect(result.status).toBe(String(grpc.status.UNAUTHENTICATED));
      expect(decodeURIComponent(result.message)).toMatch(/^could not verify existence of the original caller/);
      expect(result.dataBytes).toBe(0);
    } finally {
      session.destroy();
    }
  });

  /**
   * Starts a child process that connects to the socket and hands the connection to this
   * process, so the kernel reports the child as the caller while this process sends the
   * requests. `exitClient` kills the child and waits until it is gone.
   */
  async function connectThroughChild(): Promise<{ socket: Socket; exitClient: () => Promise<void> }> {
    const script = join(folder, "connect-and-hand-over.mjs");
    writeFileSync(
      script,
      `import { connect } from "node:net";
const socket = connect(process.argv[2], () => process.send("socket", socket));
setInterval(() => undefined, 1000);
`,
    );
    const child = fork(script, [socketPath], { stdio: ["ignore", "ignore", "inherit", "ipc"] });
    const [, socket] = (await once(child, "message")) as [string, Socket];

    return {
      socket,
      exitClient: async () => {
        const exited = once(child, "exit");
        child.kill("SIGKILL");
        await exited;
      },
    };
  }
});

describe("FetchX509Bundles", () => {
  it("sends own and federated bundles", async () => {
    identities.state.entries = [await entryFor("entry-1", "web", { federatesWith: ["partner.test"] })];
    await start();

    const [response] = await observe(workloadClient().FetchX509Bundles({}, securityHeader())).messageCount(1);
    const bundles = (response as workload.X509BundlesResponse__Output).bundles;

    expect(Object.keys(bundles).sort()).toEqual(["spiffe://example.org", "spiffe://partner.test"]);
    expect(bundles["spiffe://example.org"]!.equals(root.certificateDer)).toBe(true);
  });

  it("rejects a call without the security header", async () => {
    await start();

    const status = await observe(workloadClient().FetchX509Bundles({})).finalStatus();

    expect(status.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(status.details).toBe("security header missing from request");
  });

  it("resends the full bundle set on change", async () => {
    identities.state.entries = [await entryFor("entry-1", "web", { federatesWith: ["partner.test"] })];
    await start();
    const stream = observe(workloadClient().FetchX509Bundles({}, securityHeader()));
    await stream.messageCount(1);

    identities.state.bundle = [root.certificateDer, federatedRoot.certificateDer];
    identities.changed();
    const messages = await stream.messageCount(2);

    expect(Object.keys(messages[1]!.bundles).sort()).toEqual(["spiffe://example.org", "spiffe://partner.test"]);
    expect(messages[1]!.bundles["spiffe://partner.test"]!.equals(federatedRoot.certificateDer)).toBe(true);
  });

  it("does not resend an unchanged message", async () => {
    identities.state.entries = [await entryFor("entry-1", "web")];
    await start();
    const stream = observe(workloadClient().FetchX509Bundles({}, securityHeader()));
    await stream.messageCount(1);

    identities.changed();
    identities.state.bundle = [root.certificateDer, federatedRoot.certificateDer];
    identities.changed();
    const messages = await stream.messageCount(2);
    await new Promise((resolve) => setTimeout(resolve, 50));

    expect(stream.messages).toHaveLength(2);
    expect(splitConcatenatedDer(messages[1]!.bundles["spiffe://example.org"]!)).toHaveLength(2);
  });

  it("sends only the own bundle to unauthenticated verifiers", async () => {
    await start([UNIX_ATTESTOR], true);

    const [response] = await observe(workloadClient().FetchX509Bundles({}, securityHeader())).messageCount(1);

    expect(Object.keys(response!.bundles)).toEqual(["spiffe://example.org"]);
  });

  it("denies a caller without identity", async () => {
    await start();

    const status = await observe(workloadClient().FetchX509Bundles({}, securityHeader())).finalStatus();

    expect(status.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(status.details).toBe("no identity issued");
  });
});

describe("SpiffeWorkloadAPI service", () => {
  it("serves only the specified methods", () => {
    const paths = Object.values(workloadApiService).map((method) => method.path).sort();

    expect(paths).toEqual([
      "/SpiffeWorkloadAPI/FetchJWTBundles",
      "/SpiffeWorkloadAPI/FetchJWTSVID",
      "/SpiffeWorkloadAPI/FetchWITBundles",
      "/SpiffeWorkloadAPI/FetchWITSVID",
      "/SpiffeWorkloadAPI/FetchX509Bundles",
      "/SpiffeWorkloadAPI/FetchX509SVID",
      "/SpiffeWorkloadAPI/ValidateJWTSVID",
    ]);
  });
});

describe("JWT and WIT methods", () => {
  it("return Unimplemented", async () => {
    await start();
    const client = workloadClient();

    const jwtError = await new Promise<grpc.ServiceError | null>((resolve) =>
      client.FetchJWTSVID({ audience: ["x"] }, securityHeader(), (error) => resolve(error)),
    );
    const witStatus = await observe(client.FetchWITSVID({}, securityHeader())).finalStatus();
    const bundleStatus = await observe(client.FetchJWTBundles({}, securityHeader())).finalStatus();

    expect(jwtError?.code).toBe(grpc.status.UNIMPLEMENTED);
    expect(jwtError?.details).toMatch(/^FetchJWTSVID is not implemented/);
    expect(witStatus.code).toBe(grpc.status.UNIMPLEMENTED);
    expect(bundleStatus.code).toBe(grpc.status.UNIMPLEMENTED);
  });

  it("return Unimplemented for WIT bundles", async () => {
    await start();

    const status = await observe(workloadClient().FetchWITBundles({}, securityHeader())).finalStatus();

    expect(status.code).toBe(grpc.status.UNIMPLEMENTED);
  });

  it("check the security header first", async () => {
    await start();

    const error = await new Promise<grpc.ServiceError | null>((resolve) =>
      workloadClient().ValidateJWTSVID({ audience: "x", svid: "y" }, (failure) => resolve(failure)),
    );

    expect(error?.code).toBe(grpc.status.INVALID_ARGUMENT);
  });
});

describe("Health Check", () => {
  function check(service: string): Promise<{ error: grpc.ServiceError | null; status?: string }> {
    const client = new HealthClient(`unix://${socketPath}`, grpc.credentials.createInsecure());
    clients.push(client);
    return new Promise((resolve) =>
      client.Check({ service }, (error, response) => resolve({ error, status: response?.status })),
    );
  }

  it("reports SERVING with a bundle", async () => {
    await start();

    expect((await check("")).status).toBe("SERVING");
  });

  it("reports NOT_SERVING without a bundle", async () => {
    identities.state.bundle = [];
    await start();

    expect((await check("")).status).toBe("NOT_SERVING");
  });

  it("returns NotFound for an unknown service", async () => {
    await start();

    expect((await check("SpiffeWorkloadAPI")).error?.code).toBe(grpc.status.NOT_FOUND);
  });
});

/**
 * A client that opens FetchX509SVID over raw HTTP/2, reports its first message to the
 * parent and then stops reading, so the server's writes back up until it is killed.
 */
const STALLED_CLIENT_SCRIPT = `import { connect as connectHttp2 } from "node:http2";
import { connect } from "node:net";
const session = connectHttp2("http://localhost", { createConnection: () => connect(process.argv[2]) });
const request = session.request({
  ":method": "POST",
  ":path": "/SpiffeWorkloadAPI/FetchX509SVID",
  "content-type": "application/grpc",
  te: "trailers",
  "workload.spiffe.io": "true",
});
request.end(Buffer.alloc(5));
request.once("data", () => {
  request.pause();
  process.send("first message");
});
`;

/**
 * Sends one gRPC request with an empty message over an HTTP/2 session and returns the
 * grpc-status and grpc-message trailers and how many response bytes arrived.
 */
async function rawGrpcCall(
  session: ReturnType<typeof connectHttp2>,
  path: string,
  headers: Record<string, string>,
): Promise<{ status: string; message: string; dataBytes: number }> {
  const request = session.request({
    [http2Constants.HTTP2_HEADER_METHOD]: "POST",
    [http2Constants.HTTP2_HEADER_PATH]: path,
    "content-type": "application/grpc",
    te: "trailers",
    ...headers,
  });
  request.end(Buffer.from([0, 0, 0, 0, 0]));

  let dataBytes = 0;
  let status = "";
  let message = "";
  request.on("data", (chunk: Buffer) => {
    dataBytes += chunk.length;
  });
  request.on("response", (responseHeaders) => {
    // A call that fails before any message puts its status in the headers.
    status = String(responseHeaders["grpc-status"] ?? status);
    message = String(responseHeaders["grpc-message"] ?? message);
  });
  request.on("trailers", (trailers) => {
    status = String(trailers["grpc-status"] ?? status);
    message = String(trailers["grpc-message"] ?? message);
  });
  await once(request, "close");

  return { status, message, dataBytes };
}
