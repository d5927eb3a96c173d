import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import type { TLSSocket } from "node:tls";

/** Certificate files for a test kubelet, made with openssl in one folder. */
export interface KubeletPki {
  /** CA that signs the kubelet's serving certificate. */
  caPath: string;
  /** Serving certificate and key, with the subject alternative names asked for. */
  serverCertPath: string;
  serverKeyPath: string;
  /** A second CA that signed nothing here, for verification failures. */
  otherCaPath: string;
  /** CA that signs client certificates, and one client certificate and key it signed. */
  clientCaPath: string;
  clientCertPath: string;
  clientKeyPath: string;
  /** A client certificate signed by `otherCaPath`, which the kubelet must reject. */
  strangerCertPath: string;
  strangerKeyPath: string;
}

/**
 * Makes a kubelet PKI in `folder` with openssl. `serverNames` are subjectAltName entries
 * for the serving certificate, such as `IP:127.0.0.1` or `DNS:node-a`.
 */
export function makeKubeletPki(folder: string, serverNames: readonly string[] = ["IP:127.0.0.1", "DNS:node-a"]): KubeletPki {
  const path = (name: string): string => join(folder, name);

  makeCa(path("ca"), "test kubelet CA");
  makeCa(path("other-ca"), "unrelated CA");
  makeCa(path("client-ca"), "test kubelet client CA");
  makeLeaf(path("server"), "node-a", path("ca"), [`subjectAltName=${serverNames.join(",")}`, "extendedKeyUsage=serverAuth"]);
  makeLeaf(path("client"), "system:node:spire-agent", path("client-ca"), ["extendedKeyUsage=clientAuth"]);
  makeLeaf(path("stranger"), "stranger", path("other-ca"), ["extendedKeyUsage=clientAuth"]);

  return {
    caPath: path("ca.crt"),
    serverCertPath: path("server.crt"),
    serverKeyPath: path("server.key"),
    otherCaPath: path("other-ca.crt"),
    clientCaPath: path("client-ca.crt"),
    clientCertPath: path("client.crt"),
    clientKeyPath: path("client.key"),
    strangerCertPath: path("stranger.crt"),
    strangerKeyPath: path("stranger.key"),
  };
}

function makeCa(base: string, commonName: string): void {
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
    "-keyout", `${base}.key`, "-out", `${base}.crt`, "-subj", `/CN=${commonName}`, "-days", "2",
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
  ], { stdio: "pipe" });
}

function makeLeaf(base: string, commonName: string, caBase: string, extensions: readonly string[]): void {
  writeFileSync(`${base}.ext`, `${extensions.join("\n")}\n`);
  execFileSync("openssl", [
    "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
    "-keyout", `${base}.key`, "-out", `${base}.csr`, "-subj", `/CN=${commonName}`,
  ], { stdio: "pipe" });
  execFileSync("openssl", [
    "x509", "-req", "-in", `${base}.csr`, "-CA", `${caBase}.crt`, "-CAkey", `${caBase}.key`,
    "-set_serial", String(Date.now()), "-days", "2", "-out", `${base}.crt`, "-extfile", `${base}.ext`,
  ], { stdio: "pipe" });
}

/** One request the test kubelet received. */
export interface KubeletRequest {
  path: string;
  authorization?: string;
  /** Common name of a verified client certificate. */
  clientCommonName?: string;
}

/** A reply of the test kubelet: status and body. */
export interface KubeletReply {
  status: number;
  body: string | Buffer;
  /** Send the body in two chunks without a Content-Length header. */
  chunked?: boolean;
}

/** Settings for {@link startTestKubelet}. */
export interface TestKubeletOptions {
  /** Serve HTTPS with this PKI; plain HTTP (the read-only port) when absent. */
  pki?: KubeletPki;
  /** Require `Authorization: Bearer <token>`. */
  token?: string;
  /** Require a client certificate signed by the PKI's client CA. */
  requireClientCertificate?: boolean;
  /** Reply for the n-th `/pods` request (0-based) that passed authentication. */
  reply: (index: number) => KubeletReply;
}

/** A kubelet stand-in listening on 127.0.0.1. */
export interface TestKubelet {
  port: number;
  /** Every request received, authenticated or not. */
  requests: KubeletRequest[];
  close(): Promise<void>;
}

/**
 * Starts a kubelet stand-in on `127.0.0.1:0` that serves `GET /pods` behind a bearer
 * token or a client certificate, and returns 401 to a caller without them, as the
 * kubelet's authenticator does.
 */
