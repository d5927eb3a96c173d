import { status as Status } from "@grpc/grpc-js";

/**
 * Short service names SPIRE uses in RPC metric keys (SPIRE: pkg/common/api/middleware/names.go).
 * Other services keep their full name, each dot-separated part becoming one key part.
 */
const SERVICE_SHORT_NAMES: ReadonlyMap<string, string> = new Map([
  ["SpiffeWorkloadAPI", "WorkloadAPI"],
  ["envoy.service.secret.v3.SecretDiscoveryService", "SDS.v3"],
  ["grpc.health.v1.Health", "Health"],
  ["spire.api.agent.delegatedidentity.v1.DelegatedIdentity", "DelegatedIdentity"],
  ["spire.agent.debug.v1.Debug", "Debug"],
]);

/** Method keys SPIRE fixes by hand because its conversion rule splits them badly. */
const METHOD_KEY_OVERRIDES: ReadonlyMap<string, string> = new Map([["SubscribeToX509SVIDs", "subscribe_to_x509_svids"]]);

/** gRPC status code names as Go's `codes.Code.String()` spells them, which SPIRE puts in its `status` label. */
const STATUS_NAMES: ReadonlyMap<number, string> = new Map([
  [Status.OK, "OK"],
  [Status.CANCELLED, "Canceled"],
  [Status.UNKNOWN, "Unknown"],
  [Status.INVALID_ARGUMENT, "InvalidArgument"],
  [Status.DEADLINE_EXCEEDED, "DeadlineExceeded"],
  [Status.NOT_FOUND, "NotFound"],
  [Status.ALREADY_EXISTS, "AlreadyExists"],
  [Status.PERMISSION_DENIED, "PermissionDenied"],
  [Status.RESOURCE_EXHAUSTED, "ResourceExhausted"],
  [Status.FAILED_PRECONDITION, "FailedPrecondition"],
  [Status.ABORTED, "Aborted"],
  [Status.OUT_OF_RANGE, "OutOfRange"],
  [Status.UNIMPLEMENTED, "Unimplemented"],
  [Status.INTERNAL, "Internal"],
  [Status.UNAVAILABLE, "Unavailable"],
  [Status.DATA_LOSS, "DataLoss"],
  [Status.UNAUTHENTICATED, "Unauthenticated"],
]);

/**
 * Converts a PascalCase RPC service or method name into a snake_case metric key part
 * with SPIRE's rule. An uppercase letter that follows or precedes a lowercase one starts
 * a new word, and any character other than a letter or digit becomes `_`. So
 * `FetchX509SVID` becomes `fetch_x509svid` and `FetchX509Bundles` `fetch_x509_bundles`.
 */
export function metricKeyPart(name: string): string {
  const runes = [...name];
  let out = "";

  runes.forEach((rune, index) => {
    if (!/[\p{L}\p{N}]/u.test(rune)) {
      out += "_";
      return;
    }

    const lower = rune.toLowerCase();
    const isUpper = rune !== lower;
    const next = runes[index + 1];
    const previous = runes[index - 1];
    const touchesLowercase = isLowercaseLetter(next) || isLowercaseLetter(previous);
    if (isUpper && index > 0 && next !== undefined && touchesLowercase && !out.endsWith("_")) {
      out += "_";
    }
    out += lower;
  });
  return out;
}

function isLowercaseLetter(rune: string | undefined): boolean {
  return rune !== undefined && rune !== rune.toUpperCase() && rune === rune.toLowerCase();
}

/**
 * Returns the metric key of an RPC from its gRPC path, as SPIRE builds it:
 * `/SpiffeWorkloadAPI/FetchX509SVID` gives `["rpc", "workload_api", "fetch_x509svid"]`.
 */
export function rpcMetricKey(path: string): string[] {
  const trimmed = path.startsWith("/") ? path.slice(1) : path;
  const slash = trimmed.indexOf("/");
  const rawService = slash === -1 ? trimmed : trimmed.slice(0, slash);
  const method = slash === -1 ? "" : trimmed.slice(slash + 1);

  const service = SERVICE_SHORT_NAMES.get(rawService) ?? rawService;
  return ["rpc", ...service.split(".").map(metricKeyPart), METHOD_KEY_OVERRIDES.get(method) ?? metricKeyPart(method)];
}

/**
 * Joins a metric key into a Prometheus metric name under `prefix`, replacing the
 * characters Prometheus names cannot hold (space, `.`, `=`, `-`, `/`) with `_`, as
 * SPIRE's Prometheus sink does.
 */
export function prometheusName(prefix: string, key: readonly string[]): string {
  return [prefix, ...key].join("_").replace(/[ .=\-/]/g, "_");
}

/** Returns the Go spelling of a gRPC status code (`OK`, `Canceled`, `PermissionDenied`); `Unknown` for a number outside the range. */
export function grpcStatusName(code: number): string {
  return STATUS_NAMES.get(code) ?? "Unknown";
}

/**
 * Returns the `status` label value for an error, as SPIRE's call counters set it: the
 * gRPC status of the error or of one of its causes, `Unknown` for any other error, and
 * `OK` when `error` is undefined.
 */
export function errorStatusName(error: unknown): string {
  if (error === undefined) {
    return "OK";
  }

  for (let current: unknown = error, depth = 0; current instanceof Error && depth < 5; current = current.cause, depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "number" && STATUS_NAMES.has(code)) {
      return grpcStatusName(code);
    }
  }
  return "Unknown";
}
