import { randomUUID } from "node:crypto";
import { status } from "@grpc/grpc-js";
import type { ServerDuplexStream } from "@grpc/grpc-js";
import { agentIdForJoinToken, serverSpiffeId } from "../../spiffe/trust-domain.js";
import type { NodeAttestationResult, ServerNodeAttestor } from "../../../plugins/nodeattestor/server-node-attestor.js";
import { NodeAttestationError } from "../../../plugins/nodeattestor/server-node-attestor.js";
import { createX509popServerAttestor } from "../../../plugins/nodeattestor/x509pop/x509pop-server.js";
import type { AgentHandlers, agentv1 } from "../../proto/index.js";
import type { CallAuthorizer } from "../authorization/call-authorizer.js";
import { parseAndVerifyCsr } from "../ca/csr.js";
import { serialNumberToDecimal } from "../ca/serial-number.js";
import { EntryIdTakenError } from "../datastore/entry-store.js";
import { JoinTokenTakenError } from "../datastore/join-token-store.js";
import { NodeNotFoundError } from "../datastore/node-store.js";
import { newRegistrationEntry } from "../datastore/types.js";
import { permissionDenied, rpcError } from "../endpoints/rpc-error.js";
import { invalidArgument, toRpcError, unary, validating } from "./handler.js";
import { paginate } from "./pagination.js";
import { createStreamReader, writeMessage } from "./stream-reader.js";
import type { StreamReader } from "./stream-reader.js";
import {
  agentToProto,
  applyAgentMask,
  idFromProto,
  idToProto,
  requireMember,
  requireWorkloadId,
  selectorMatchFromProto,
  selectorsFromProto,
} from "./proto-convert.js";
import { selectorSetMatches } from "../../spiffe/selector.js";
import type { ServerContext } from "./server-context.js";
import type { types } from "../../proto/index.js";

type AttestStream = ServerDuplexStream<agentv1.AttestAgentRequest__Output, agentv1.AttestAgentResponse>;

/** Maximum length of the version string an agent reports with PostStatus, as in SPIRE. */
const MAX_AGENT_VERSION_LENGTH = 255;

/**
 * Implements `spire.api.server.agent.v1.Agent`: node attestation (join tokens and the
 * configured NodeAttestor plugins, such as x509pop, with their challenges), agent SVID renewal,
 * join token creation and agent administration (list, show, ban, evict).
 */