export async function startTestKubelet(options: TestKubeletOptions): Promise<TestKubelet> {
  const requests: KubeletRequest[] = [];
  let served = 0;

  const handle = (request: IncomingMessage, response: ServerResponse): void => {
    const socket = request.socket as TLSSocket;
    const peer = options.pki !== undefined && socket.authorized ? socket.getPeerCertificate() : undefined;
    const seen: KubeletRequest = { path: request.url ?? "" };
    if (request.headers.authorization !== undefined) seen.authorization = request.headers.authorization;
    if (peer?.subject?.CN !== undefined) seen.clientCommonName = String(peer.subject.CN);
    requests.push(seen);

    const tokenOk = options.token === undefined || request.headers.authorization === `Bearer ${options.token}`;
    const certificateOk = options.requireClientCertificate !== true || peer !== undefined;
    if (!tokenOk || !certificateOk) {
      response.writeHead(401, { "content-type": "text/plain" });
      response.end("Unauthorized");
      return;
    }
    if (request.url !== "/pods") {
      response.writeHead(404);
      response.end("404 page not found");
      return;
    }

    const reply = options.reply(served++);
    const body = Buffer.from(reply.body);
    if (reply.chunked === true) {
      response.writeHead(reply.status, { "content-type": "application/json" });
      response.write(body.subarray(0, body.length >> 1));
      response.end(body.subarray(body.length >> 1));
      return;
    }
    response.writeHead(reply.status, { "content-type": "application/json", "content-length": body.length });
    response.end(body);
  };

  const server: Server =
    options.pki === undefined
      ? createHttpServer(handle)
      : createHttpsServer(
          {
            cert: readFileSync(options.pki.serverCertPath),
            key: readFileSync(options.pki.serverKeyPath),
            ca: readFileSync(options.pki.clientCaPath),
            requestCert: true,
            rejectUnauthorized: false,
          },
          handle,
        );

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });

  return {
    port: (server.address() as AddressInfo).port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Makes a 64-hex container ID from a short tag, for readable tests. */
export function testContainerId(tag: string): string {
  return Buffer.from(tag).toString("hex").padEnd(64, "0").slice(0, 64);
}

/** Settings of one pod in {@link testPod}. */
export interface TestPodOptions {
  uid: string;
  name: string;
  namespace?: string;
  serviceAccount?: string;
  nodeName?: string;
  labels?: Record<string, string>;
  /** Running containers: name and runtime container ID (64 hex), or undefined while starting. */
  containers: { name: string; id?: string; image?: string; imageId?: string; previousId?: string }[];
  initContainers?: { name: string; id?: string; image?: string; imageId?: string }[];
  ephemeralContainers?: { name: string; id?: string; image?: string; imageId?: string }[];
}

/**
 * Builds a pod as the kubelet's `/pods` lists it, with a ReplicaSet owner and statuses
 * whose `containerID` is `containerd://<id>`. `previousId` fills `lastState.terminated`
 * as after a restart.
 */
export function testPod(options: TestPodOptions): Record<string, unknown> {
  const status = (container: { name: string; id?: string; image?: string; imageId?: string; previousId?: string }): Record<string, unknown> => {
    const image = container.image ?? `registry.example/${container.name}:1.0`;
    const result: Record<string, unknown> = {
      name: container.name,
      image,
      imageID: container.imageId ?? `registry.example/${container.name}@sha256:${testContainerId(container.name)}`,
      ready: container.id !== undefined,
      restartCount: container.previousId === undefined ? 0 : 1,
      state: container.id === undefined ? { waiting: { reason: "ContainerCreating" } } : { running: { startedAt: "2024-06-01T10:00:00Z" } },
    };
    if (container.id !== undefined) result.containerID = `containerd://${container.id}`;
    if (container.previousId !== undefined) {
      result.lastState = { terminated: { exitCode: 1, reason: "Error", containerID: `containerd://${container.previousId}` } };
    }
    return result;
  };

  const replicaSet = `${options.name.split("-").slice(0, 2).join("-")}`;
  return {
    metadata: {
      name: options.name,
      namespace: options.namespace ?? "default",
      uid: options.uid,
      labels: options.labels ?? {},
      ownerReferences: [{ apiVersion: "apps/v1", kind: "ReplicaSet", name: replicaSet, uid: `${options.uid.slice(0, 8)}-0000-4000-8000-000000000001`, controller: true }],
    },
    spec: {
      serviceAccountName: options.serviceAccount ?? "default",
      nodeName: options.nodeName ?? "node-a",
      containers: options.containers.map((container) => ({ name: container.name, image: container.image ?? `registry.example/${container.name}:1.0` })),
    },
    status: {
      phase: "Running",
      podIP: "10.0.0.7",
      containerStatuses: options.containers.map(status),
      ...(options.initContainers === undefined ? {} : { initContainerStatuses: options.initContainers.map(status) }),
      ...(options.ephemeralContainers === undefined ? {} : { ephemeralContainerStatuses: options.ephemeralContainers.map(status) }),
    },
  };
}

/** Serialises pods as the kubelet's `PodList`. */
export function podListJson(pods: readonly Record<string, unknown>[]): string {
  return JSON.stringify({ kind: "PodList", apiVersion: "v1", metadata: {}, items: pods });
}
