import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials } from "@grpc/grpc-js";
import type { ChannelCredentials, Client, ServiceError } from "@grpc/grpc-js";
import { createCsr } from "../../agent/crypto/csr.js";
import { generateEcP256Pkcs8, pkcs8ToPem } from "../../agent/crypto/ec-key.js";
import { createLogger } from "../../common/log.js";
import { AgentClient, BundleClient, EntryClient, SvidClient } from "../../proto/index.js";
import type { agentv1, entryv1, types } from "../../proto/index.js";
import { certificatesToPem } from "../../spiffe/bundle.js";
import { SERVER_DEFAULTS } from "../config/server-config.js";
import type { ServerConfig } from "../config/server-config.js";
import { openDatastore } from "../datastore/datastore.js";
import type { Datastore } from "../datastore/datastore.js";
import { startServer } from "../server.js";
import type { RunningServer } from "../server.js";

/** An attested test agent: its SPIFFE ID, SVID chain and key. */
export interface TestAgent {
  agentId: string;
  chain: Buffer[];
  keyPkcs8: Buffer;
}

/** The entry fields tests set; IDs are SPIFFE ID strings. */
export interface EntryFields {
  spiffeId: string;
  parentId: string;
  selectors?: { type: string; value: string }[];
  x509SvidTtl?: number;
  jwtSvidTtl?: number;
  dnsNames?: string[];
  hint?: string;
  federatesWith?: string[];
}

/** Converts a SPIFFE ID string to the API's `{trust_domain, path}` form. */
export function protoId(id: string): types.SPIFFEID {
  const url = new URL(id);
  return { trust_domain: url.host, path: url.pathname === "/" ? "" : url.pathname };
}

/** A tessera-server started in this process on a free port, with clients for tests. */
export interface TestServer {
  server: RunningServer;
  config: ServerConfig;
  folder: string;
  /** A second connection to the server's SQLite file, for arranging and checking state. */
  datastore: Datastore;
  admin: { agent: AgentClient; entry: EntryClient; bundle: BundleClient };
  /** Fetches the bundle as PEM over the admin socket. */
  bundlePem(): Promise<string>;
  /** Creates a join token over the admin API. */
  createJoinToken(options?: { ttl?: number; token?: string; agentId?: string }): Promise<string>;
  /** Creates an entry over the admin API and returns its ID; `selectors` default to one unix selector. */
  createEntry(fields: EntryFields): Promise<string>;
  /** Attests over TLS without a client certificate, as an agent does. */
  attest(token: string, csr?: Buffer): Promise<TestAgent>;
  /** Clients that authenticate with the agent's SVID. */
  agentClients(agent: TestAgent): Promise<{ agent: AgentClient; svid: SvidClient; entry: EntryClient; bundle: BundleClient }>;
  /** Clients without a client certificate. */
  anonymousClients(): Promise<{ agent: AgentClient; entry: EntryClient; bundle: BundleClient }>;
  stop(): Promise<void>;
}

const logger = createLogger({ name: "tessera-server-test", level: process.env.TESSERA_TEST_LOG_LEVEL ?? "silent" });

