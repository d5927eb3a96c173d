/**
 * Long-running Workload API client for the soak and CA-rotation tests. It holds one
 * FetchX509SVID stream and, at every update and every SAMPLE_MS in between, checks every
 * X.509-SVID it holds with Node's own crypto (not Tessera's verifier): the leaf is within
 * its validity, its URI SAN is the SPIFFE ID it was delivered for, and it chains to a root
 * of the bundle that came with it, every certificate on the path being valid too. With
 * JWT_AUDIENCE set it also calls FetchJWTSVID every JWT_INTERVAL_MS and checks that each
 * token names that audience and has not expired when it arrives.
 *
 * Usage: node svid-watcher.js SOCKET_PATH DURATION_MS SAMPLE_MS [JWT_AUDIENCE JWT_INTERVAL_MS]
 *
 * Prints one JSON object ({@link WatchReport}) when DURATION_MS has passed, or at SIGTERM.
 */
import { createHash, X509Certificate } from "node:crypto";
import { credentials, Metadata } from "@grpc/grpc-js";
import type { ServiceError } from "@grpc/grpc-js";
import { WorkloadApiClient } from "../../../src/proto/index.js";
import type { workload } from "../../../src/proto/index.js";
import { splitConcatenatedDer } from "../../../src/spiffe/bundle.js";

/** One problem the watcher saw, with the time it saw it. */
export interface Violation {
  atMs: number;
  kind: "expired" | "not_yet_valid" | "untrusted_chain" | "wrong_spiffe_id" | "no_svids" | "jwt_expired" | "jwt_wrong_audience" | "jwt_failed";
  spiffeId: string;
  detail: string;
}

/** A change the watcher saw: the bundle's roots, or the first SVID signed by a root. */
export interface TimelineEvent {
  atMs: number;
  event: "bundle" | "first_svid_from_root";
  /** SHA-256 fingerprints (first 16 hex digits) of the bundle's roots, or of the one root that signed. */
  roots: string[];
}

/** What the watcher prints at the end. */
export interface WatchReport {
  pid: number;
  updates: number;
  samples: number;
  /** SVID checks made (one per SVID held, per update or sample). */
  checks: number;
  /** Leaf changes per SPIFFE ID after the first leaf. */
  rotations: Record<string, number>;
  violations: Violation[];
  /** Violations beyond the first 50, which are not listed. */
  violationsOmitted: number;
  timeline: TimelineEvent[];
  streamErrors: string[];
  /** Maximum leaf validity (notAfter − notBefore) seen per SPIFFE ID, in ms. */
  leafLifetimesMs: Record<string, number>;
  /** FetchJWTSVID calls, distinct tokens received, and the maximum `exp − iat` seen, in seconds. */
  jwt: { fetches: number; distinctTokens: number; maxLifetimeSeconds: number };
}

const MAX_LISTED_VIOLATIONS = 50;

const [socketPath, durationText, sampleText, jwtAudience, jwtIntervalText] = process.argv.slice(2);
if (socketPath === undefined || durationText === undefined || sampleText === undefined) {
  console.error("usage: svid-watcher SOCKET_PATH DURATION_MS SAMPLE_MS [JWT_AUDIENCE JWT_INTERVAL_MS]");
  process.exit(2);
}

const report: WatchReport = {
  pid: process.pid,
  updates: 0,
  samples: 0,
  checks: 0,
  rotations: {},
  violations: [],
  violationsOmitted: 0,
  timeline: [],
  streamErrors: [],
  leafLifetimesMs: {},
  jwt: { fetches: 0, distinctTokens: 0, maxLifetimeSeconds: 0 },
};
const client = new WorkloadApiClient(`unix://${socketPath}`, credentials.createInsecure());
const metadata = new Metadata();
metadata.set("workload.spiffe.io", "true");

interface HeldSvid {
  spiffeId: string;
  chain: X509Certificate[];
  roots: X509Certificate[];
}

let held: HeldSvid[] = [];
let receivedAny = false;
const lastLeafSerial = new Map<string, string>();
const rootsSeenSigning = new Set<string>();
let lastBundleKey = "";
const tokens = new Set<string>();

function fingerprint(certificate: X509Certificate): string {
  return createHash("sha256").update(certificate.raw).digest("hex").slice(0, 16);
}

function record(violation: Omit<Violation, "atMs">): void {
  if (report.violations.length >= MAX_LISTED_VIOLATIONS) {
    report.violationsOmitted++;
    return;
  }
  report.violations.push({ atMs: Date.now(), ...violation });
}

function validAt(certificate: X509Certificate, nowMs: number): "ok" | "expired" | "not_yet_valid" {
  if (nowMs < Date.parse(certificate.validFrom)) return "not_yet_valid";
  // notAfter is inclusive and has whole seconds.
  if (nowMs > Date.parse(certificate.validTo)) return "expired";
  return "ok";
}

/** Returns the root that anchors `chain`, or a reason why none does. */
function findAnchor(chain: X509Certificate[], roots: X509Certificate[], nowMs: number): X509Certificate | string {
  for (let index = 0; index + 1 < chain.length; index++) {
    const child = chain[index] as X509Certificate;
    const parent = chain[index + 1] as X509Certificate;
    if (!child.checkIssued(parent) || !child.verify(parent.publicKey)) return `certificate ${index} is not signed by certificate ${index + 1}`;
    if (validAt(parent, nowMs) !== "ok") return `intermediate ${index + 1} is not valid now`;
  }

  const top = chain[chain.length - 1] as X509Certificate;
  const anchor = roots.find((root) => top.checkIssued(root) && top.verify(root.publicKey));
  if (anchor === undefined) return `no root in the bundle (${roots.length} roots) signed the chain`;
  if (validAt(anchor, nowMs) !== "ok") return `the anchoring root ${fingerprint(anchor)} is not valid now`;
  return anchor;
}

