import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type { debugv1 } from "../../proto/index.js";
import { startTestAdminAgent, TEST_UPTIME_SECONDS } from "../admin/test-admin-agent.js";
import type { TestAdminAgent } from "../admin/test-admin-agent.js";
import { captureIo } from "./cli-test-support.js";
import { formatGetInfoJson, formatGetInfoPretty, formatGoDuration, runDebugCommand, runDebugGetInfo } from "./debug-getinfo.js";

const RESPONSE: debugv1.GetInfoResponse__Output = {
  svid_chain: [
    { id: { trust_domain: "example.org", path: "/spire/agent/foo" }, expires_at: 1705406400, subject: "O=SPIRE,C=US" },
    { id: null, expires_at: 1705492800, subject: "CN=root" },
  ],
  uptime: 42,
  svids_count: 3,
  last_sync_success: 1705319970,
  cached_x509_svids_count: 3,
  cached_jwt_svids_count: 1,
  cached_svidstore_x509_svids_count: 0,
};

describe("formatGetInfoPretty", () => {
  it("prints spire-agent's layout", () => {
    expect(formatGetInfoPretty(RESPONSE)).toBe(
      [
        "Agent Debug Info:",
        "  Uptime:                          42s",
        "  Last Sync Success:               2024-01-15T11:59:30Z",
        "  Cached X.509 SVIDs:              3",
        "  Cached JWT SVIDs:                1",
        "  Cached SVID Store X.509 SVIDs:   0",
        "  SVID Chain:",
        "    [0] SPIFFE ID:  spiffe://example.org/spire/agent/foo",
        "        Subject:    O=SPIRE,C=US",
        "        Expires At: 2024-01-16T12:00:00Z",
        "    [1] SPIFFE ID:  (none)",
        "        Subject:    CN=root",
        "        Expires At: 2024-01-17T12:00:00Z",
        "",
      ].join("\n"),
    );
  });

  it("omits an empty chain", () => {
    expect(formatGetInfoPretty({ ...RESPONSE, svid_chain: [] })).not.toContain("SVID Chain");
  });
});

describe("formatGetInfoJson", () => {
  it("prints protobuf JSON on one line", () => {
    expect(formatGetInfoJson(RESPONSE)).toBe(
      '{"svid_chain":[{"id":{"trust_domain":"example.org","path":"/spire/agent/foo"},"expires_at":"1705406400","subject":"O=SPIRE,C=US"},' +
        '{"id":null,"expires_at":"1705492800","subject":"CN=root"}],"uptime":42,"svids_count":3,"last_sync_success":"1705319970",' +
        '"cached_x509_svids_count":3,"cached_jwt_svids_count":1,"cached_svidstore_x509_svids_count":0}\n',
    );
  });
});

describe("formatGoDuration", () => {
  it.each([
    [0, "0s"],
    [42, "42s"],
    [60, "1m0s"],
    [90, "1m30s"],
    [3600, "1h0m0s"],
    [3723, "1h2m3s"],
    [90061, "25h1m1s"],
  ])("formats %i seconds as %s", (seconds, expected) => {
    expect(formatGoDuration(seconds)).toBe(expected);
  });
});

describe("debug getinfo against an admin endpoint", () => {
  let folder: string;
  let agent: TestAdminAgent;

  beforeAll(async () => {
    folder = mkdtempSync(join(tmpdir(), "tessera-debug-cli-"));
    agent = await startTestAdminAgent(folder);
  });

  afterAll(async () => {
    await agent?.stop();
    rmSync(folder, { recursive: true, force: true });
  });

  it("prints the agent state", async () => {
    const captured = captureIo();

    const exitCode = await runDebugGetInfo(["-socketPath", agent.endpoint.socketPath], captured.io);

    expect(captured.stderr()).toBe("");
    expect(exitCode).toBe(0);
    expect(captured.stdout()).toContain(`  Uptime:                          ${formatGoDuration(TEST_UPTIME_SECONDS)}\n`);
    expect(captured.stdout()).toContain("  Cached X.509 SVIDs:              2\n");
    expect(captured.stdout()).toContain("  Cached JWT SVIDs:                1\n");
    expect(captured.stdout()).toContain("    [0] SPIFFE ID:  spiffe://example.org/spire/agent/join_token/test\n");
    expect(captured.stdout()).toContain("    [2] SPIFFE ID:  spiffe://example.org\n");
  });

  it("dispatches the getinfo verb", async () => {
    const captured = captureIo();

    const exitCode = await runDebugCommand(["getinfo", "-socketPath", agent.endpoint.socketPath, "-output", "json"], captured.io);

    expect(exitCode).toBe(0);
    const json = JSON.parse(captured.stdout()) as Record<string, unknown>;
    expect(json.cached_x509_svids_count).toBe(2);
    expect(json.last_sync_success).toBe(String(agent.lastSync.getTime() / 1000));
  });

  it("fails without an agent", async () => {
    const captured = captureIo();
    const missing = join(folder, "missing.sock");

    const exitCode = await runDebugGetInfo(["-socketPath", missing], captured.io);

    expect(exitCode).toBe(1);
    expect(captured.stdout()).toBe("");
    expect(captured.stderr()).toBe(
      `Error: no agent admin API is listening on ${missing}: set admin_socket_path in the agent configuration and restart it, or pass -socketPath\n`,
    );
  });

  it("rejects an unknown verb", async () => {
    const captured = captureIo();

    expect(await runDebugCommand(["dump"], captured.io)).toBe(1);
    expect(captured.stderr()).toBe('tessera-agent debug: unknown command "dump"; supported: debug getinfo\n');
  });

  it("rejects an unknown output format", async () => {
    const captured = captureIo();

    expect(await runDebugGetInfo(["-output", "yaml"], captured.io)).toBe(1);
    expect(captured.stderr()).toBe('invalid value "yaml" for flag -output: expected pretty or json\n');
  });
});
