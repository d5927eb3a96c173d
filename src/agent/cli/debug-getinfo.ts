import type { FlagSpec, ParsedFlags } from "../../config/flags.js";
import type { debugv1 } from "../../proto/index.js";
import { ADMIN_SOCKET_PATH_FLAG, fetchDebugInfo, resolveAdminSocketPath, withErrorPrefix } from "../admin/admin-client.js";
import { OUTPUT_FLAG, processIo, readOutputFlag, readTimeoutFlag, runClientVerb, TIMEOUT_FLAG } from "./api-client.js";
import type { CliIo } from "./api-client.js";

const COMMAND = "tessera-agent debug getinfo";

const FLAGS: FlagSpec[] = [ADMIN_SOCKET_PATH_FLAG, OUTPUT_FLAG, TIMEOUT_FLAG];

/** Width of the labels in the pretty output, so that the values line up as in spire-agent's. */
const LABEL_WIDTH = 33;

/**
 * Runs `tessera-agent debug <verb>` with the arguments after `debug`. The only verb is
 * `getinfo`. Returns the exit code.
 */
export function runDebugCommand(args: string[], io: CliIo = processIo()): Promise<number> {
  const [verb, ...rest] = args;
  if (verb === "getinfo") {
    return runDebugGetInfo(rest, io);
  }

  io.stderr.write(`tessera-agent debug: unknown command ${JSON.stringify(args.join(" "))}; supported: debug getinfo\n`);
  return Promise.resolve(1);
}

/**
 * Runs `tessera-agent debug getinfo` with the arguments after the verb: calls
 * Debug/GetInfo on the admin socket and prints the agent's uptime, last sync, cache counts
 * and SVID chain, as `spire-agent debug getinfo` does (`-output json` prints the response
 * as protobuf JSON). Returns 0 on success and 1 on any error, printed on standard error.
 */
export function runDebugGetInfo(args: string[], io: CliIo = processIo()): Promise<number> {
  return runClientVerb(args, io, { command: COMMAND, flags: FLAGS }, readOptions, (options) =>
    withErrorPrefix(async () => {
      const response = await fetchDebugInfo(options.socketPath, options.timeoutMs);
      io.stdout.write(options.output === "json" ? formatGetInfoJson(response) : formatGetInfoPretty(response));
    }),
  );
}

interface GetInfoOptions {
  socketPath: string;
  timeoutMs: number;
  output: "pretty" | "json";
}

function readOptions(parsed: ParsedFlags): GetInfoOptions {
  return {
    socketPath: resolveAdminSocketPath(parsed.values.socketPath as string),
    timeoutMs: readTimeoutFlag(parsed),
    output: readOutputFlag(parsed),
  };
}

/** Formats a GetInfo response as the text `spire-agent debug getinfo` prints. */
export function formatGetInfoPretty(response: debugv1.GetInfoResponse__Output): string {
  const line = (label: string, value: string | number) => `  ${label.padEnd(LABEL_WIDTH)}${value}\n`;
  let text = "Agent Debug Info:\n";

  text += line("Uptime:", formatGoDuration(response.uptime));
  text += line("Last Sync Success:", formatUnixSeconds(response.last_sync_success));
  text += line("Cached X.509 SVIDs:", response.cached_x509_svids_count);
  text += line("Cached JWT SVIDs:", response.cached_jwt_svids_count);
  text += line("Cached SVID Store X.509 SVIDs:", response.cached_svidstore_x509_svids_count);

  if (response.svid_chain.length > 0) {
    text += "  SVID Chain:\n";
    response.svid_chain.forEach((certificate, index) => {
      text += `    [${index}] SPIFFE ID:  ${formatCertificateId(certificate)}\n`;
      text += `        Subject:    ${certificate.subject}\n`;
      text += `        Expires At: ${formatUnixSeconds(certificate.expires_at)}\n`;
    });
  }
  return text;
}

/**
 * Formats a GetInfo response as one line of protobuf JSON, as spire-agent's `-output json`
 * does: proto field names, every field present (an unset `id` is null), int64 values as
 * strings.
 */
export function formatGetInfoJson(response: debugv1.GetInfoResponse__Output): string {
  const json = {
    svid_chain: response.svid_chain.map((certificate) => ({
      id: certificate.id === null ? null : { trust_domain: certificate.id.trust_domain, path: certificate.id.path },
      expires_at: String(certificate.expires_at),
      subject: certificate.subject,
    })),
    uptime: response.uptime,
    svids_count: response.svids_count,
    last_sync_success: String(response.last_sync_success),
    cached_x509_svids_count: response.cached_x509_svids_count,
    cached_jwt_svids_count: response.cached_jwt_svids_count,
    cached_svidstore_x509_svids_count: response.cached_svidstore_x509_svids_count,
  };
  return `${JSON.stringify(json)}\n`;
}

function formatCertificateId(certificate: debugv1.GetInfoResponseCert__Output): string {
  if (certificate.id === null) {
    return "(none)";
  }
  return `spiffe://${certificate.id.trust_domain}${certificate.id.path}`;
}

/** Formats seconds since the Unix epoch as RFC 3339 in UTC without fractions, e.g. 2024-01-15T12:00:00Z. */
function formatUnixSeconds(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** Formats whole seconds as Go's time.Duration String method does: 0s, 42s, 2m0s, 1h2m3s. */
export function formatGoDuration(totalSeconds: number): string {
  const sign = totalSeconds < 0 ? "-" : "";
  const magnitude = Math.abs(totalSeconds);
  const hours = Math.floor(magnitude / 3600);
  const minutes = Math.floor((magnitude % 3600) / 60);
  const seconds = magnitude % 60;

  if (hours > 0) {
    return `${sign}${hours}h${minutes}m${seconds}s`;
  }
  if (minutes > 0) {
    return `${sign}${minutes}m${seconds}s`;
  }
  return `${sign}${seconds}s`;
}
