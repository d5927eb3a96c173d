import { createJoinTokenAttestor } from "../../../plugins/nodeattestor/join-token.js";
import type { NodeAttestor } from "../../../plugins/nodeattestor/node-attestor.js";
import { createX509popAttestor } from "../../../plugins/nodeattestor/x509pop/x509pop-agent.js";
import type { AgentConfig } from "../config/agent-config.js";

/**
 * Creates the NodeAttestor the agent attests with. A join token (from the configuration
 * or -joinToken) selects join_token whatever NodeAttestor is configured, as in SPIRE.
 */
export function createNodeAttestor(config: Pick<AgentConfig, "joinToken" | "nodeAttestor">): NodeAttestor {
  if (config.joinToken === undefined && config.nodeAttestor.name === "x509pop") {
    return createX509popAttestor(config.nodeAttestor.x509pop);
  }
  return createJoinTokenAttestor(config.joinToken);
}