function checkHeld(): void {
  const nowMs = Date.now();
  if (receivedAny && held.length === 0) {
    record({ kind: "no_svids", spiffeId: "", detail: "the last update carried no X.509-SVID" });
  }

  for (const svid of held) {
    report.checks++;
    const leaf = svid.chain[0] as X509Certificate;
    const validity = validAt(leaf, nowMs);
    if (validity !== "ok") {
      record({ kind: validity, spiffeId: svid.spiffeId, detail: `leaf valid from ${leaf.validFrom} to ${leaf.validTo}` });
    }
    if (leaf.subjectAltName !== `URI:${svid.spiffeId}`) {
      record({ kind: "wrong_spiffe_id", spiffeId: svid.spiffeId, detail: `leaf SAN is ${leaf.subjectAltName}` });
    }

    const anchor = findAnchor(svid.chain, svid.roots, nowMs);
    if (typeof anchor === "string") {
      record({ kind: "untrusted_chain", spiffeId: svid.spiffeId, detail: anchor });
    }
  }
}

function onUpdate(response: workload.X509SVIDResponse__Output): void {
  report.updates++;
  receivedAny = true;
  held = response.svids.map((svid) => ({
    spiffeId: svid.spiffe_id,
    chain: splitConcatenatedDer(svid.x509_svid).map((der) => new X509Certificate(der)),
    roots: splitConcatenatedDer(svid.bundle).map((der) => new X509Certificate(der)),
  }));

  const first = held[0];
  if (first !== undefined) {
    const roots = first.roots.map(fingerprint).sort();
    if (roots.join(",") !== lastBundleKey) {
      lastBundleKey = roots.join(",");
      report.timeline.push({ atMs: Date.now(), event: "bundle", roots });
    }
  }

  for (const svid of held) {
    const leaf = svid.chain[0] as X509Certificate;
    const previous = lastLeafSerial.get(svid.spiffeId);
    if (previous !== undefined && previous !== leaf.serialNumber) {
      report.rotations[svid.spiffeId] = (report.rotations[svid.spiffeId] ?? 0) + 1;
    }
    lastLeafSerial.set(svid.spiffeId, leaf.serialNumber);
    const lifetimeMs = Date.parse(leaf.validTo) - Date.parse(leaf.validFrom);
    report.leafLifetimesMs[svid.spiffeId] = Math.max(report.leafLifetimesMs[svid.spiffeId] ?? 0, lifetimeMs);

    const anchor = findAnchor(svid.chain, svid.roots, Date.now());
    if (typeof anchor !== "string" && !rootsSeenSigning.has(fingerprint(anchor))) {
      rootsSeenSigning.add(fingerprint(anchor));
      report.timeline.push({ atMs: Date.now(), event: "first_svid_from_root", roots: [fingerprint(anchor)] });
    }
  }
  checkHeld();
}

let stream: ReturnType<WorkloadApiClient["FetchX509SVID"]> | undefined;
let finished = false;

function openStream(): void {
  stream = client.FetchX509SVID({}, metadata);
  stream.on("data", onUpdate);
  stream.on("error", (error: ServiceError) => {
    if (finished) return;
    // Until the first update, the agent may not have synced the caller's entries yet.
    if (receivedAny) report.streamErrors.push(`${Date.now()}: ${error.code} ${error.details}`);
    setTimeout(openStream, 200);
  });
}

function fetchJwt(audience: string): void {
  client.FetchJWTSVID({ audience: [audience] }, metadata, { deadline: Date.now() + 10_000 }, (error, response) => {
    report.jwt.fetches++;
    const nowMs = Date.now();
    if (error !== null || response === undefined) {
      record({ kind: "jwt_failed", spiffeId: "", detail: error?.details ?? "no response" });
      return;
    }

    for (const svid of response.svids) {
      tokens.add(svid.svid);
      const claims = JSON.parse(Buffer.from(svid.svid.split(".")[1] ?? "", "base64url").toString("utf8")) as {
        exp?: number;
        iat?: number;
        aud?: string | string[];
      };
      if (typeof claims.exp === "number" && typeof claims.iat === "number") {
        report.jwt.maxLifetimeSeconds = Math.max(report.jwt.maxLifetimeSeconds, claims.exp - claims.iat);
      }
      if (typeof claims.exp !== "number" || claims.exp * 1000 <= nowMs) {
        record({ kind: "jwt_expired", spiffeId: svid.spiffe_id, detail: `exp ${claims.exp} at ${nowMs}` });
      }
      const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
      if (!audiences.includes(audience)) {
        record({ kind: "jwt_wrong_audience", spiffeId: svid.spiffe_id, detail: `aud ${JSON.stringify(claims.aud)}` });
      }
    }
  });
}

function finish(): void {
  if (finished) return;
  finished = true;
  stream?.cancel();
  client.close();
  report.jwt.distinctTokens = tokens.size;
  process.stdout.write(`${JSON.stringify(report)}\n`, () => process.exit(0));
}

openStream();
const sampler = setInterval(() => {
  if (!receivedAny) return;
  report.samples++;
  checkHeld();
}, Number(sampleText));

if (jwtAudience !== undefined && jwtIntervalText !== undefined) {
  const audience = jwtAudience;
  setInterval(() => {
    // Before the first X.509 update the agent may not know the caller's entries yet.
    if (receivedAny) fetchJwt(audience);
  }, Number(jwtIntervalText)).unref();
}

setTimeout(() => {
  clearInterval(sampler);
  finish();
}, Number(durationText));
process.on("SIGTERM", finish);
