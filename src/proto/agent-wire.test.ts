import { describe, expect, test } from "vitest";

import { agentService } from "./services.js";
import { bidiStream, methodShapes, unary, wireBytes } from "./test-support.js";

const AGENT_PATH = "/spire.api.server.agent.v1.Agent";

describe("spire.api.server.agent.v1.Agent wire format", () => {
  test("method paths and streaming", () => {
    expect(methodShapes(agentService)).toEqual({
      CountAgents: unary(`${AGENT_PATH}/CountAgents`),
      ListAgents: unary(`${AGENT_PATH}/ListAgents`),
      GetAgent: unary(`${AGENT_PATH}/GetAgent`),
      DeleteAgent: unary(`${AGENT_PATH}/DeleteAgent`),
      BanAgent: unary(`${AGENT_PATH}/BanAgent`),
      AttestAgent: bidiStream(`${AGENT_PATH}/AttestAgent`),
      RenewAgent: unary(`${AGENT_PATH}/RenewAgent`),
      CreateJoinToken: unary(`${AGENT_PATH}/CreateJoinToken`),
      PostStatus: unary(`${AGENT_PATH}/PostStatus`),
    });
  });

  test("AttestAgentRequest params step", () => {
    const encoded = agentService.AttestAgent.requestSerialize({
      params: {
        data: { type: "join_token", payload: Buffer.from("tok") },
        params: { csr: Buffer.from([0xc5]) },
      },
    });

    const data = wireBytes(0x0a, 10, "join_token", 0x12, 3, "tok"); // AttestationData type = 1, payload = 2
    const params = Buffer.concat([
      wireBytes(0x0a, data.length), data, // Params.data = 1
      wireBytes(0x12, 3, 0x0a, 1, 0xc5), // Params.params = 2 { csr = 1 }
    ]);
    expect(encoded).toEqual(Buffer.concat([wireBytes(0x0a, params.length), params])); // oneof step: params = 1

    const decoded = agentService.AttestAgent.requestDeserialize(encoded);
    expect(decoded.step).toBe("params");
    expect(decoded.params?.data?.type).toBe("join_token");
  });

  test("AttestAgentRequest challenge response step", () => {
    const encoded = wireBytes(0x12, 1, 0xaa); // oneof step: challenge_response = 2

    expect(agentService.AttestAgent.requestSerialize({ challenge_response: Buffer.from([0xaa]) })).toEqual(encoded);

    const decoded = agentService.AttestAgent.requestDeserialize(encoded);
    expect(decoded.step).toBe("challenge_response");
    expect(decoded.challenge_response).toEqual(Buffer.from([0xaa]));
    expect(decoded.params).toBeUndefined();
  });

  test("AttestAgentResponse result and challenge", () => {
    const encoded = agentService.AttestAgent.responseSerialize({
      result: {
        svid: {
          cert_chain: [Buffer.from([0x01])],
          id: { trust_domain: "a.test", path: "/x" },
          expires_at: 1_700_000_000,
        },
        reattestable: true,
      },
    });

    const id = wireBytes(0x0a, 6, "a.test", 0x12, 2, "/x");
    const svid = Buffer.concat([
      wireBytes(0x0a, 1, 0x01), // cert_chain = 1
      wireBytes(0x12, id.length), id, // id = 2
      wireBytes(0x18, 0x80, 0xe2, 0xcf, 0xaa, 0x06), // expires_at = 3, varint 1700000000
    ]);
    const result = Buffer.concat([wireBytes(0x0a, svid.length), svid, wireBytes(0x10, 0x01)]); // svid = 1, reattestable = 2
    expect(encoded).toEqual(Buffer.concat([wireBytes(0x0a, result.length), result]));

    const decodedResult = agentService.AttestAgent.responseDeserialize(encoded);
    expect(decodedResult.step).toBe("result");
    expect(decodedResult.result?.svid?.expires_at).toBe(1_700_000_000);

    const challenge = agentService.AttestAgent.responseDeserialize(wireBytes(0x12, 2, 0x01, 0x02));
    expect(challenge.step).toBe("challenge");
    expect(challenge.challenge).toEqual(Buffer.from([0x01, 0x02]));
  });

  test("RenewAgent request and response", () => {
    const request = agentService.RenewAgent.requestSerialize({ params: { csr: Buffer.from([0xc5]) } });
    expect(request).toEqual(wireBytes(0x0a, 3, 0x0a, 1, 0xc5));

    const response = agentService.RenewAgent.responseSerialize({ svid: { hint: "h" } });
    expect(response).toEqual(wireBytes(0x0a, 3, 0x22, 1, "h")); // svid = 1 { hint = 4 }
  });

  test("PostStatusRequest agent version", () => {
    const encoded = agentService.PostStatus.requestSerialize({ current_bundle_serial: 7, agent_version: "1.2.3" });

    expect(encoded).toEqual(wireBytes(0x08, 7, 0x12, 5, "1.2.3"));
    expect(agentService.PostStatus.requestDeserialize(encoded).agent_version).toBe("1.2.3");
  });

  test("CreateJoinToken request and response", () => {
    const request = agentService.CreateJoinToken.requestSerialize({
      ttl: 600,
      agent_id: { trust_domain: "a.test", path: "/x" },
    });
    const agentId = wireBytes(0x0a, 6, "a.test", 0x12, 2, "/x");
    expect(request).toEqual(Buffer.concat([wireBytes(0x08, 0xd8, 0x04, 0x1a, agentId.length), agentId])); // ttl = 1, agent_id = 3

    const response = agentService.CreateJoinToken.responseDeserialize(wireBytes(0x0a, 1, "v", 0x10, 9));
    expect(response.value).toBe("v");
    expect(response.expires_at).toBe(9);
  });

  test("ListAgentsRequest filter", () => {
    const encoded = agentService.ListAgents.requestSerialize({
      filter: { by_can_reattest: { value: true }, by_expires_before: "t" },
      output_mask: { can_reattest: true },
      page_size: 5,
    });

    const filter = wireBytes(0x22, 2, 0x08, 0x01, 0x2a, 1, "t"); // by_can_reattest = 4 (BoolValue), by_expires_before = 5
    expect(encoded).toEqual(
      Buffer.concat([
        wireBytes(0x0a, filter.length), filter, // filter = 1
        wireBytes(0x12, 2, 0x38, 0x01), // output_mask = 2 { can_reattest = 7 }
        wireBytes(0x18, 5), // page_size = 3
      ]),
    );
  });

  test("Agent fields from GetAgent", () => {
    const agent = agentService.GetAgent.responseDeserialize(
      wireBytes(0x12, 4, "x509", 0x1a, 2, "0a", 0x20, 3, 0x2a, 3, 0x0a, 1, "t", 0x30, 1, 0x38, 1),
    );

    expect(agent.attestation_type).toBe("x509");
    expect(agent.x509svid_serial_number).toBe("0a");
    expect(agent.x509svid_expires_at).toBe(3);
    expect(agent.selectors).toEqual([{ type: "t", value: "" }]);
    expect(agent.banned).toBe(true);
    expect(agent.can_reattest).toBe(true);
    expect(agent.id).toBeNull();
  });
});
