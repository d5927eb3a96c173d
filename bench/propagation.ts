import { credentials, Metadata } from "@grpc/grpc-js";
import { WorkloadApiClient } from "../src/proto/index.js";
import type { RunningServer } from "../src/devtools/local-deployment.js";

/** Settings for {@link measurePropagation}. */
export interface PropagationOptions {
  server: RunningServer;
  /** Workload API socket of an agent attested under `parentId`. */
  socketPath: string;
  parentId: string;
  trustDomain: string;
  /** Uid of this process: the new entries select it, so this process receives them. */
  uid: number;
  samples: number;
}

/** Milliseconds per sample: until the streaming client held the SVID, and until `entry create` returned. */
export interface PropagationResult {
  propagationMs: number[];
  entryCreateMs: number[];
}

/**
 * Measures entry-to-workload propagation: the time from starting `tessera-server entry
 * create` for this process's uid until an open FetchX509SVID stream delivers an SVID for
 * the new entry. The floor is the `entry create` command alone, the part outside the agent.
 *
 * The agent learns of new entries at its next sync, so the result depends on its
 * `sync_interval` (5 s by default, as in SPIRE).
 */
export async function measurePropagation(options: PropagationOptions): Promise<PropagationResult> {
  const client = new WorkloadApiClient(`unix://${options.socketPath}`, credentials.createInsecure());
  const metadata = new Metadata();
  metadata.set("workload.spiffe.io", "true");

  let heldSpiffeIds = new Set<string>();
  let onUpdate: (() => void) | undefined;
  const stream = client.FetchX509SVID({}, metadata);
  stream.on("data", (response: { svids: { spiffe_id: string }[] }) => {
    heldSpiffeIds = new Set(response.svids.map((svid) => svid.spiffe_id));
    onUpdate?.();
  });
  stream.on("error", () => {
    // Cancelled by us at the end; any other failure shows up as a sample that never completes.
  });

  const result: PropagationResult = { propagationMs: [], entryCreateMs: [] };
  try {
    for (let sample = 0; sample < options.samples; sample++) {
      const spiffeId = `spiffe://${options.trustDomain}/bench/propagation/${sample}`;
      const arrived = new Promise<void>((resolve) => {
        onUpdate = () => {
          if (heldSpiffeIds.has(spiffeId)) resolve();
        };
      });

      const started = performance.now();
      await options.server.cli(["entry", "create", "-parentID", options.parentId, "-spiffeID", spiffeId, "-selector", `unix:uid:${options.uid}`]);
      result.entryCreateMs.push(performance.now() - started);

      await arrived;
      result.propagationMs.push(performance.now() - started);
    }
  } finally {
    stream.cancel();
    client.close();
  }
  return result;
}
