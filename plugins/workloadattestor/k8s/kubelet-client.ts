import { request as httpRequest } from "node:http";
import type { IncomingMessage, OutgoingHttpHeaders } from "node:http";
import { request as httpsRequest } from "node:https";
import type { RequestOptions } from "node:https";
import { isIP } from "node:net";
import type { KubeletEndpoint } from "./k8s-config.js";
import type { KubeletCredentials } from "./kubelet-credentials.js";

/** Time limit of one kubelet request, in milliseconds, as in SPIRE. */
export const KUBELET_REQUEST_TIMEOUT_MS = 10_000;

/**
 * Largest pod list accepted, in bytes. A kubelet runs at most 110 pods unless its
 * `maxPods` setting is raised, and a pod's JSON is typically a few kilobytes (an
 * estimate), so 64 MiB leaves a wide margin while keeping one bad response from filling
 * the agent's memory.
 */
export const MAX_POD_LIST_BYTES = 64 * 1024 * 1024;

/** Raised when the kubelet's response is not a pod list the attestor can use (status, size or JSON shape). */
export class KubeletResponseError extends Error {
  override readonly name = "KubeletResponseError";
}

/** Settings for {@link fetchKubeletPodList}. */
export interface KubeletClientOptions {
  endpoint: KubeletEndpoint;
  /** Host name of the kubelet; undefined means `127.0.0.1` with the certificate chain checked but not its names. */
  nodeName?: string;
  /** Current credentials; called once per request. Unused for the read-only port. */
  credentials: () => KubeletCredentials;
  /** Largest accepted body; default {@link MAX_POD_LIST_BYTES}. */
  maxResponseBytes?: number;
  /** Time limit per request; default {@link KUBELET_REQUEST_TIMEOUT_MS}. */
  requestTimeoutMs?: number;
}

/** Returns the URL of the kubelet's `/pods` endpoint for `endpoint`. */
export function kubeletPodsUrl(endpoint: KubeletEndpoint, nodeName: string | undefined): URL {
  if (endpoint.kind === "read-only") {
    return new URL(`http://127.0.0.1:${endpoint.port}/pods`);
  }

  const host = nodeName ?? "127.0.0.1";
  const hostPart = isIP(host) === 6 ? `[${host}]` : host;
  return new URL(`https://${hostPart}:${endpoint.port}/pods`);
}

/**
 * Fetches the kubelet's pod list and returns its pods keyed by `metadata.uid`, as raw
 * JSON objects. Pods without a UID are left out.
 *
 * On the secure port the kubelet certificate must chain to the configured CA. With a
 * node name, it must also name that host. Without one, the request goes to `127.0.0.1`
 * and only the chain is checked, as SPIRE does, because kubelet certificates seldom name
 * the loopback address. `skipVerification` accepts any certificate. The bearer token is
 * sent only over HTTPS.
 *
 * Throws {@link KubeletResponseError} for a status other than 200, a body larger than
 * the limit, or JSON that is not a pod list, and an `Error` naming the URL for transport
 * failures.
 */
export async function fetchKubeletPodList(options: KubeletClientOptions, signal: AbortSignal): Promise<Map<string, unknown>> {
  const url = kubeletPodsUrl(options.endpoint, options.nodeName);
  const maxBytes = options.maxResponseBytes ?? MAX_POD_LIST_BYTES;
  const timeoutMs = options.requestTimeoutMs ?? KUBELET_REQUEST_TIMEOUT_MS;
  const requestSignal = AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]);

  let body: Buffer;
  try {
    body = await getBody(url, requestOptions(options), maxBytes, requestSignal);
  } catch (error) {
    if (error instanceof KubeletResponseError) {
      throw error;
    }
    const reason = requestSignal.aborted && !signal.aborted ? `timed out after ${timeoutMs} ms` : (error as Error).message;
    throw new Error(`failed to fetch the pod list from the kubelet at ${url.href}: ${reason}`, { cause: error });
  }

  return parsePodList(body);
}

