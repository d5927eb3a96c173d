import type { FlagSpec } from "../../config/flags.js";
import type { agentv1, types } from "../../proto/index.js";
import { connectAdmin } from "./admin-client.js";
import { CliError, runCommand, SOCKET_PATH_FLAG, stringFlag } from "./command.js";
import type { CommandIo } from "./command.js";
import { formatAgent, pluralize } from "./format.js";
import { protoIdFromFlag } from "./id-flag.js";

const LIST_FLAGS: readonly FlagSpec[] = [SOCKET_PATH_FLAG];
const ID_FLAGS: readonly FlagSpec[] = [
  SOCKET_PATH_FLAG,
  { name: "spiffeID", type: "string", usage: "The SPIFFE ID of the agent (its agent ID)" },
];

/** `agent list`: prints every attested agent. */
export function runAgentList(args: string[], io: CommandIo): Promise<number> {
  return runCommand("tessera-server agent list", LIST_FLAGS, args, io, async (flags) => {
    const admin = connectAdmin(stringFlag(flags, "socketPath"));
    try {
      const response = await admin.call<agentv1.ListAgentsResponse__Output>((options, done) =>
        admin.agent.ListAgents({ output_mask: null }, options, done),
      );
      if (response.agents.length === 0) {
        io.out("No attested agents found\n");
        return;
      }
      io.out(`Found ${response.agents.length} attested ${pluralize(response.agents.length, "agent", "agents")}:\n\n`);
      for (const agent of response.agents) io.out(formatAgent(agent, false));
    } finally {
      admin.close();
    }
  });
}

/** `agent show`: prints one agent with its node selectors. */
export function runAgentShow(args: string[], io: CommandIo): Promise<number> {
  return runCommand("tessera-server agent show", ID_FLAGS, args, io, async (flags) => {
    const id = requireAgentId(stringFlag(flags, "spiffeID"));
    const admin = connectAdmin(stringFlag(flags, "socketPath"));
    try {
      const agent = await admin.call<types.Agent__Output>((options, done) => admin.agent.GetAgent({ id }, options, done));
      io.out("Found an attested agent given its SPIFFE ID\n\n");
      io.out(formatAgent(agent, true));
    } finally {
      admin.close();
    }
  });
}

/** `agent ban`: bans an agent, so it can neither call the server nor attest again with its ID. */
export function runAgentBan(args: string[], io: CommandIo): Promise<number> {
  return runCommand("tessera-server agent ban", ID_FLAGS, args, io, async (flags) => {
    const id = requireAgentId(stringFlag(flags, "spiffeID"));
    const admin = connectAdmin(stringFlag(flags, "socketPath"));
    try {
      await admin.call((options, done) => admin.agent.BanAgent({ id }, options, done));
      io.out("Agent banned successfully\n");
    } finally {
      admin.close();
    }
  });
}

/** `agent evict`: deletes an agent's attestation record, so it must attest again. */
export function runAgentEvict(args: string[], io: CommandIo): Promise<number> {
  return runCommand("tessera-server agent evict", ID_FLAGS, args, io, async (flags) => {
    const id = requireAgentId(stringFlag(flags, "spiffeID"));
    const admin = connectAdmin(stringFlag(flags, "socketPath"));
    try {
      await admin.call((options, done) => admin.agent.DeleteAgent({ id }, options, done));
      io.out("Agent evicted successfully\n");
    } finally {
      admin.close();
    }
  });
}

function requireAgentId(text: string): types.SPIFFEID {
  if (text === "") throw new CliError("a SPIFFE ID is required");
  return protoIdFromFlag(text, "-spiffeID");
}