export function createAgentService(context: ServerContext, authorizer: CallAuthorizer): AgentHandlers {
  const log = context.logger.child({ subsystem: "agent_api" });
  const { datastore, trustDomain } = context;
  const nodeAttestors = createNodeAttestors(context);

  async function signAgentSvid(agentId: string, csr: Buffer): Promise<{ svid: types.X509SVID__Output; serialNumber: string }> {
    const { publicKey } = await parseAndVerifyCsr(csr).catch((error: unknown) =>
      invalidArgument((error as Error).message),
    );
    const chain = await context.ca.signX509Svid({ spiffeId: agentId, publicKey, ttlSeconds: context.agentTtlSeconds });
    const leaf = chain[0];
    if (leaf === undefined) throw rpcError(status.INTERNAL, "failed to sign X509 SVID: empty chain");
    const svid = {
      cert_chain: chain.map((certificate) => Buffer.from(certificate.rawData)),
      id: idToProto(agentId),
      expires_at: Math.floor(leaf.notAfter.getTime() / 1000),
      hint: "",
    };
    return { svid, serialNumber: serialNumberToDecimal(leaf.serialNumber) };
  }

  function attestJoinToken(token: string): string {
    const stored = datastore.joinTokens.take(token);
    if (stored === undefined) {
      invalidArgument("failed to attest: join token does not exist or has already been used");
    }
    if (stored.expiresAt * 1000 < context.now().getTime()) {
      invalidArgument("join token expired");
    }
    try {
      return agentIdForJoinToken(trustDomain, token);
    } catch (error) {
      throw rpcError(status.INTERNAL, `failed to create join token ID: ${(error as Error).message}`);
    }
  }

  /** Checks the first AttestAgent request and returns its attestation data and CSR. */
  function readAttestParams(request: agentv1.AttestAgentRequest__Output): { type: string; payload: Buffer; csr: Buffer } {
    const params = request.params;
    const problem =
      params === null || params === undefined
        ? "missing params"
        : params.data === null
          ? "missing attestation data"
          : params.params === null
            ? "missing X509-SVID parameters"
            : params.params.csr.length === 0
              ? "missing CSR"
              : params.data.type === ""
                ? "missing attestation data type"
                : params.data.payload.length === 0
                  ? "missing attestation data payload"
                  : undefined;
    if (problem !== undefined || params === null || params === undefined || params.data === null || params.params === null) {
      invalidArgument(`malformed param: ${problem ?? "missing params"}`);
    }
    return { type: params.data.type, payload: params.data.payload, csr: params.params.csr };
  }

  /**
   * Runs a NodeAttestor plugin: each challenge it issues goes to the agent, whose next
   * request must carry the response. Plugin failures keep the gRPC code the plugin chose.
   */
  async function attestWithPlugin(
    call: AttestStream,
    reader: StreamReader<agentv1.AttestAgentRequest__Output>,
    type: string,
    payload: Buffer,
  ): Promise<NodeAttestationResult> {
    const attestor = nodeAttestors.get(type);
    if (attestor === undefined) {
      throw rpcError(status.FAILED_PRECONDITION, `error getting node attestor: could not find node attestor type "${type}"`);
    }

    try {
      return await attestor.attest(payload, async (challenge) => {
        await writeMessage(call, { challenge });
        const next = await reader.next();
        if (next === undefined) {
          throw rpcError(status.INVALID_ARGUMENT, "failed to receive challenge response: the stream ended");
        }
        const response = next.step === "challenge_response" ? next.challenge_response : undefined;
        if (response === undefined || response.length === 0) {
          throw rpcError(status.INVALID_ARGUMENT, "missing challenge response");
        }
        return response;
      });
    } catch (error) {
      if (error instanceof NodeAttestationError) {
        throw rpcError(error.code, `failed to attest: ${error.message}`);
      }
      throw error;
    }
  }

  async function attest(call: AttestStream): Promise<void> {
    const reader = createStreamReader<agentv1.AttestAgentRequest__Output>(call);
    const request = await reader.next();
    if (request === undefined) {
      invalidArgument("failed to receive request from stream: the stream ended without a request");
    }

    const params = readAttestParams(request);
    const attestationType = params.type;
    const result: NodeAttestationResult =
      attestationType === "join_token"
        ? { agentId: attestJoinToken(params.payload.toString("utf8")), selectors: [], canReattest: false }
        : await attestWithPlugin(call, reader, attestationType, params.payload);
    const agentId = result.agentId;
    if (agentId === serverSpiffeId(trustDomain)) {
      throw rpcError(status.INTERNAL, "agent ID cannot collide with the server ID");
    }

    const existing = datastore.nodes.get(agentId);
    if (existing !== undefined && existing.certSerialNumber === "") {
      throw rpcError(status.PERMISSION_DENIED, "failed to attest: agent is banned");
    }

    const { svid, serialNumber } = await signAgentSvid(agentId, params.csr);
    datastore.nodes.recordAttestation(
      {
        spiffeId: agentId,
        attestationType,
        certSerialNumber: serialNumber,
        certNotAfter: svid.expires_at,
        newCertSerialNumber: "",
        newCertNotAfter: 0,
        canReattest: result.canReattest,
        agentVersion: "",
      },
      result.selectors,
    );

    log.info(
      { agent_id: agentId, node_attestor_type: attestationType, reattested: existing !== undefined, address: call.getPeer() },
      "Agent attestation request completed",
    );
    await writeMessage(call, { result: { svid, reattestable: result.canReattest } });
    call.end();
  }

  return {
    AttestAgent(call: AttestStream) {
      call.on("error", () => undefined);
      attest(call).catch((error: unknown) => {
        call.emit("error", toRpcError(log, "AttestAgent", error));
      });
    },

    RenewAgent: unary(log, "RenewAgent", async (call) => {
      const agentId = authorizer.agent(call);
      const node = datastore.nodes.get(agentId);
      if (node === undefined) throw rpcError(status.NOT_FOUND, "agent not found");
      if (node.canReattest) {
        throw permissionDenied("AGENT_MUST_REATTEST", "agent must reattest instead of renew");
      }

      log.info({ agent_id: agentId }, "Renewing agent SVID");
      const params = call.request.params;
      if (params === null) invalidArgument("params cannot be nil");
      if (params.csr.length === 0) invalidArgument("missing CSR");

      const { svid, serialNumber } = await signAgentSvid(agentId, params.csr);
      datastore.nodes.setNewCertificate(agentId, serialNumber, svid.expires_at);
      return { svid };
    }),

    PostStatus: unary(log, "PostStatus", (call) => {
      const agentId = authorizer.agent(call);
      const version = call.request.agent_version;
      if (version.length > MAX_AGENT_VERSION_LENGTH) {
        invalidArgument(`agent version is too long (max ${MAX_AGENT_VERSION_LENGTH} characters)`);
      }
      if (version !== "") datastore.nodes.setAgentVersion(agentId, version);
      return {};
    }),

    CreateJoinToken: unary(log, "CreateJoinToken", (call) => {
      authorizer.admin(call);
      const request = call.request;
      if (request.ttl < 1) invalidArgument(`invalid TTL ${request.ttl}: the TTL must be a positive number of seconds`);

      let agentId: string | undefined;
      if (request.agent_id !== null) {
        agentId = validatingAgentId(() => {
          const id = idFromProto(request.agent_id, "agent ID");
          requireWorkloadId(id, trustDomain, "agent ID");
          return id;
        });
      }

      const token = request.token === "" ? randomUUID() : request.token;
      const joinTokenAgentId = validating("invalid token", () => agentIdForJoinToken(trustDomain, token));
      const expiresAt = Math.floor(context.now().getTime() / 1000) + request.ttl;

      try {
        datastore.transaction(() => {
          datastore.joinTokens.create({ token, expiresAt });
          if (agentId !== undefined) {
            datastore.entries.createOrReturn(
              newRegistrationEntry({
                spiffeId: agentId,
                parentId: joinTokenAgentId,
                selectors: [{ type: "spiffe_id", value: joinTokenAgentId }],
              }),
              context.now(),
            );
          }
        });
      } catch (error) {
        if (error instanceof JoinTokenTakenError) throw rpcError(status.ALREADY_EXISTS, error.message);
        if (error instanceof EntryIdTakenError) throw rpcError(status.ALREADY_EXISTS, error.message);
        throw rpcError(status.INTERNAL, `failed to create token: ${(error as Error).message}`);
      }

      log.info({ spiffe_id: agentId, expires_at: expiresAt }, "Join token created");
      return { value: token, expires_at: expiresAt };
    }),

    ListAgents: unary(log, "ListAgents", (call) => {
      authorizer.admin(call);
      const { filter, output_mask: mask, page_size: pageSize, page_token: pageToken } = call.request;

      let nodes = datastore.nodes.list();
      if (filter !== null) {
        const selectorMatch = filter.by_selector_match;
        const wanted = selectorMatch === null ? [] : validating("failed to parse selectors", () => selectorsFromProto(selectorMatch.selectors));
        nodes = nodes.filter((node) => {
          if (filter.by_attestation_type !== "" && node.attestationType !== filter.by_attestation_type) return false;
          if (filter.by_banned !== null && node.banned !== filter.by_banned.value) return false;
          if (filter.by_can_reattest !== null && node.canReattest !== filter.by_can_reattest.value) return false;
          if (selectorMatch !== null) {
            return selectorSetMatches(node.selectors, wanted, selectorMatchFromProto(selectorMatch.match));
          }
          return true;
        });
      }

      const page = validating("invalid request", () => paginate(nodes, pageSize, pageToken));
      return {
        agents: page.items.map((node) => applyAgentMask(agentToProto(node), mask)),
        next_page_token: page.nextPageToken,
      };
    }),

    CountAgents: unary(log, "CountAgents", (call) => {
      authorizer.admin(call);
      return { count: datastore.nodes.list().length };
    }),

    GetAgent: unary(log, "GetAgent", (call) => {
      authorizer.admin(call);
      const agentId = requireAgentId(call.request.id);
      const node = datastore.nodes.getWithSelectors(agentId);
      if (node === undefined) throw rpcError(status.NOT_FOUND, "agent not found");
      return applyAgentMask(agentToProto(node), call.request.output_mask);
    }),

    BanAgent: unary(log, "BanAgent", (call) => {
      authorizer.admin(call);
      const agentId = requireAgentId(call.request.id);
      try {
        datastore.nodes.ban(agentId);
      } catch (error) {
        if (error instanceof NodeNotFoundError) throw rpcError(status.NOT_FOUND, "agent not found");
        throw error;
      }
      log.info({ spiffe_id: agentId }, "Agent banned");
      return {};
    }),

    DeleteAgent: unary(log, "DeleteAgent", (call) => {
      authorizer.admin(call);
      const agentId = requireAgentId(call.request.id);
      try {
        datastore.nodes.delete(agentId);
      } catch (error) {
        if (error instanceof NodeNotFoundError) throw rpcError(status.NOT_FOUND, "agent not found");
        throw error;
      }
      log.info({ spiffe_id: agentId }, "Agent deleted");
      return {};
    }),
  };

  function requireAgentId(id: types.SPIFFEID__Output | null): string {
    return validatingAgentId(() => {
      const agentId = idFromProto(id, "agent ID");
      requireMember(agentId, trustDomain, "agent ID");
      if (!agentId.startsWith(`spiffe://${trustDomain}/spire/agent/`)) {
        throw new Error(`invalid agent ID: "${agentId}" is not in the agent namespace "/spire/agent/"`);
      }
      return agentId;
    });
  }
}

/** Creates the configured NodeAttestor plugins by name. join_token needs none, because AttestAgent handles it. */
function createNodeAttestors(context: ServerContext): Map<string, ServerNodeAttestor> {
  const attestors = new Map<string, ServerNodeAttestor>();
  const x509pop = context.nodeAttestors?.x509pop;
  if (x509pop !== undefined) {
    attestors.set("x509pop", createX509popServerAttestor(x509pop, context.trustDomain, context.now));
  }
  return attestors;
}

/**
 * Runs the agent ID checks in `work` and returns INVALID_ARGUMENT with the error message
 * unchanged: unlike `validating`, it adds no prefix, because the checks in proto-convert
 * already start their messages with "invalid agent ID".
 */
function validatingAgentId<T>(work: () => T): T {
  try {
    return work();
  } catch (error) {
    invalidArgument((error as Error).message);
  }
}
