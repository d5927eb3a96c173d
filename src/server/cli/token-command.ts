import type { types } from "../../proto/index.js";
import { connectAdmin } from "./admin-client.js";
import { runCommand, SOCKET_PATH_FLAG, stringFlag } from "./command.js";
import type { CommandIo } from "./command.js";
import { protoIdFromFlag } from "./id-flag.js";

const FLAGS = [
  SOCKET_PATH_FLAG,
  { name: "spiffeID", type: "string", usage: "Additional SPIFFE ID to assign the token owner (optional)" },
  { name: "ttl", type: "int", usage: "Token TTL in seconds", default: 600 },
] as const;

/**
 * `token generate`: creates a join token and prints `Token: <value>`. With `-spiffeID` the
 * server also creates an entry giving the attested agent that extra identity; without it
 * the command warns, as spire-server does.
 */
export function runTokenGenerate(args: string[], io: CommandIo): Promise<number> {
  return runCommand("tessera-server token generate", FLAGS, args, io, async (flags) => {
    const spiffeId = stringFlag(flags, "spiffeID");
    const request = {
      ttl: flags.values.ttl as number,
      ...(spiffeId === "" ? {} : { agent_id: protoIdFromFlag(spiffeId, "-spiffeID") }),
    };

    const admin = connectAdmin(stringFlag(flags, "socketPath"));
    try {
      const token = await admin.call<types.JoinToken__Output>((options, done) => admin.agent.CreateJoinToken(request, options, done));
      io.out(`Token: ${token.value}\n`);
      if (spiffeId === "") io.out("Warning: Missing SPIFFE ID.\n");
    } finally {
      admin.close();
    }
  });
}