function requestOptions(options: KubeletClientOptions): RequestOptions {
  const headers: OutgoingHttpHeaders = { accept: "application/json" };
  if (options.endpoint.kind === "read-only") {
    return { method: "GET", headers, agent: false };
  }

  const credentials = options.credentials();
  const tls: RequestOptions = { method: "GET", headers, agent: false };

  if (options.endpoint.skipVerification) {
    tls.rejectUnauthorized = false;
  } else {
    tls.rejectUnauthorized = true;
    tls.ca = credentials.caPem;
    if (options.nodeName === undefined) {
      // The chain is still verified against `ca`; only the host name check is off.
      tls.checkServerIdentity = () => undefined;
    } else if (isIP(options.nodeName) === 0) {
      tls.servername = options.nodeName;
    }
  }

  if (credentials.certificatePem !== undefined) {
    tls.cert = credentials.certificatePem;
    tls.key = credentials.privateKeyPem;
  }
  if (credentials.token !== undefined) {
    headers.authorization = `Bearer ${credentials.token}`;
  }
  return tls;
}

/** Sends a GET and collects a 200 body of at most `maxBytes` bytes. */
function getBody(url: URL, options: RequestOptions, maxBytes: number, signal: AbortSignal): Promise<Buffer> {
  const send = url.protocol === "https:" ? httpsRequest : httpRequest;

  return new Promise<Buffer>((resolve, reject) => {
    const request = send(url, { ...options, signal }, (response: IncomingMessage) => {
      collectBody(response, maxBytes).then(
        (body) => {
          if (response.statusCode !== 200) {
            const excerpt = body.subarray(0, 1024).toString("utf8").trim();
            reject(new KubeletResponseError(`the kubelet at ${url.href} returned HTTP ${response.statusCode}: ${excerpt}`));
            return;
          }
          resolve(body);
        },
        (error: unknown) => {
          request.destroy();
          reject(error instanceof KubeletResponseError ? new KubeletResponseError(`the kubelet at ${url.href} sent ${error.message}`) : error);
        },
      );
    });
    request.once("error", reject);
    request.end();
  });
}

function collectBody(response: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = Number(response.headers["content-length"]);
  if (Number.isFinite(declared) && declared > maxBytes) {
    response.resume();
    return Promise.reject(new KubeletResponseError(`a pod list of ${declared} bytes, more than the limit of ${maxBytes}`));
  }

  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    response.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        // Settle before destroying, because destroying emits the events handled below.
        reject(new KubeletResponseError(`a pod list larger than the limit of ${maxBytes} bytes`));
        response.destroy();
        return;
      }
      chunks.push(chunk);
    });
    response.once("end", () => resolve(Buffer.concat(chunks)));
    response.once("error", reject);
    response.once("aborted", () => reject(new Error("the kubelet closed the connection mid-response")));
  });
}

/**
 * Parses a PodList body into pods keyed by UID. `items: null` is an empty list (Go
 * encodes an empty slice that way). Anything other than an object with an `items` list
 * raises {@link KubeletResponseError}.
 */
export function parsePodList(body: Buffer | string): Map<string, unknown> {
  let document: unknown;
  try {
    document = JSON.parse(typeof body === "string" ? body : body.toString("utf8"));
  } catch (error) {
    throw new KubeletResponseError(`invalid pod list from the kubelet: ${(error as Error).message}`, { cause: error });
  }

  if (typeof document !== "object" || document === null || Array.isArray(document)) {
    throw new KubeletResponseError("invalid pod list from the kubelet: expected a JSON object");
  }
  const items = (document as { items?: unknown }).items;
  if (items === null) {
    return new Map();
  }
  if (!Array.isArray(items)) {
    throw new KubeletResponseError("invalid pod list from the kubelet: expected an items list");
  }

  const pods = new Map<string, unknown>();
  for (const item of items) {
    const uid = (item as { metadata?: { uid?: unknown } } | null)?.metadata?.uid;
    if (typeof uid === "string" && uid !== "") {
      pods.set(uid, item);
    }
  }
  return pods;
}
