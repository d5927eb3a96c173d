import { createServer } from "node:http";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer as createNetServer } from "node:net";
import type { AddressInfo, Server } from "node:net";

/** Maximum wait for a client's request headers, as SPIRE's HTTP endpoints allow (10 s). */
const HEADERS_TIMEOUT_MS = 10_000;

/** Host names and addresses that reach only the local machine. */
const LOOPBACK_HOSTS: ReadonlySet<string> = new Set(["localhost", "127.0.0.1", "::1"]);

/** An HTTP server listening on a TCP port. */
export interface HttpListener {
  /** The bound port; the one the system chose when 0 was requested. */
  readonly port: number;
  /** Stops listening and closes every open connection. */
  close(): Promise<void>;
}

/**
 * Serves `handler` on `host:port` (port 0 lets the system choose). `what` names the
 * endpoint in the error, e.g. "Prometheus metrics". Rejects when the port cannot be
 * bound, e.g. because it is in use.
 */
export async function listenHttp(
  handler: (request: IncomingMessage, response: ServerResponse) => void,
  host: string,
  port: number,
  what: string,
): Promise<HttpListener> {
  const server = createServer(handler);
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  server.requestTimeout = HEADERS_TIMEOUT_MS;
  await listenOrThrow(server, host, port, what);

  let closing: Promise<void> | undefined;
  return {
    port: (server.address() as AddressInfo).port,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

/**
 * Binds `host:port` and releases it at once, so a port that is in use or not allowed
 * (below 1024 without privileges) is reported before the agent spends a join token.
 * Another process may still take the port before the endpoint starts.
 */
export async function checkListenAddress(host: string, port: number, what: string): Promise<void> {
  const server = createNetServer();
  await listenOrThrow(server, host, port, what);
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

async function listenOrThrow(server: Server, host: string, port: number, what: string): Promise<void> {
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        resolve();
      });
    });
  } catch (error) {
    throw new Error(`failed to serve ${what} on ${host}:${port}: ${(error as Error).message}`, { cause: error });
  }
}

/** Tells whether `host` reaches only the local machine, so no other host can connect. */
export function isLoopbackHost(host: string): boolean {
  return LOOPBACK_HOSTS.has(host.toLowerCase()) || host.startsWith("127.");
}

/** Rejects any method but GET and HEAD with 405; returns true when it did. */
export function rejectUnlessGet(request: IncomingMessage, response: ServerResponse): boolean {
  if (request.method === "GET" || request.method === "HEAD") {
    return false;
  }
  response.writeHead(405, { Allow: "GET, HEAD", "Content-Type": "text/plain; charset=utf-8" });
  response.end(`method ${request.method ?? ""} is not allowed; use GET\n`);
  return true;
}
