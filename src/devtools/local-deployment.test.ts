/**
 * startAgent kills the agent it spawned when the agent does not become healthy in time.
 * Runs the compiled agent from dist/, so `npm run build` must have run.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterEach, describe, expect, it } from "vitest";

import { freePort, startAgent } from "./local-deployment.js";

/** Returns the pids of the processes whose command line contains `text`. */
function pidsWithArgument(text: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, "utf8").includes(text)) pids.push(Number(name));
    } catch {
      // The process ended while the folder was read.
    }
  }
  return pids;
}

describe("startAgent", () => {
  const folders: string[] = [];
  afterEach(() => {
    for (const folder of folders.splice(0)) {
      // A leftover agent from a failing run must not outlive the test.
      for (const pid of pidsWithArgument(folder)) process.kill(pid, "SIGKILL");
      rmSync(folder, { recursive: true, force: true });
    }
  });

  it("kills an agent that never becomes healthy", async () => {
    const folder = mkdtempSync(join(tmpdir(), "tessera-local-deployment-"));
    folders.push(folder);
    const bundlePath = join(folder, "bundle.pem");
    execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=unused bundle"]
      .concat(["-keyout", join(folder, "bundle.key"), "-out", bundlePath, "-days", "1"]), { stdio: "ignore" });

    // Nothing listens on the server port, so node attestation keeps failing and the
    // Workload API never opens.
    const starting = startAgent({
      folder,
      trustDomain: "devtools.tessera.test",
      serverPort: await freePort(),
      trustBundlePath: bundlePath,
      joinToken: "unused-token",
      startTimeoutMs: 2_000,
    });
    const configPath = join(folder, "agent", "agent.conf");
    let seenRunning = false;
    const watch = setInterval(() => {
      seenRunning ||= pidsWithArgument(configPath).length > 0;
    }, 100);

    await expect(starting).rejects.toThrow(/did not become healthy within 2000 ms/);
    clearInterval(watch);

    expect(seenRunning).toBe(true);
    expect(pidsWithArgument(configPath)).toEqual([]);
  });
});
