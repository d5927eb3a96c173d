import { createServer as createTlsServer } from "node:tls";
import type { SecureContextOptions, TLSSocket } from "node:tls";
import { ServerCredentials } from "@grpc/grpc-js";
import type { Server } from "@grpc/grpc-js";
import type { Logger } from "../../common/log.js";

/** The certificate the server presents and the roots it requests client certificates for. */
export interface ServerTlsIdentity {
  /** PEM chain of the server's X.509-SVID, leaf first. */
  certChainPem: string;
  /** PEM private key of that SVID. Never log it. */
  privateKeyPem: string;
  /** PEM roots of the trust domain, offered as acceptable client CAs. */
  bundlePem: string;
}

/** Settings of {@link listenTls}. */
export interface TlsListenerOptions {
  server: Server;
  bindAddress: string;
  /** TCP port; 0 picks a free one (read it back from {@link TlsListener.port}). */
  bindPort: number;
  identity: ServerTlsIdentity;
  logger: Logger;
}

/** A TLS listener feeding a grpc-js server; see {@link listenTls}. */
export interface TlsListener {
  readonly address: string;
  readonly port: number;
  /**
   * Returns the client certificate chain (DER, leaf first) of the connection a call came
   * in on, keyed by the call's `getPeer()` string, or undefined when the client sent none.
   */
  peerCertificates(peer: string): Buffer[] | undefined;
  /** Replaces the server certificate for new handshakes (SVID rotation). */
  setIdentity(identity: ServerTlsIdentity): void;
  /** Stops accepting new connections; open ones keep working until {@link TlsListener.close}. */
  stopAccepting(): void;
  /** Stops accepting connections and closes open ones. */
  close(): Promise<void>;
}

/**
 * Listens for TLS on TCP and hands each established connection to grpc-js through
 * `Server.createConnectionInjector` with insecure credentials, so that this module, not
 * grpc-js, owns the TLS layer.
 *
 * Why: SPIRE agents call AttestAgent and GetBundle without a client certificate and
 * everything else with their agent SVID, so the server must request a certificate without
 * requiring it. Owning the `tls.Server` gives `requestCert: true, rejectUnauthorized: false`
 * and, unlike grpc-js's `call.getAuthContext()` (which hides certificates that OpenSSL did
 * not verify), keeps the peer certificate of an expired agent SVID, so the server can return
 * AGENT_EXPIRED instead of failing the handshake.
 *
 * Dependency on grpc-js internals (checked by tls-listener.test.ts): a handler's
 * `call.getPeer()` is `${socket.remoteAddress}:${socket.remotePort}` of the injected socket,
 * and an injected TLSSocket that negotiated ALPN "h2" is served as HTTP/2. Both hold for
 * @grpc/grpc-js 1.14.
 */
export async function listenTls(options: TlsListenerOptions): Promise<TlsListener> {
  const log = options.logger.child({ subsystem: "endpoints" });
  const injector = options.server.createConnectionInjector(ServerCredentials.createInsecure());
  const sockets = new Map<string, TLSSocket>();

  const tlsServer = createTlsServer({
    ...secureContextOptions(options.identity),
    ALPNProtocols: ["h2"],
    requestCert: true,
    rejectUnauthorized: false,
    minVersion: "TLSv1.2",
  });

  tlsServer.on("secureConnection", (socket: TLSSocket) => {
    const peer = peerKey(socket);
    if (peer === undefined) {
      socket.destroy();
      return;
    }
    sockets.set(peer, socket);
    socket.once("close", () => {
      if (sockets.get(peer) === socket) sockets.delete(peer);
    });
    socket.on("error", (error) => log.debug({ err: error, peer }, "TLS connection failed"));
    injector.injectConnection(socket);
  });

  tlsServer.on("tlsClientError", (error, socket) => {
    log.debug({ err: error, address: socket.remoteAddress }, "TLS handshake failed");
  });

  await new Promise<void>((resolve, reject) => {
    tlsServer.once("error", reject);
    tlsServer.listen(options.bindPort, options.bindAddress, () => {
      tlsServer.off("error", reject);
      resolve();
    });
  });

  const bound = tlsServer.address();
  if (bound === null || typeof bound === "string") {
    throw new Error(`failed to read the bound address of the TLS listener on ${options.bindAddress}`);
  }

  return {
    address: bound.address,
    port: bound.port,

    peerCertificates(peer) {
      const socket = sockets.get(peer);
      return socket === undefined ? undefined : readPeerChain(socket);
    },

    setIdentity(identity) {
      tlsServer.setSecureContext(secureContextOptions(identity));
    },

    stopAccepting() {
      if (tlsServer.listening) tlsServer.close();
    },

    async close() {
      const closed = tlsServer.listening ? new Promise<void>((resolve) => tlsServer.close(() => resolve())) : Promise.resolve();
      injector.destroy();
      for (const socket of sockets.values()) socket.destroy();
      sockets.clear();
      await closed;
    },
  };
}

function secureContextOptions(identity: ServerTlsIdentity): SecureContextOptions {
  return { cert: identity.certChainPem, key: identity.privateKeyPem, ca: identity.bundlePem };
}

/** The string grpc-js returns from `call.getPeer()` for a call on this socket. */
function peerKey(socket: TLSSocket): string | undefined {
  if (socket.remoteAddress === undefined) return undefined;
  return socket.remotePort === undefined ? socket.remoteAddress : `${socket.remoteAddress}:${socket.remotePort}`;
}

/**
 * Collects the client's certificates, leaf first. Node links each certificate to its
 * issuer, taken from the client's chain or from the `ca` roots. The walk stops at a
 * self-signed certificate because it links to itself.
 */
function readPeerChain(socket: TLSSocket): Buffer[] | undefined {
  const leaf = socket.getPeerCertificate(true);
  if (leaf === null || leaf.raw === undefined) return undefined;

  const chain: Buffer[] = [];
  let current: typeof leaf | undefined = leaf;
  while (current?.raw !== undefined && chain.length < 10) {
    if (chain.some((der) => der.equals(current?.raw as Buffer))) break;
    chain.push(current.raw);
    const issuer: typeof leaf | undefined = current.issuerCertificate;
    current = issuer === current ? undefined : issuer;
  }
  return chain;
}
