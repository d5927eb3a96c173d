import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCsr } from "../../agent/crypto/csr.js";
import { generateEcP256Pkcs8 } from "../../agent/crypto/ec-key.js";
import { AgentClient } from "../../proto/index.js";
import type { agentv1 } from "../../proto/index.js";
import { ensureServerBuild } from "../test-support/ensure-build.js";
import { runCli, startServerProcess } from "../test-support/server-process.js";
import type { ServerProcess } from "../test-support/server-process.js";

/** The CLI against a real `tessera-server run` process, as an operator would use it. */
describe("tessera-server CLI", () => {
  let folder: string;
  let socketPath: string;
  let server: ServerProcess;

  function configText(extra = ""): string {
    return `
      server {
        bind_address = "127.0.0.1"
        bind_port = "0"
        socket_path = "${socketPath}"
        trust_domain = "example.org"
        data_dir = "${join(folder, "data")}"
        ${extra}
      }
      plugins {
        DataStore "sql" { plugin_data { database_type = "sqlite3", connection_string = "${join(folder, "data", "datastore.sqlite3")}" } }
        KeyManager "disk" { plugin_data { keys_path = "${join(folder, "data", "keys.json")}" } }
        NodeAttestor "join_token" { plugin_data {} }
      }
    `;
  }

  beforeAll(async () => {
    ensureServerBuild();
    folder = mkdtempSync(join(tmpdir(), "tessera-server-cli-"));
    socketPath = join(folder, "private", "api.sock");
    writeFileSync(join(folder, "server.conf"), configText());
    server = await startServerProcess(["-config", join(folder, "server.conf")]);
  }, 180_000);

  afterAll(async () => {
    await server?.stop();
    rmSync(folder, { recursive: true, force: true });
  });

  const cli = (...args: string[]) => runCli([...args, "-socketPath", socketPath]);

  async function attest(token: string): Promise<agentv1.AttestAgentResponse__Output> {
    const bundle = await cli("bundle", "show");
    const client = new AgentClient(
      `127.0.0.1:${server.port}`,
      credentials.createSsl(Buffer.from(bundle.stdout), null, null, { checkServerIdentity: () => undefined }),
      { "grpc.ssl_target_name_override": "example.org" },
    );
    try {
      return await new Promise((resolve, reject) => {
        const stream = client.AttestAgent();
        stream.on("data", resolve);
        stream.on("error", reject);
        stream.write({ params: { data: { type: "join_token", payload: Buffer.from(token) }, params: { csr: createCsr(generateEcP256Pkcs8()) } } });
        stream.end();
      });
    } finally {
      client.close();
    }
  }

  it("logs the bound port and creates a private socket", () => {
    expect(server.port).toBeGreaterThan(0);
    expect(server.logs.find((record) => record.msg === "Server APIs listening")).toMatchObject({ address: "127.0.0.1" });
    const mode = execFileSync("stat", ["-c", "%a", socketPath, join(folder, "private")], { encoding: "utf8" }).split("\n");
    expect(mode.slice(0, 2)).toEqual(["600", "700"]);
  });

  it("generates join tokens", async () => {
    const withId = await cli("token", "generate", "-spiffeID", "spiffe://example.org/host/n1", "-ttl", "300");
    const withoutId = await cli("token", "generate");

    expect(withId.code).toBe(0);
    expect(withId.stdout).toMatch(/^Token: [0-9a-f-]{36}\n$/);
    expect(withoutId.stdout).toMatch(/^Token: [0-9a-f-]{36}\nWarning: Missing SPIFFE ID\.\n$/);
  });

  it("rejects a negative token TTL", async () => {
    const result = await cli("token", "generate", "-ttl", "-5");

    expect(result.code).toBe(1);
    expect(result.stderr).toBe("Error: rpc error: code = InvalidArgument desc = invalid TTL -5: the TTL must be a positive number of seconds\n");
  });

  it("creates, shows and deletes entries", async () => {
    const created = await cli(
      "entry", "create",
      "-parentID", "spiffe://example.org/host/n1",
      "-spiffeID", "spiffe://example.org/web",
      "-selector", "unix:uid:1000",
      "-selector", "unix:gid:1000",
      "-dns", "web.example.org",
      "-x509SVIDTTL", "300",
      "-hint", "web",
    );
    const entryId = /Entry ID\s+: (\S+)/.exec(created.stdout)?.[1] ?? "";
    const duplicate = await cli("entry", "create", "-parentID", "spiffe://example.org/host/n1", "-spiffeID", "spiffe://example.org/web", "-selector", "unix:gid:1000", "-selector", "unix:uid:1000");
    const shownById = await cli("entry", "show", "-entryID", entryId);
    const shownBySpiffeId = await cli("entry", "show", "-spiffeID", "spiffe://example.org/web");
    const deleted = await cli("entry", "delete", "-entryID", entryId);
    const afterDelete = await cli("entry", "show", "-entryID", entryId);

    expect(created.code).toBe(0);
    expect(created.stdout).toContain("SPIFFE ID        : spiffe://example.org/web\n");
    expect(created.stdout).toContain("Parent ID        : spiffe://example.org/host/n1\n");
    expect(created.stdout).toContain("X509-SVID TTL    : 300\n");
    expect(created.stdout).toContain("Selector         : unix:gid:1000\nSelector         : unix:uid:1000\n");
    expect(created.stdout).toContain("DNS name         : web.example.org\n");
    expect(duplicate.code).toBe(1);
    expect(duplicate.stdout).toContain('Failed to create the following entry (code: AlreadyExists, msg: "similar entry already exists")');
    expect(shownById.stdout).toMatch(/^Found 1 entry\nEntry ID\s+: /);
    expect(shownBySpiffeId.stdout).toContain(`Entry ID         : ${entryId}\n`);
    expect(deleted.stdout).toBe(`Deleted entry with ID: ${entryId}\n`);
    expect(afterDelete.code).toBe(1);
    expect(afterDelete.stderr).toBe("Error: rpc error: code = NotFound desc = entry not found\n");
  });

  it("creates node alias entries", async () => {
    const created = await cli("entry", "create", "-node", "-spiffeID", "spiffe://example.org/cluster/demo", "-selector", "cluster:demo");

    expect(created.code).toBe(0);
    expect(created.stdout).toContain("Parent ID        : spiffe://example.org/spire/server\n");
  });

  it("rejects incomplete entries before calling the server", async () => {
    const result = await cli("entry", "create", "-spiffeID", "spiffe://example.org/x", "-parentID", "spiffe://example.org/y");

    expect(result.code).toBe(1);
    expect(result.stderr).toBe("Error: at least one selector is required\n");
  });

  it("lists, shows, bans and evicts agents", async () => {
    const empty = await cli("agent", "list");
    const token = /Token: (\S+)/.exec((await cli("token", "generate")).stdout)?.[1] ?? "";
    const attested = await attest(token);
    const agentId = `spiffe://example.org/spire/agent/join_token/${token}`;

    const listed = await cli("agent", "list");
    const shown = await cli("agent", "show", "-spiffeID", agentId);
    const banned = await cli("agent", "ban", "-spiffeID", agentId);
    const listedBanned = await cli("agent", "list");
    const evicted = await cli("agent", "evict", "-spiffeID", agentId);
    const missing = await cli("agent", "show", "-spiffeID", agentId);

    expect(empty.stdout).toBe("No attested agents found\n");
    expect(attested.result?.svid?.id?.path).toBe(`/spire/agent/join_token/${token}`);
    expect(listed.stdout).toMatch(new RegExp(`^Found 1 attested agent:\\n\\nSPIFFE ID         : ${agentId}\\nAttestation type  : join_token\\n`));
    expect(listed.stdout).toMatch(/Serial number     : [0-9]+\n/);
    expect(shown.stdout).toMatch(/^Found an attested agent given its SPIFFE ID\n\n/);
    expect(banned.stdout).toBe("Agent banned successfully\n");
    expect(listedBanned.stdout).toContain("Banned            : true\n");
    expect(evicted.stdout).toBe("Agent evicted successfully\n");
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("code = NotFound desc = agent not found");
  });

  it("shows the bundle as PEM and as a SPIFFE bundle", async () => {
    const pem = await cli("bundle", "show");
    const spiffe = await cli("bundle", "show", "-format", "spiffe");
    const pemFile = join(folder, "bundle.pem");
    writeFileSync(pemFile, pem.stdout);
    const subject = execFileSync("openssl", ["x509", "-in", pemFile, "-noout", "-subject"], { encoding: "utf8" });
    const document = JSON.parse(spiffe.stdout) as { keys: { use: string; kty: string; x5c: string[] }[]; spiffe_sequence: number };

    expect(pem.stdout).toMatch(/^-----BEGIN CERTIFICATE-----\n/);
    expect(subject).toMatch(/O\s*=\s*SPIFFE/);
    expect(document.keys[0]).toMatchObject({ use: "x509-svid", kty: "EC" });
    expect(document.keys[0]?.x5c).toHaveLength(1);
    expect(document.spiffe_sequence).toBeGreaterThan(0);
  });

  it("sets, lists and deletes federated bundles", async () => {
    const keyFile = join(folder, "other.key");
    const pemFile = join(folder, "other.pem");
    execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", keyFile, "-out", pemFile, "-subj", "/O=Other", "-days", "1"], { stdio: "ignore" });

    const set = await cli("bundle", "set", "-id", "spiffe://other.org", "-path", pemFile);
    const listed = await cli("bundle", "list");
    const shownPem = await cli("bundle", "list", "-id", "spiffe://other.org");
    const entry = await cli("entry", "create", "-parentID", "spiffe://example.org/host/n9", "-spiffeID", "spiffe://example.org/fed", "-selector", "unix:uid:9", "-federatesWith", "spiffe://other.org");
    const unknownDomain = await cli("entry", "create", "-parentID", "spiffe://example.org/host/n9", "-spiffeID", "spiffe://example.org/fed2", "-selector", "unix:uid:9", "-federatesWith", "spiffe://nowhere.org");
    const restricted = await cli("bundle", "delete", "-id", "spiffe://other.org");
    const dissociated = await cli("bundle", "delete", "-id", "spiffe://other.org", "-mode", "dissociate");
    const afterDelete = await cli("bundle", "list");
    const entryAfter = await cli("entry", "show", "-spiffeID", "spiffe://example.org/fed");

    expect(set.stdout).toBe("bundle set.\n");
    expect(listed.stdout).toBe(`****************************************\n* other.org\n****************************************\n${readFileSync(pemFile, "utf8")}`);
    expect(shownPem.stdout).toBe(readFileSync(pemFile, "utf8"));
    expect(entry.stdout).toContain("FederatesWith    : other.org\n");
    expect(unknownDomain.code).toBe(1);
    expect(unknownDomain.stdout).toContain('msg: "failed to create entry: unable to find federated bundle "spiffe://nowhere.org""');
    expect(restricted.code).toBe(1);
    expect(restricted.stderr).toBe(
      'Error: failed to delete federated bundle "other.org": failed to delete federated bundle: cannot delete bundle: 1 registration entry federate with "other.org"\n',
    );
    expect(dissociated.stdout).toBe("bundle deleted.\n");
    expect(afterDelete.stdout).toBe("");
    expect(entryAfter.stdout).not.toContain("FederatesWith");
  });

  it("round-trips SPIFFE bundles with JWT authorities", async () => {
    const own = await cli("bundle", "show", "-format", "spiffe");
    const ownDocument = JSON.parse(own.stdout) as { keys: { use: string; kid?: string; crv?: string }[] };
    const spiffeFile = join(folder, "mirror.json");
    writeFileSync(spiffeFile, own.stdout);

    const set = await cli("bundle", "set", "-id", "spiffe://mirror.org", "-path", spiffeFile, "-format", "spiffe");
    const shown = await cli("bundle", "list", "-id", "spiffe://mirror.org", "-format", "spiffe");
    const mirrored = JSON.parse(shown.stdout) as { keys: { use: string; kid?: string }[] };
    await cli("bundle", "delete", "-id", "spiffe://mirror.org");

    const jwtKeys = ownDocument.keys.filter((key) => key.use === "jwt-svid");
    expect(jwtKeys).toHaveLength(1);
    expect(jwtKeys[0]?.kid).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(jwtKeys[0]?.crv).toBe("P-256");
    expect(set.stdout).toBe("bundle set.\n");
    expect(mirrored.keys.map((key) => [key.use, key.kid])).toEqual(ownDocument.keys.map((key) => [key.use, key.kid]));
  });

  it("explains a missing socket", async () => {
    const result = await runCli(["agent", "list", "-socketPath", join(folder, "nothing.sock")]);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`no tessera-server admin socket at ${join(folder, "nothing.sock")}`);
    expect(result.stderr).toContain("-socketPath");
  });

  it("names an unknown configuration key", async () => {
    const config = join(folder, "bad.conf");
    writeFileSync(config, configText('bind_adress = "x"'));

    const result = await runCli(["run", "-config", config]);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain("unknown option server.bind_adress; did you mean bind_address?");
  });

  it("stops on SIGTERM with exit code 0 and removes its socket", async () => {
    const second = join(folder, "second");
    const config = join(folder, "second.conf");
    writeFileSync(config, configText().replaceAll(socketPath, join(second, "api.sock")).replaceAll(join(folder, "data"), join(second, "data")));
    const instance = await startServerProcess(["-config", config]);

    const code = await instance.stop();

    expect(code).toBe(0);
    expect(existsSync(join(second, "api.sock"))).toBe(false);
    expect(instance.logs.at(-1)?.msg).toBe("Server stopped");
  });

  it("keeps its CA and JWT key across restarts", async () => {
    const third = join(folder, "third");
    const config = join(folder, "third.conf");
    writeFileSync(config, configText().replaceAll(socketPath, join(third, "api.sock")).replaceAll(join(folder, "data"), join(third, "data")));
    const bundleOf = async () => (await runCli(["bundle", "show", "-format", "spiffe", "-socketPath", join(third, "api.sock")])).stdout;

    const first = await startServerProcess(["-config", config]);
    const before = await bundleOf();
    await first.stop();
    const second = await startServerProcess(["-config", config]);
    const after = await bundleOf();
    await second.stop();

    expect(before).toContain('"use": "jwt-svid"');
    expect(after).toBe(before);
  });
});