/** Starts a server in a new temporary folder; `overrides` change the configuration. */
export async function startTestServer(overrides: Partial<ServerConfig> = {}): Promise<TestServer> {
  const folder = mkdtempSync(join(tmpdir(), "tessera-server-"));
  const config: ServerConfig = {
    trustDomain: "example.org",
    bindAddress: "127.0.0.1",
    bindPort: 0,
    socketPath: join(folder, "private", "api.sock"),
    dataDir: join(folder, "data"),
    logLevel: "INFO",
    logFormat: "json",
    logFile: undefined,
    caTtlSeconds: SERVER_DEFAULTS.caTtlSeconds,
    caSubject: { country: ["US"], organization: ["SPIFFE"], commonName: "" },
    defaultX509SvidTtlSeconds: 3600,
    defaultJwtSvidTtlSeconds: 300,
    agentTtlSeconds: 3600,
    databasePath: join(folder, "data", "datastore.sqlite3"),
    keyManager: { kind: "disk", keysPath: join(folder, "data", "keys.json") },
    entryPageSize: 500,
    ...overrides,
  };

  const server = await startServer(config, logger);
  const datastore = openDatastore(config.databasePath);
  const clients: Client[] = [];
  const track = <T extends Client>(client: T): T => {
    clients.push(client);
    return client;
  };

  const adminTarget = `unix:${config.socketPath}`;
  const admin = {
    agent: track(new AgentClient(adminTarget, credentials.createInsecure())),
    entry: track(new EntryClient(adminTarget, credentials.createInsecure())),
    bundle: track(new BundleClient(adminTarget, credentials.createInsecure())),
  };

  async function bundlePem(): Promise<string> {
    const bundle = await call<types.Bundle__Output>((done) => admin.bundle.GetBundle({}, done));
    return certificatesToPem(bundle.x509_authorities.map((authority) => authority.asn1));
  }

  async function tlsCredentials(agent?: TestAgent): Promise<ChannelCredentials> {
    const root = Buffer.from(await bundlePem());
    // The server SVID has only a URI SAN; trusting the bundle root replaces host name checks.
    const options = { checkServerIdentity: () => undefined };
    if (agent === undefined) return credentials.createSsl(root, null, null, options);
    return credentials.createSsl(root, Buffer.from(pkcs8ToPem(agent.keyPkcs8)), Buffer.from(certificatesToPem(agent.chain)), options);
  }

  const target = `127.0.0.1:${server.port}`;
  const channelOptions = { "grpc.ssl_target_name_override": "example.org" };

  return {
    server,
    config,
    folder,
    datastore,
    admin,
    bundlePem,

    async createJoinToken(options = {}) {
      const request: agentv1.CreateJoinTokenRequest = { ttl: options.ttl ?? 600, token: options.token ?? "" };
      if (options.agentId !== undefined) request.agent_id = protoId(options.agentId);
      const token = await call<types.JoinToken__Output>((done) => admin.agent.CreateJoinToken(request, done));
      return token.value;
    },

    async createEntry(fields) {
      const entry: types.Entry = {
        spiffe_id: protoId(fields.spiffeId),
        parent_id: protoId(fields.parentId),
        selectors: fields.selectors ?? [{ type: "unix", value: "uid:1000" }],
        x509_svid_ttl: fields.x509SvidTtl ?? 0,
        jwt_svid_ttl: fields.jwtSvidTtl ?? 0,
        dns_names: fields.dnsNames ?? [],
        hint: fields.hint ?? "",
        federates_with: fields.federatesWith ?? [],
      };
      const response = await call<entryv1.BatchCreateEntryResponse__Output>((done) =>
        admin.entry.BatchCreateEntry({ entries: [entry] }, done),
      );
      const result = response.results[0];
      if (result?.status?.code !== 0 || result.entry === null) {
        throw new Error(`failed to create entry ${fields.spiffeId}: ${result?.status?.message ?? "no result"}`);
      }
      return result.entry.id;
    },

    async attest(token, csr) {
      const keyPkcs8 = generateEcP256Pkcs8();
      const client = track(new AgentClient(target, await tlsCredentials(), channelOptions));
      const response = await new Promise<agentv1.AttestAgentResponse__Output>((resolve, reject) => {
        const stream = client.AttestAgent();
        stream.on("data", (message: agentv1.AttestAgentResponse__Output) => resolve(message));
        stream.on("error", reject);
        stream.write({
          params: {
            data: { type: "join_token", payload: Buffer.from(token) },
            params: { csr: csr ?? createCsr(keyPkcs8) },
          },
        });
        stream.end();
      });
      const svid = response.result?.svid;
      if (svid === null || svid === undefined) throw new Error("attestation returned no SVID");
      return { agentId: `spiffe://${svid.id?.trust_domain}${svid.id?.path}`, chain: svid.cert_chain, keyPkcs8 };
    },

    async agentClients(agent) {
      const channelCredentials = await tlsCredentials(agent);
      return {
        agent: track(new AgentClient(target, channelCredentials, channelOptions)),
        svid: track(new SvidClient(target, channelCredentials, channelOptions)),
        entry: track(new EntryClient(target, channelCredentials, channelOptions)),
        bundle: track(new BundleClient(target, channelCredentials, channelOptions)),
      };
    },

    async anonymousClients() {
      const channelCredentials = await tlsCredentials();
      return {
        agent: track(new AgentClient(target, channelCredentials, channelOptions)),
        entry: track(new EntryClient(target, channelCredentials, channelOptions)),
        bundle: track(new BundleClient(target, channelCredentials, channelOptions)),
      };
    },

    async stop() {
      for (const client of clients) client.close();
      datastore.close();
      await server.stop();
      rmSync(folder, { recursive: true, force: true });
    },
  };
}

/** Turns a callback-style unary call into a promise. */
export function call<T>(start: (done: (error: ServiceError | null, value?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    start((error, value) => (error ? reject(error) : resolve(value as T)));
  });
}

/** Runs a unary call expected to fail and returns its error. */
export async function callError(start: (done: (error: ServiceError | null, value?: unknown) => void) => void): Promise<ServiceError> {
  try {
    await call(start);
  } catch (error) {
    return error as ServiceError;
  }
  throw new Error("the call succeeded but was expected to fail");
}
